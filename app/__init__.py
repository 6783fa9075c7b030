"""A FastAPI service that runs unchanged under uvicorn, Gunicorn on Render, Vercel and Lambda."""

__version__ = "0.1.0"
