"""The observability feature's settings: each signal is off until its variable is set."""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from app.settings import CoreSettings


class ObservabilitySettings(CoreSettings):
    """Observability (`app/observability/`)."""

    sentry_dsn: str = Field(
        "",
        description="Sentry project DSN: report unhandled exceptions (never 4xx) to Sentry. "
        "Empty: off, and the Sentry SDK is not even imported.",
        json_schema_extra={"secret": True},
    )
    sentry_traces_sample_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of requests Sentry also records as performance traces (0: none). "
        "Above 0 the SDK's request integrations run on every request, at about 0.6-1 ms each.",
    )
    metrics_enabled: bool = Field(
        False,
        description="Serve Prometheus metrics at `GET /metrics` (Render, Docker, local; refused "
        "on Vercel and AWS Lambda, where each instance would only report itself).",
    )
    metrics_token: str = Field(
        "",
        description="Bearer token `/metrics` requires (`Authorization: Bearer <token>`). "
        "Required in production when `METRICS_ENABLED=true`.",
        json_schema_extra={"secret": True},
    )
    otel_exporter_otlp_endpoint: str = Field(
        "",
        description="OpenTelemetry collector's OTLP/HTTP base URL (`http://collector:4318`, a "
        "vendor's endpoint): send a trace of each request, its SQL statements and outbound "
        "calls to `<url>/v1/traces`. Empty: off, and OpenTelemetry's SDK is not even imported.",
    )
    otel_exporter_otlp_headers: str = Field(
        "",
        description="Headers sent with each export, as `name=value` pairs separated by commas "
        "(a vendor's API key: `x-honeycomb-team=...`).",
        json_schema_extra={"secret": True},
    )
    render_git_commit: str = Field(
        "",
        validation_alias="RENDER_GIT_COMMIT",
        description="Set by Render: the deployed commit, reported to Sentry as the release. "
        "Never set it yourself.",
        json_schema_extra={"set_by_platform": True},
    )
    vercel_git_commit_sha: str = Field(
        "",
        validation_alias="VERCEL_GIT_COMMIT_SHA",
        description="Set by Vercel: the deployed commit, reported to Sentry as the release. "
        "Never set it yourself.",
        json_schema_extra={"set_by_platform": True},
    )

    @field_validator("otel_exporter_otlp_endpoint")
    @classmethod
    def _endpoint_is_a_url(cls, value: str) -> str:
        # Refused at start rather than failing on every export, where only a log line says so.
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _metrics_where_they_mean_something(self) -> Self:
        if not self.metrics_enabled:
            return self
        if self.serverless:
            raise ValueError(
                "METRICS_ENABLED=true is not supported on Vercel and AWS Lambda: each instance "
                "would report only itself; use the platform's metrics instead"
            )
        if self.is_production and not self.metrics_token:
            # A Render web service is public: without a token anyone could read the metrics.
            raise ValueError(
                "METRICS_TOKEN is required when METRICS_ENABLED=true and ENVIRONMENT=production"
            )
        return self

    @property
    def release(self) -> str | None:
        return self.render_git_commit or self.vercel_git_commit_sha or None
