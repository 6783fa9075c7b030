"""Unhandled exceptions to Sentry, with nothing secret in what is sent.

Imported only when SENTRY_DSN is set. SentryMiddleware, outside RequestMiddleware, reports each
exception that escapes the app (RequestMiddleware answers 500 and re-raises it); responses the
app chose to send, 4xx and 5xx alike, are never reported. The SDK's own Starlette and FastAPI
integrations would do the same at about ten times the cost of serving `/health` per request
(a scope, a trace context and wrappers for every request, failing or not), so they are on only
when SENTRY_TRACES_SAMPLE_RATE asks for performance traces, which need them.

Where the SDK starts matters. Under Gunicorn with preload_app the app is made in the master and
forked: the SDK's sending thread would not exist in the workers, so it starts in the lifespan,
which runs in each worker. Vercel and AWS Lambda fork nothing, and Lambda never runs the
lifespan, so there it starts with the app; and since an instance may be frozen as soon as its
response is complete, the middleware sends what is queued before completing it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial
from typing import Any, cast
from urllib.parse import urlsplit

import sentry_sdk
from fastapi import FastAPI
from sentry_sdk.integrations import Integration
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.types import Event, Hint
from starlette.types import ASGIApp, Receive, Scope, Send

from app.observability.serverless import flush_before_last_message
from app.observability.settings import ObservabilitySettings
from app.request_id import current_request_id
from app.services import Services

# Seconds a serverless response may wait for queued events to be sent.
FLUSH_TIMEOUT = 2.0
FILTERED = "[Filtered]"
# Credentials a request may carry. The SDK leaves out some of them without send_default_pii;
# naming them here keeps them out whatever its defaults become.
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"}
)
# Request data that may hold tokens or personal data: the query string, body and cookies.
_DROPPED_REQUEST_KEYS = ("query_string", "data", "cookies", "env")
# Outbound-request breadcrumbs carry their URL's query string separately.
_DROPPED_BREADCRUMB_KEYS = ("http.query", "http.fragment")


def install_error_reporting(
    app: FastAPI, services: Services, settings: ObservabilitySettings
) -> None:
    start = partial(start_sentry, settings)
    if settings.serverless:
        start()
    else:
        services.on_start(start)
    app.add_middleware(SentryMiddleware, flush=settings.serverless)


def start_sentry(settings: ObservabilitySettings) -> None:
    integrations: list[Integration] = [
        # Error log lines become events (the same exception twice is sent once); no
        # breadcrumbs, which without a scope per request would mix requests' lines.
        LoggingIntegration(level=None, event_level=logging.ERROR),
    ]
    if settings.sentry_traces_sample_rate:
        # Only unhandled exceptions: a 5xx the app answered on purpose (503 while the database
        # is unavailable) is for the readiness alert, not for a bug tracker.
        failed: set[int] = set()
        integrations += [
            StarletteIntegration(failed_request_status_codes=failed),
            FastApiIntegration(failed_request_status_codes=failed),
        ]
    secrets = secret_values(settings)
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment.value,
        release=settings.release,
        send_default_pii=False,
        # Frame locals hold the ASGI scope (headers, credentials) and request data.
        include_local_variables=False,
        max_request_body_size="never",
        # None rather than 0: at 0 the SDK still makes a transaction per request, and drops it.
        traces_sample_rate=settings.sentry_traces_sample_rate or None,
        # Release health counts a session per request, at several times the cost of serving
        # /health; error rates come from the events and the metrics instead.
        auto_session_tracking=False,
        auto_enabling_integrations=False,
        integrations=integrations,
        before_send=partial(scrub, secrets=secrets),
        before_send_transaction=partial(scrub, secrets=secrets),
    )


def secret_values(settings: ObservabilitySettings) -> tuple[str, ...]:
    """Values that must appear nowhere in an event, whatever field they end up in."""
    values = [settings.database_url, settings.metrics_token]
    password = urlsplit(settings.database.url).password
    if password:
        values.append(password)
    # The longest first, so a URL is replaced whole rather than around its password.
    return tuple(sorted((v for v in values if len(v) >= 4), key=len, reverse=True))


def scrub(event: Event, hint: Hint, *, secrets: Iterable[str]) -> Event:
    fields = cast(dict[str, Any], event)
    request = fields.get("request")
    if isinstance(request, dict):
        for key in _DROPPED_REQUEST_KEYS:
            request.pop(key, None)
        if isinstance(request.get("url"), str):
            request["url"] = request["url"].split("?", 1)[0]
        headers = request.get("headers")
        if isinstance(headers, dict):
            for name in headers:
                if name.lower() in _SECRET_HEADERS:
                    headers[name] = FILTERED
    breadcrumbs = fields.get("breadcrumbs")
    crumbs = breadcrumbs.get("values") if isinstance(breadcrumbs, dict) else breadcrumbs
    for crumb in crumbs if isinstance(crumbs, list) else []:
        data = crumb.get("data") if isinstance(crumb, dict) else None
        if isinstance(data, dict):
            for key in _DROPPED_BREADCRUMB_KEYS:
                data.pop(key, None)
    request_id = current_request_id.get()
    if request_id is not None:
        fields.setdefault("tags", {})["request_id"] = request_id
    return cast(Event, _without(fields, tuple(secrets)))


def _without(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, FILTERED)
        return value
    if isinstance(value, dict):
        return {key: _without(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without(item, secrets) for item in value]
    return value


class SentryMiddleware:
    """Reports an exception that escapes the app, tagged with the request's ID and route.

    With `flush` (serverless) it also sends every queued event before the response's last part
    goes out, since the instance may be frozen as soon as it has.
    """

    def __init__(self, app: ASGIApp, *, flush: bool = False) -> None:
        self.app = app
        self.flush = flush

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.flush:
            # flush() blocks until the queue is sent, or returns at once when it is empty.
            flush = partial(sentry_sdk.flush, FLUSH_TIMEOUT)
            await flush_before_last_message(self._reporting, scope, receive, send, flush=flush)
            return
        await self._reporting(scope, receive, send)

    async def _reporting(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            report(exc, scope)
            raise


def report(exc: Exception, scope: Scope) -> None:
    # The path without its query string, and the route template the router matched.
    route = getattr(scope.get("route"), "path", None)
    request = {"method": scope["method"], "url": scope["path"]}
    with sentry_sdk.new_scope() as sentry_scope:
        sentry_scope.add_event_processor(lambda event, hint: {**event, "request": request})
        if route is not None:
            sentry_scope.set_tag("route", route)
            sentry_scope.set_transaction_name(route)
        sentry_sdk.capture_exception(exc)
