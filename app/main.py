"""The application factory, and the module-level `app` that servers import.

uvicorn app.main:app            gunicorn -c gunicorn.conf.py app.main:app
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__
from app.api_keys import KeyVerifier
from app.database import Database
from app.errors import error_responses, register_error_handlers
from app.http_client import HTTPClient
from app.logging_setup import configure_logging
from app.middleware import middleware_stack
from app.rate_limit import RateLimiter, create_rate_limiter
from app.routers import health, items
from app.settings import Environment, Settings

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    database: Database = app.state.database
    # str(settings.database) hides the password.
    logger.info("starting: environment %s, database %s", settings.environment, settings.database)
    rate_limiter: RateLimiter = app.state.rate_limiter
    if settings.environment is Environment.DEVELOPMENT and settings.database.is_sqlite:
        # The embedded development database is migrated on start so a fresh clone runs with
        # one command. Anywhere else migrations are a deploy step, never a start-up side effect.
        from app.migrate import upgrade_to_head

        await upgrade_to_head(settings)
    database.engine  # noqa: B018 - create the engine here rather than on the first request
    try:
        yield
    finally:
        await app.state.http.aclose()
        await rate_limiter.close()
        await database.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings)
    docs = settings.docs_enabled
    app = FastAPI(
        title="FastAPI service template",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        middleware=middleware_stack(settings),
        # Any operation can fail unexpectedly; clients should know what that looks like.
        responses=error_responses(500),
    )
    app.state.settings = settings
    # Holds no connection until first used: the lifespan starts it, or the first request does
    # on runtimes that never run the lifespan.
    app.state.database = Database(settings)
    # The same for the outbound HTTP client: made on first use, closed by the lifespan.
    app.state.http = HTTPClient(settings)
    app.state.api_keys = KeyVerifier(app.state.database, settings.api_key_cache_seconds)
    app.state.rate_limiter = create_rate_limiter(settings, app.state.database)
    register_error_handlers(app)
    app.include_router(health.router)
    app.include_router(items.router)
    return app


app = create_app()
