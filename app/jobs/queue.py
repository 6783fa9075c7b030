"""The app's jobs: what each kind does, when the scheduled ones run, and enqueueing one.

    jobs = services.get(Jobs)
    jobs.handle("webhooks.deliver", deliver)          # async def deliver(payload: bytes)
    jobs.schedule("jobs.tidy", "17 3 * * *", tidy)    # async def tidy()
    jobs.enqueue(session, "webhooks.deliver", body)   # from code that holds a Session

`enqueue` takes the caller's session, so on PostgreSQL the job's row is written in the
caller's transaction: it is committed with the write that caused it, or rolled back with it.
The row goes into pgqueuer's own table with pgqueuer's own INSERT; pgqueuer's worker
(app/jobs/worker.py) runs it.

On SQLite there is no queue table: a job enqueued there runs in this process once the
session commits (and never if it rolls back), with the same attempts and backoff, but only in
memory. A job still waiting for a retry when the process stops is lost, and logged as such.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.jobs.settings import JobSettings

logger = logging.getLogger(__name__)

Handler = Callable[[bytes], Awaitable[None]]
ScheduledRun = Callable[[], Awaitable[None]]

# Where a session keeps the jobs enqueued on SQLite until it commits.
_PENDING = "app.jobs.pending"


class JobFailed(Exception):
    """Raised by a handler for a failure that retrying cannot fix: no more attempts."""


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str
    run: ScheduledRun


class Jobs:
    """The kinds of job this app has, its schedules, and the way to enqueue a job."""

    def __init__(self, settings: JobSettings) -> None:
        self.settings = settings
        self.handlers: dict[str, Handler] = {}
        self.schedules: dict[str, Schedule] = {}
        self._inline = settings.database.is_sqlite
        # SQLite only: the jobs running in this process, awaited when the app stops.
        self._running: set[asyncio.Task[None]] = set()

    def handle(self, name: str, handler: Handler) -> None:
        """Run `handler(payload)` for each job of this name; raising means a retry."""
        self.handlers[name] = handler

    def schedule(self, name: str, cron: str, run: ScheduledRun) -> None:
        """Run `run()` at the times the cron expression names (UTC), in one worker at once."""
        self.schedules[name] = Schedule(name, cron, run)

    def enqueue(self, session: Session, name: str, payload: bytes) -> None:
        """Put a job on the queue in `session`'s transaction.

        A plain function rather than a coroutine so that SQLAlchemy's ORM events, which are
        synchronous, can enqueue too; from async code, `await enqueue_async(session, ...)`.
        """
        if name not in self.handlers:
            raise ValueError(f"no handler for jobs named {name!r}")
        if self._inline:
            session.connection()  # the transaction the job belongs to, begun if need be
            session.info.setdefault(_PENDING, []).append((self, name, payload))
            return
        from pgqueuer.adapters.persistence.qb import QueryQueueBuilder
        from pgqueuer.adapters.persistence.query_helpers import normalize_enqueue_params
        from pydantic_core import to_json

        job = normalize_enqueue_params(name, payload, 0)
        session.connection().exec_driver_sql(
            QueryQueueBuilder().build_enqueue_query(),
            (
                job.priority,
                job.entrypoint,
                job.payload,
                job.execute_after,
                job.dedupe_key,
                [to_json(header).decode() for header in job.headers],
            ),
        )

    def retry_delay(self, attempt: int) -> timedelta:
        """The wait after attempt number `attempt` (0 for the first) failed."""
        seconds = self.settings.jobs_retry_delay * 2**attempt
        return timedelta(seconds=min(seconds, self.settings.jobs_retry_max_delay))

    async def run_once(self, name: str, payload: bytes) -> None:
        """One attempt of a job, within JOBS_TIMEOUT."""
        async with asyncio.timeout(self.settings.jobs_timeout):
            await self.handlers[name](payload)

    def _start_inline(self, name: str, payload: bytes) -> None:
        task = asyncio.get_running_loop().create_task(self._run_inline(name, payload))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run_inline(self, name: str, payload: bytes) -> None:
        attempts = self.settings.jobs_max_attempts
        for attempt in range(attempts):
            try:
                await self.run_once(name, payload)
            except Exception as exc:
                if isinstance(exc, JobFailed) or attempt + 1 == attempts:
                    logger.error("job %s failed after %d attempts: %r", name, attempt + 1, exc)
                    return
                delay = self.retry_delay(attempt)
                logger.warning(
                    "job %s attempt %d failed (%r); retrying in %s", name, attempt + 1, exc, delay
                )
                await asyncio.sleep(delay.total_seconds())
            else:
                logger.info("job %s done", name)
                return

    async def close(self) -> None:
        """SQLite only: wait JOBS_TIMEOUT for jobs running in this process, then drop them."""
        if not self._running:
            return
        _, pending = await asyncio.wait(self._running, timeout=self.settings.jobs_timeout)
        for task in pending:
            task.cancel()
        if pending:
            logger.error(
                "%d jobs were still running or waiting to retry and are lost: on SQLite jobs "
                "are kept in memory only",
                len(pending),
            )


async def enqueue_async(jobs: Jobs, session: AsyncSession, name: str, payload: bytes) -> None:
    """`jobs.enqueue` for an AsyncSession."""
    await session.run_sync(jobs.enqueue, name, payload)


# The session's own events, so a job enqueued on SQLite starts only once its write is
# committed. They act only on sessions that hold such jobs.
@event.listens_for(Session, "after_commit")
def _start_committed(session: Session) -> None:
    for jobs, name, payload in session.info.pop(_PENDING, ()):
        jobs._start_inline(name, payload)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_PENDING, None)
