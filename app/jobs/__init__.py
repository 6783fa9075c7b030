"""Background jobs and schedules on the app's PostgreSQL, run by pgqueuer.

What it adds to the app (`install`): the `Jobs` service, with which features declare their
jobs and schedules and enqueue jobs in their own transaction; the daily tidy job; and
`/internal/jobs/drain` for serverless platforms. `ScheduledEvent` is the AWS Lambda event that
drains. Its README.md describes it; deleting this folder, tests/jobs/ and its lines in
app/main.py removes it, together with every feature that enqueues jobs (app/webhooks/).
"""

from __future__ import annotations

from fastapi import FastAPI

from app.jobs.drain import ScheduledEvent
from app.jobs.drain import router as drain_router
from app.jobs.queue import JobFailed, Jobs, enqueue_async
from app.jobs.settings import JobSettings
from app.jobs.tidy import TIDY_CRON, tidy
from app.routing import include_routes
from app.services import Services


def install(app: FastAPI, services: Services, settings: JobSettings) -> None:
    jobs = Jobs(settings)
    services.provide(jobs, close=jobs.close)
    if settings.database.is_postgres:

        async def tidy_database() -> None:
            await tidy(services.database, jobs)

        jobs.schedule("jobs.tidy", TIDY_CRON, tidy_database)
    include_routes(app, drain_router)


__all__ = ["JobFailed", "JobSettings", "Jobs", "ScheduledEvent", "enqueue_async", "install"]
