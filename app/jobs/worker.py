"""Running jobs with pgqueuer: the long-lived worker, and the bounded drain for serverless.

    python -m app.jobs worker     until SIGTERM: Render's worker service, `make worker`
    python -m app.jobs drain      once: due schedules, then the queue for JOBS_DRAIN_SECONDS

Both build the app as the web service does (`create_app`), so every feature's job handlers
and the services they use (the database, the shared HTTP client) are the same, owned by this
process's lifespan.

pgqueuer takes a job by setting its row to `picked` (SELECT ... FOR UPDATE SKIP LOCKED, so
workers never share one) and keeps a heartbeat on it while it runs. A job whose heartbeat
stops for JOBS_HEARTBEAT_TIMEOUT (its worker was killed) is taken again by the next worker
that looks. A failed attempt goes back to `queued` with a later `execute_after`; the last
one leaves the row `failed` until `python -m app.cli jobs-retry`.

The worker listens for pgqueuer's notifications, so a new job starts at once, and also looks
every JOBS_POLL_INTERVAL seconds: behind a transaction-mode pooler notifications never
arrive and polling is what finds the jobs. With DATABASE_DIRECT_URL set the worker connects
there instead, where they do arrive.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import TYPE_CHECKING

from app.database import create_engine
from app.jobs.queue import JobFailed, Jobs
from app.settings import Pooler

if TYPE_CHECKING:
    from pgqueuer import PgQueuer
    from pgqueuer.models import Context, Job, Schedule

logger = logging.getLogger(__name__)

# How often a worker logs the queue's depth.
DEPTH_LOG_INTERVAL = 60.0


@asynccontextmanager
async def queue_connection(jobs: Jobs) -> AsyncIterator[object]:
    """An asyncpg connection for pgqueuer, opened as the app opens its own (same URL
    handling, timeouts and pooler settings), to DATABASE_DIRECT_URL when that is set."""
    settings = jobs.settings
    update: dict[str, object] = {"db_pool_mode": "null"}
    if settings.database_direct_url:
        update |= {"database_url": settings.database_direct_url, "db_pooler": Pooler.NONE}
    engine = create_engine(settings.model_copy(update=update))
    try:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            yield raw.driver_connection
    finally:
        await engine.dispose()


def build(jobs: Jobs, connection: object, outcomes: Counter[str]) -> PgQueuer:
    """A PgQueuer over `connection` that runs this app's jobs and schedules."""
    from pgqueuer import PgQueuer
    from pgqueuer.core.executors import EntrypointExecutor, EntrypointExecutorParameters
    from pgqueuer.errors import RetryRequested

    settings = jobs.settings

    @dataclasses.dataclass
    class Attempts(EntrypointExecutor):
        """One attempt within JOBS_TIMEOUT; a failure is retried with backoff until the
        last attempt, which leaves the job `failed` (the entrypoints hold failed jobs)."""

        async def execute(self, job: Job, context: Context) -> None:
            attempt = job.attempts + 1
            try:
                await jobs.run_once(job.entrypoint, job.payload or b"")
            except Exception as exc:
                if isinstance(exc, JobFailed) or attempt >= settings.jobs_max_attempts:
                    outcomes["failed"] += 1
                    logger.error(
                        "job %s %d failed for good after attempt %d: %r",
                        job.entrypoint,
                        job.id,
                        attempt,
                        exc,
                    )
                    raise
                delay = jobs.retry_delay(job.attempts)
                outcomes["retried"] += 1
                logger.warning(
                    "job %s %d attempt %d failed (%r); retrying in %s",
                    job.entrypoint,
                    job.id,
                    attempt,
                    exc,
                    delay,
                )
                raise RetryRequested(delay=delay, reason=repr(exc)) from exc
            outcomes["done"] += 1
            logger.info("job %s %d done after attempt %d", job.entrypoint, job.id, attempt)

    def executor(parameters: EntrypointExecutorParameters) -> Attempts:
        return Attempts(parameters)

    async def entrypoint(job: Job) -> None:  # pgqueuer requires one; Attempts runs the job
        raise NotImplementedError

    pgq = PgQueuer.from_asyncpg_connection(connection)
    for name in jobs.handlers:
        pgq.entrypoint(name, on_failure="hold", executor_factory=executor)(entrypoint)
    for schedule in jobs.schedules.values():
        pgq.schedule(schedule.name, schedule.cron)(_scheduled(jobs, schedule.name))
    return pgq


def _scheduled(jobs: Jobs, name: str) -> Callable[[Schedule], Awaitable[None]]:
    async def run(_: Schedule) -> None:
        logger.info("scheduled job %s starting", name)
        async with asyncio.timeout(jobs.settings.jobs_timeout):
            await jobs.schedules[name].run()
        logger.info("scheduled job %s done", name)

    return run


def _run_options(jobs: Jobs) -> dict[str, object]:
    settings = jobs.settings
    # pgqueuer wants room for two batches; half the concurrency per batch keeps it at that.
    batch = max(1, settings.jobs_concurrency // 2)
    return {
        "dequeue_timeout": timedelta(seconds=settings.jobs_poll_interval),
        "batch_size": batch,
        "max_concurrent_tasks": max(settings.jobs_concurrency, 2 * batch),
        "heartbeat_timeout": timedelta(seconds=settings.jobs_heartbeat_timeout),
    }


async def log_depth(pgq: PgQueuer) -> None:
    """The queue's depth per job and status, as one log line."""
    assert pgq.queries is not None
    counts = await pgq.queries.queue_size()
    depth = ", ".join(f"{c.entrypoint} {c.status}: {c.count}" for c in counts) or "empty"
    logger.info("queue depth: %s", depth)


async def work(jobs: Jobs) -> None:
    """Run jobs and schedules until SIGTERM or SIGINT, then finish the running jobs."""
    outcomes: Counter[str] = Counter()
    async with queue_connection(jobs) as connection:
        pgq = build(jobs, connection, outcomes)
        loop = asyncio.get_running_loop()

        def stop(signal_name: str) -> None:
            logger.info("%s: taking no new jobs, finishing the running ones", signal_name)
            pgq.shutdown.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop, signum.name)

        async def report() -> None:
            while not pgq.shutdown.is_set():
                with suppress(Exception):  # a log line is not worth stopping the worker for
                    await log_depth(pgq)
                with suppress(TimeoutError):
                    await asyncio.wait_for(pgq.shutdown.wait(), DEPTH_LOG_INTERVAL)

        logger.info(
            "worker started: jobs %s, schedules %s",
            ", ".join(jobs.handlers) or "none",
            ", ".join(f"{s.name} ({s.cron})" for s in jobs.schedules.values()) or "none",
        )
        reporter = asyncio.create_task(report())
        try:
            await pgq.run(**_run_options(jobs))  # type: ignore[arg-type]
        finally:
            reporter.cancel()
    logger.info("worker stopped: %s", dict(outcomes) or "no jobs run")


async def drain(jobs: Jobs) -> dict[str, int]:
    """Run the schedules that are due, then jobs until the queue is empty or
    JOBS_DRAIN_SECONDS have passed; jobs started by then may run JOBS_TIMEOUT more."""
    from pgqueuer.models import CronExpressionEntrypoint
    from pgqueuer.types import QueueExecutionMode

    outcomes: Counter[str] = Counter()
    async with queue_connection(jobs) as connection:
        pgq = build(jobs, connection, outcomes)
        queries, scheduler = pgq.queries, pgq.sm
        assert queries is not None
        due_in = {key: executor.next_in() for key, executor in scheduler.registry.items()}
        if due_in:
            await queries.insert_schedule(due_in)
            for schedule in await queries.fetch_schedule(due_in):
                key = CronExpressionEntrypoint(schedule.entrypoint, schedule.expression)
                await scheduler.dispatch(scheduler.registry[key], schedule)
                outcomes["scheduled"] += 1
        stop = asyncio.get_running_loop().call_later(
            jobs.settings.jobs_drain_seconds, pgq.qm.shutdown.set
        )
        try:
            options = _run_options(jobs) | {
                "mode": QueueExecutionMode.drain,
                # Between polls while retries wait for their time; notifications end it sooner.
                "dequeue_timeout": timedelta(seconds=1),
            }
            await pgq.qm.run(**options)  # type: ignore[arg-type]
        finally:
            stop.cancel()
        await log_depth(pgq)
    result = {key: outcomes[key] for key in ("done", "retried", "failed", "scheduled")}
    logger.info("drained: %s", result)
    return result
