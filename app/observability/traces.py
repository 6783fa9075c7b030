"""Traces over OpenTelemetry: a server span per request, with its SQL statements and outbound
HTTP calls as child spans, exported over OTLP/HTTP.

Imported only when OTEL_EXPORTER_OTLP_ENDPOINT is set. The official instrumentations make the
spans: the pure ASGI OpenTelemetryMiddleware (which honours an incoming W3C `traceparent`),
SQLAlchemy's engine events, and httpx's transport (which adds `traceparent` to each outbound
request). Spans are named by route template (`GET /api/v1/items/{item_id}`), never by the
requested path; query strings are left out of their URLs. Probes are not traced. Each JSON log
line written while a span is current carries its `trace_id` and `span_id`.

Where the exporter starts matters. Under Gunicorn with preload_app the app is made in the
master and forked: a BatchSpanProcessor's thread started there would not exist in the workers,
so the processor is added in the lifespan, which runs in each worker, and flushed when the
lifespan ends. Vercel and AWS Lambda fork nothing, and Lambda never runs the lifespan, so there
it starts with the app; and since an instance may be frozen as soon as its response is
complete, the middleware exports the request's spans before completing it.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.util.http import sanitize_method
from opentelemetry.util.re import parse_env_headers
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logging_setup import add_filter
from app.middleware import PROBE_PATHS
from app.observability.serverless import flush_before_last_message
from app.observability.settings import ObservabilitySettings
from app.request_id import current_request_id
from app.services import Services

# Milliseconds a serverless response may wait for its spans to be exported.
FLUSH_TIMEOUT_MILLIS = 2000
FILTERED = "[Filtered]"
# URL attributes (both generations of OpenTelemetry's HTTP conventions) that would carry a
# query string, which may hold tokens.
_URL_ATTRIBUTES = ("http.url", "http.target", "url.full")
_QUERY_ATTRIBUTES = ("url.query",)
# Metrics come from the metrics signal; the instrumentations record none.
_NO_METRICS = NoOpMeterProvider()


def install_tracing(app: FastAPI, services: Services, settings: ObservabilitySettings) -> None:
    provider = TracerProvider(resource=_resource(settings))
    start = partial(start_exporting, provider, settings)
    if settings.serverless:
        start()
        services.provide(provider)
    else:
        services.on_start(start)
        services.provide(provider, close=partial(_shut_down, provider))
    services.database.on_engine(partial(trace_statements, provider))
    services.http.on_client(partial(trace_calls, provider))
    if settings.json_logs:
        add_filter(TraceFields())
    app.add_middleware(TracingMiddleware, provider=provider, flush=settings.serverless)


def start_exporting(provider: TracerProvider, settings: ObservabilitySettings) -> None:
    headers = parse_env_headers(settings.otel_exporter_otlp_headers, liberal=True)
    exporter = OTLPSpanExporter(
        endpoint=f"{settings.otel_exporter_otlp_endpoint.rstrip('/')}/v1/traces",
        # None: the SDK reads OTEL_EXPORTER_OTLP_(TRACES_)HEADERS itself.
        headers=headers or None,
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))


async def _shut_down(provider: TracerProvider) -> None:
    # Exports what is still queued, which can take as long as the collector does.
    await asyncio.to_thread(provider.shutdown)


def _resource(settings: ObservabilitySettings) -> Resource:
    ours: dict[str, str] = {"deployment.environment.name": settings.environment.value}
    if settings.release:
        ours["service.version"] = settings.release
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over what the settings say.
    return Resource(ours).merge(Resource.create())


def trace_statements(provider: TracerProvider, engine: AsyncEngine) -> None:
    """A child span for each statement `engine` executes (statement text, never parameters)."""
    tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    connections = _NO_METRICS.get_meter(__name__).create_up_down_counter("db.client.connections")
    EngineTracer(tracer, engine.sync_engine, connections)  # type: ignore[no-untyped-call]


def trace_calls(provider: TracerProvider, client: httpx.AsyncClient) -> None:
    """A child span for each request `client` sends, and `traceparent` on the request."""
    HTTPXClientInstrumentor.instrument_client(
        client,
        tracer_provider=provider,
        meter_provider=_NO_METRICS,
        request_hook=_without_query_async,
    )


async def _without_query_async(span: trace.Span, request: Any) -> None:
    _without_query(span)


def _without_query(span: trace.Span, scope: Scope | None = None) -> None:
    if scope is not None and not scope.get("query_string"):
        return
    attributes = getattr(span, "attributes", None)
    if not span.is_recording() or attributes is None:
        return
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(name, value.split("?", 1)[0])
    for name in _QUERY_ATTRIBUTES:
        if name in attributes:
            span.set_attribute(name, FILTERED)


class TraceFields(logging.Filter):
    """Puts the current span's trace and span IDs in each JSON log line (app/logging_setup.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.log_fields = {
                "trace_id": format(context.trace_id, "032x"),
                "span_id": format(context.span_id, "016x"),
            }
        return True


def _method_only(scope: Scope) -> tuple[str, dict[str, Any]]:
    # The route is known only once the router has matched; _NamedByRoute names the span then.
    return _span_method(scope), {}


def _span_method(scope: Scope) -> str:
    # Clients choose the method: one that HTTP does not define is named as the conventions say.
    method = sanitize_method(scope["method"])
    return "HTTP" if method == "_OTHER" else method


class TracingMiddleware:
    """A server span for each request but the probes (platforms call them every few seconds).

    With `flush` (serverless) it also exports the request's spans before the response's last
    part goes out, since the instance may be frozen as soon as it has.
    """

    def __init__(self, app: ASGIApp, *, provider: TracerProvider, flush: bool = False) -> None:
        self.app = app
        self.traced = OpenTelemetryMiddleware(
            _NamedByRoute(app),
            default_span_details=_method_only,
            server_request_hook=_without_query,
            tracer_provider=provider,
            meter_provider=_NO_METRICS,
            # A span around each ASGI message would double the cost of a request.
            exclude_spans=["receive", "send"],
        )
        self.provider = provider if flush else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in PROBE_PATHS:
            # Nor the readiness probe's query, which would otherwise be a trace of its own.
            with suppress_instrumentation():
                await self.app(scope, receive, send)
            return
        if self.provider is None:
            await self.traced(scope, receive, send)
            return
        # The server span ends with the response's last part, which is held until then.
        flush = partial(self.provider.force_flush, FLUSH_TIMEOUT_MILLIS)
        await flush_before_last_message(self.traced, scope, receive, send, flush=flush)


class _NamedByRoute:
    """Names the server span by the route template the router matched, once it has, and
    tags it with the request's ID."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        span = trace.get_current_span()

        async def named_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = getattr(scope.get("route"), "path", None)
                if route is not None:
                    span.update_name(f"{_span_method(scope)} {route}")
                    span.set_attribute("http.route", route)
                # Set by RequestMiddleware by now: the ID a client quotes leads to the trace.
                request_id = current_request_id.get()
                if request_id is not None:
                    span.set_attribute("request_id", request_id)
            await send(message)

        await self.app(scope, receive, named_send)
