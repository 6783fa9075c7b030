"""Serverless entry point: `app` for Vercel, `handler` for AWS Lambda.

Vercel serves `app`, the variable pyproject.toml's `[tool.vercel] entrypoint` names. Lambda
calls `handler` (handler setting `api/index.handler`). Mangum's lifespan is off because it
would start and stop the app around every single invocation; the app creates its database
engine on first use instead. Besides API Gateway's and function URLs' HTTP events, the handler
takes the events `lambda_handlers()` lists (an EventBridge schedule drains the job queue).

Mangum is imported by the first invocation, not here: Vercel imports this module too, and
has no use for it (a few tens of milliseconds of every cold start).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from app.main import app, lambda_handlers

if TYPE_CHECKING:
    from mangum import Mangum


def handler(event: Any, context: Any) -> dict[str, Any]:
    """AWS Lambda's entry point: the API Gateway, function URL or ALB event, served by `app`."""
    return _mangum()(event, context)


@cache
def _mangum() -> Mangum:
    from mangum import Mangum

    return Mangum(app, lifespan="off", custom_handlers=lambda_handlers())


__all__ = ["app", "handler"]
