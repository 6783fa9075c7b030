"""Serverless entry point: `app` for Vercel, `handler` for AWS Lambda.

Vercel serves `app`, the variable pyproject.toml's `[tool.vercel] entrypoint` names. Lambda
calls `handler` (handler setting `api/index.handler`). Mangum's lifespan is off because it
would start and stop the app around every single invocation; the app creates its database
engine on first use instead.
"""

from mangum import Mangum

from app.main import app

handler = Mangum(app, lifespan="off")

__all__ = ["app", "handler"]
