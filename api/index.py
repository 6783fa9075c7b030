"""Serverless entry point: Vercel serves `app` from this file."""

from app.main import app

__all__ = ["app"]
