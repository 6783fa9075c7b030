"""The queue on PostgreSQL: enqueued in the caller's transaction, run at least once, retried
with backoff, held as failed after the last attempt, and drained within a time bound."""

from __future__ import annotations

import time
from pathlib import Path

import asyncpg
import pytest
from fastapi import FastAPI

from app.jobs import Jobs
from app.jobs.worker import drain
from app.main import create_app
from app.services import services_of
from tests.clients import asgi_client
from tests.conftest import make_settings
from tests.jobs.conftest import JOB, Enqueue, Recorder, plain_url, queue_rows
from tests.pgbouncer import running_pgbouncer

pytestmark = pytest.mark.postgres

CRON_SECRET = "test-cron-secret"
FAST_RETRIES = {"jobs_retry_delay": 0.05, "jobs_max_attempts": 3}


async def test_a_job_is_committed_with_the_write_that_enqueued_it(
    jobs_app: FastAPI, database_url: str
) -> None:
    owned = services_of(jobs_app)
    async with owned.database.session() as session, session.begin():
        await session.run_sync(owned.get(Jobs).enqueue, JOB, b"kept")
    assert [row["payload"] for row in await queue_rows(database_url)] == [b"kept"]


async def test_a_rolled_back_write_enqueues_nothing(jobs_app: FastAPI, database_url: str) -> None:
    owned = services_of(jobs_app)
    async with owned.database.session() as session:
        await session.run_sync(owned.get(Jobs).enqueue, JOB, b"dropped")
        await session.rollback()
    assert await queue_rows(database_url) == []


async def test_drain_runs_every_queued_job_and_empties_the_queue(
    jobs_app: FastAPI, enqueue: Enqueue, recorder: Recorder, database_url: str
) -> None:
    for number in range(3):
        await enqueue(f"job {number}".encode())
    result = await drain(services_of(jobs_app).get(Jobs))
    assert sorted(recorder.payloads) == [b"job 0", b"job 1", b"job 2"]
    assert result["done"] == 3
    assert await queue_rows(database_url) == []


@pytest.mark.settings(**FAST_RETRIES)
async def test_a_failed_attempt_is_retried_until_it_succeeds(
    jobs_app: FastAPI, enqueue: Enqueue, recorder: Recorder
) -> None:
    recorder.failures = 2
    await enqueue(b"retried")
    result = await drain(services_of(jobs_app).get(Jobs))
    assert recorder.payloads == [b"retried"]
    assert result == {"done": 1, "retried": 2, "failed": 0, "scheduled": 0}


@pytest.mark.settings(**FAST_RETRIES)
async def test_after_the_last_attempt_the_job_is_held_as_failed(
    jobs_app: FastAPI, enqueue: Enqueue, recorder: Recorder, database_url: str
) -> None:
    recorder.failures = 10
    await enqueue(b"hopeless")
    result = await drain(services_of(jobs_app).get(Jobs))
    assert result["failed"] == 1 and result["retried"] == 2
    (row,) = await queue_rows(database_url)
    assert (row["status"], row["attempts"], row["payload"]) == ("failed", 2, b"hopeless")


def test_the_wait_between_attempts_doubles_up_to_its_maximum(app: FastAPI) -> None:
    jobs = services_of(app).get(Jobs)
    waits = [jobs.retry_delay(attempt).total_seconds() for attempt in range(12)]
    assert waits[:4] == [2, 4, 8, 16]
    assert waits[-1] == jobs.settings.jobs_retry_max_delay == 600


@pytest.mark.settings(cron_secret=CRON_SECRET, jobs_drain_seconds=0.5, jobs_timeout=0.5)
async def test_the_drain_route_stops_within_its_time_bound(
    jobs_app: FastAPI, enqueue: Enqueue, recorder: Recorder
) -> None:
    # A job that outlasts JOBS_TIMEOUT on every attempt: the drain keeps meeting it again.
    recorder.seconds = 5
    await enqueue(b"slow")
    async with asgi_client(jobs_app) as client:
        started = time.monotonic()
        response = await client.get(
            "/internal/jobs/drain", headers={"authorization": f"Bearer {CRON_SECRET}"}
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["retried"] >= 1
    # JOBS_DRAIN_SECONDS for taking jobs, plus JOBS_TIMEOUT for the one running then.
    assert elapsed < 0.5 + 0.5 + 2


async def test_behind_a_transaction_mode_pooler_jobs_are_enqueued_and_drained(
    database_url: str, tmp_path: Path
) -> None:
    # No prepared statement outlives its transaction there, and no notification arrives.
    with running_pgbouncer(database_url, tmp_path) as pooler_url:
        settings = make_settings(pooler_url, db_pooler="transaction", **FAST_RETRIES)
        app = create_app(settings)
        owned = services_of(app)
        jobs = owned.get(Jobs)
        recorder = Recorder(failures=1)
        jobs.handle(JOB, recorder)
        async with app.router.lifespan_context(app):
            for number in range(3):
                async with owned.database.session() as session, session.begin():
                    await session.run_sync(jobs.enqueue, JOB, f"pooled {number}".encode())
            result = await drain(jobs)
    assert sorted(recorder.payloads) == [b"pooled 0", b"pooled 1", b"pooled 2"]
    assert result["done"] == 3 and result["retried"] == 1
    assert await queue_rows(database_url) == []


async def test_drain_runs_the_schedules_that_are_due(jobs_app: FastAPI, database_url: str) -> None:
    runs: list[str] = []

    async def every_minute() -> None:
        runs.append("ran")

    jobs = services_of(jobs_app).get(Jobs)
    jobs.schedule("test.every_minute", "* * * * *", every_minute)
    await drain(jobs)  # records the schedules; the first run is due at the next minute
    connection = await asyncpg.connect(plain_url(database_url))
    try:
        await connection.execute(
            "UPDATE pgqueuer_schedules SET next_run = now() - interval '1 second' "
            "WHERE entrypoint = 'test.every_minute'"
        )
    finally:
        await connection.close()
    result = await drain(jobs)
    assert runs == ["ran"] and result["scheduled"] == 1
