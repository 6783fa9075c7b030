"""Prometheus metrics at GET /metrics: requests, their durations, and the database pool.

Imported only when METRICS_ENABLED is true. Under Gunicorn every worker counts in files of
its own in PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py sets it before the app is imported and
makes the directory fresh before the workers start), so whichever worker answers a scrape
reports the instance's totals, including those of workers already recycled. Elsewhere the
counts live in the process.

Requests are labelled by route template (`/api/v1/items/{item_id}`), never by the raw path,
which would make a series per item; a path no route matches is labelled `unmatched`. 429s
(rate-limit refusals) are also counted on their own, by route, without the rate-limits
feature knowing about metrics.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.database import Database
from app.errors import error_response
from app.observability.settings import ObservabilitySettings
from app.services import Services

UNMATCHED = "unmatched"
# Any other method is one label value: clients choose it, and each value is a series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}

# Made once per process: several apps in one process (the tests) count into the same series.
# Every metric has labels, so none writes a file before a request labels it: the Gunicorn
# master, which imports the app, never serves one.
REQUESTS = Counter("http_requests", "Requests answered.", ["method", "route", "status"])
RATE_LIMITED = Counter("http_rate_limited_requests", "Requests refused with 429.", ["route"])
DURATION = Histogram(
    "http_request_duration_seconds",
    "Seconds from the request's arrival to the end of its response.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_PROGRESS = Gauge(
    "http_requests_in_progress",
    "Requests being answered now.",
    ["method"],
    multiprocess_mode="livesum",
)


def install_metrics(app: FastAPI, services: Services, settings: ObservabilitySettings) -> None:
    token = settings.metrics_token.encode()
    pool = CollectorRegistry(auto_describe=False)
    pool.register(PoolCollector(services.database))

    async def metrics(request: Request) -> Response:
        if token and not _authorized(request, token):
            return error_response(
                401, "Missing or invalid metrics token", headers={"WWW-Authenticate": "Bearer"}
            )
        return Response(scrape() + generate_latest(pool), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    app.add_middleware(MetricsMiddleware)


def _authorized(request: Request, token: bytes) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Constant time: how long the comparison takes must not tell how much of it matched.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)


def scrape() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


class PoolCollector(Collector):
    """The database pool of the process that answers the scrape, read at scrape time."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        engine = self.database.engine
        # NullPool (SQLite, serverless) keeps nothing to report.
        if engine is None or not isinstance(engine.pool, QueuePool):
            return
        pool = engine.pool
        values = (
            ("db_pool_size", "Connections the pool keeps open.", pool.size()),
            ("db_pool_checked_out", "Connections in use by requests.", pool.checkedout()),
            # SQLAlchemy counts up from minus the pool size while the pool fills.
            ("db_pool_overflow", "Connections open beyond the pool size.", max(0, pool.overflow())),
        )
        for name, documentation, value in values:
            yield GaugeMetricFamily(name, documentation, value=value)


class MetricsMiddleware:
    """Counts each request by method, route template and status class, and times it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Each metric's child per label values, kept: `labels()` costs more than the update.
        # Bounded, as the label values are: methods, route templates, status classes.
        self.requests: dict[tuple[str, str, str], Counter] = {}
        self.durations: dict[tuple[str, str], Histogram] = {}
        # Made on first use, never here: in the Gunicorn master a child would open its file
        # before the directory exists.
        self.in_progress: dict[str, Gauge] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in _METHODS else "other"
        status = 500  # what RequestMiddleware answers when the app fails before a response

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_progress = self.in_progress.get(method)
        if in_progress is None:
            in_progress = self.in_progress[method] = IN_PROGRESS.labels(method)
        in_progress.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            in_progress.dec()
            # Set by the router once a route matched; the template, not the requested path.
            route = getattr(scope.get("route"), "path", UNMATCHED)
            counted = (method, route, _STATUS_CLASSES.get(status // 100, "other"))
            requests = self.requests.get(counted)
            if requests is None:
                requests = self.requests[counted] = REQUESTS.labels(*counted)
            requests.inc()
            timed = (method, route)
            duration = self.durations.get(timed)
            if duration is None:
                duration = self.durations[timed] = DURATION.labels(*timed)
            duration.observe(elapsed)
            if status == 429:
                RATE_LIMITED.labels(route).inc()
