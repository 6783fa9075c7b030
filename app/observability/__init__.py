"""Observability: unhandled exceptions to Sentry, Prometheus metrics at /metrics, and
OpenTelemetry traces over OTLP/HTTP.

What it adds to the app (`install`): each signal only when its setting turns it on; with none
on, nothing is imported and no middleware is added, so requests take the same path as without
the feature. Its README.md describes it; deleting this folder, tests/observability/ and its
lines in app/main.py removes it.
"""

from __future__ import annotations

from fastapi import FastAPI

from app.observability.settings import ObservabilitySettings
from app.services import Services


def install(app: FastAPI, services: Services, settings: ObservabilitySettings) -> None:
    # Imported here: the SDKs are heavy to import, and an app without a signal never needs them.
    if settings.sentry_dsn:
        from app.observability.errors import install_error_reporting

        install_error_reporting(app, services, settings)
    if settings.metrics_enabled:
        from app.observability.metrics import install_metrics

        install_metrics(app, services, settings)
    if settings.otel_exporter_otlp_endpoint:
        from app.observability.traces import install_tracing

        install_tracing(app, services, settings)


__all__ = ["ObservabilitySettings", "install"]
