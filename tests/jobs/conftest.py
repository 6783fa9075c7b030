"""An app with a job of the tests' own, and a queue emptied after each test.

The jobs here call `Recorder`, not a real feature's code: these tests hold for any job, and
do not depend on the webhooks feature.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import pytest
from fastapi import FastAPI

from app.jobs import Jobs
from app.services import services_of

JOB = "test.record"
# Every table pgqueuer's migration created; none of them is in the models' metadata.
QUEUE_TABLES = "pgqueuer, pgqueuer_log, pgqueuer_schedules, pgqueuer_statistics"


@dataclass
class Recorder:
    """The test job: records each payload it runs, failing while `failures` says so."""

    payloads: list[bytes] = field(default_factory=list)
    failures: int = 0
    seconds: float = 0.0

    async def __call__(self, payload: bytes) -> None:
        await asyncio.sleep(self.seconds)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the job failed, as the test asked")
        self.payloads.append(payload)


def plain_url(database_url: str) -> str:
    """The database URL as asyncpg itself takes it."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def queue_rows(database_url: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(plain_url(database_url))
    try:
        return list(
            await connection.fetch(
                "SELECT id, entrypoint, status::text AS status, attempts, payload "
                "FROM pgqueuer ORDER BY id"
            )
        )
    finally:
        await connection.close()


async def empty_queue(database_url: str) -> None:
    connection = await asyncpg.connect(plain_url(database_url))
    try:
        await connection.execute(f"TRUNCATE {QUEUE_TABLES}")
    finally:
        await connection.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def jobs_app(app: FastAPI, recorder: Recorder, database_url: str) -> AsyncIterator[FastAPI]:
    """The app (lifespan running) with the test job added, and an empty queue afterwards."""
    services_of(app).get(Jobs).handle(JOB, recorder)
    yield app
    if "postgresql" in database_url:
        await empty_queue(database_url)


Enqueue = Callable[[bytes], Awaitable[None]]


@pytest.fixture
def enqueue(jobs_app: FastAPI) -> Enqueue:
    """Enqueue a test job in a transaction of its own, committed."""
    owned = services_of(jobs_app)

    async def enqueue(payload: bytes) -> None:
        async with owned.database.session() as session, session.begin():
            await session.run_sync(owned.get(Jobs).enqueue, JOB, payload)

    return enqueue
