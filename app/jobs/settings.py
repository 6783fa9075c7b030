"""The background jobs' settings."""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt

from app.settings import CoreSettings


class JobSettings(CoreSettings):
    """Background jobs (`app/jobs/`)."""

    jobs_max_attempts: PositiveInt = Field(
        8,
        description="Attempts a job gets (the first run and its retries) before it is held as "
        "`failed`, for `python -m app.cli jobs-retry`.",
    )
    jobs_retry_delay: PositiveFloat = Field(
        2.0,
        description="Seconds before a failed job's first retry; each further retry waits "
        "twice as long, up to `JOBS_RETRY_MAX_DELAY`.",
    )
    jobs_retry_max_delay: PositiveFloat = Field(
        600.0, description="Longest wait, in seconds, between two attempts of a job."
    )
    jobs_timeout: PositiveFloat = Field(
        25.0,
        description="Seconds one attempt of a job may take before it counts as failed. A "
        "stopping worker waits this long for the jobs it is running.",
    )
    jobs_heartbeat_timeout: PositiveFloat = Field(
        30.0,
        description="Seconds without a heartbeat after which a running job counts as "
        "abandoned (its worker died) and another worker takes it.",
    )
    jobs_poll_interval: PositiveFloat = Field(
        5.0,
        description="Seconds an idle worker waits before looking for jobs again when no "
        "notification wakes it (behind a transaction-mode pooler there are none).",
    )
    jobs_concurrency: PositiveInt = Field(10, description="Jobs a worker runs at once.")
    jobs_drain_seconds: PositiveFloat = Field(
        20.0,
        description="Seconds the drain (`/internal/jobs/drain`, the Lambda schedule event) "
        "takes new jobs for; jobs it started may then run `JOBS_TIMEOUT` more. Keep the sum "
        "below the function's `maxDuration`.",
    )
    jobs_retention_days: PositiveInt = Field(
        7, description="Days the record of finished jobs is kept before the tidy job drops it."
    )
    cron_secret: str = Field(
        "",
        description="Bearer token `/internal/jobs/drain` requires (Vercel sends "
        "`Authorization: Bearer $CRON_SECRET` with each cron request). Empty: the route "
        "refuses every request.",
        json_schema_extra={"secret": True},
    )
