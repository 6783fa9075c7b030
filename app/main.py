"""The application factory, and the `app` that servers import.

    uvicorn app.main:app            gunicorn -c gunicorn.conf.py app.main:app

`create_app` builds the core (middleware, error handlers, probes, the services the lifespan
owns) and then adds each feature with the lines that name it. To remove a feature, delete its
folder in app/, its tests in tests/, and its lines here (docs/features.md).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig

import app.api_keys as api_keys
import app.items as items
import app.jobs as jobs
import app.jwt_auth as jwt_auth
import app.observability as observability
import app.rate_limits as rate_limits
import app.webhooks as webhooks
from app import __version__
from app.access import AccessPolicy
from app.database import Database
from app.errors import error_responses, register_error_handlers
from app.garbage_collector import settle_after_start_up
from app.health import Readiness
from app.health import router as health_router
from app.http_client import HTTPClient
from app.logging_setup import configure_logging
from app.middleware import middleware_stack
from app.routing import include_routes
from app.services import Services, attach, services_of
from app.settings import CoreSettings, Environment
from app.settings_errors import load_settings

if TYPE_CHECKING:
    from mangum.types import LambdaHandler

logger = logging.getLogger(__name__)


class Settings(
    api_keys.ApiKeySettings,
    jwt_auth.JwtSettings,
    jobs.JobSettings,
    observability.ObservabilitySettings,
    rate_limits.RateLimitSettings,
    webhooks.WebhookSettings,
    CoreSettings,
):
    """The core's settings and those of every feature this app includes."""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    owned = services_of(app)
    settings = owned.settings
    # str(settings.database) hides the password.
    logger.info("starting: environment %s, database %s", settings.environment, settings.database)
    if settings.environment is Environment.DEVELOPMENT and settings.database.is_sqlite:
        # Imported here: Alembic is not needed, nor loaded, on any other start.
        from app.migrate import prepare_development_database

        await prepare_development_database(settings)
    owned.start()
    owned.database.start()
    try:
        yield
    finally:
        await owned.aclose()


_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _operation_id(route: APIRoute) -> str:
    # The endpoint's name (`get_item`): generated clients name their methods after it.
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings(Settings)
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
        generate_unique_id_function=_operation_id,
        # FastAPI's built-in OpenTelemetry instrumentation asks on every request whether a
        # global provider has been configured, about a tenth of a /health request (BENCHMARKS.md).
        # Tracing, where wanted, is a feature's own middleware with a provider of its own.
        telemetry=_NO_TELEMETRY,
    )
    # Holds no connection until the lifespan starts it (or, on runtimes that never run the
    # lifespan, the first request does).
    owned = Services(
        settings=settings,
        database=Database(settings),
        http=HTTPClient(settings),
        access=AccessPolicy(reads_need_credentials=settings.api_keys_required_for_reads),
    )
    owned.provide(Readiness(owned.database, settings.ready_timeout))
    attach(app, owned)
    register_error_handlers(app)
    include_routes(app, health_router)

    include_routes(app, items.router)
    jobs.install(app, owned, settings)
    webhooks.install(owned, settings)  # after jobs, which it needs
    api_keys.install(owned, settings)
    jwt_auth.install(app, owned, settings)
    rate_limits.install(owned, settings)
    observability.install(app, owned, settings)
    return app


def lambda_handlers() -> list[type[LambdaHandler]]:
    """AWS Lambda events besides HTTP ones that api/index.py's handler turns into requests."""
    handlers: list[type[LambdaHandler]] = []
    handlers.append(jobs.ScheduledEvent)
    return handlers


def __getattr__(name: str) -> FastAPI:
    # `app` is made when a server first asks for it, not when this module is imported, so that
    # importing create_app (tests, tools) never reads the environment.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        # Servers (Gunicorn, uvicorn, Vercel, Lambda) come here; tests call create_app().
        settle_after_start_up()
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
