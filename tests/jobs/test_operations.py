"""Operations: the daily tidy job, and the `python -m app.cli` job commands."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from fastapi import FastAPI

from app.cli import main as cli
from app.jobs import Jobs
from app.jobs.tidy import tidy
from app.services import services_of
from tests.jobs.conftest import JOB, Enqueue, plain_url, queue_rows

pytestmark = pytest.mark.postgres


async def fetch(database_url: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(plain_url(database_url))
    try:
        return list(await connection.fetch(query))
    finally:
        await connection.close()


@pytest.mark.settings(jobs_retention_days=7)
async def test_tidy_deletes_the_record_of_jobs_finished_before_the_retention(
    jobs_app: FastAPI, database_url: str
) -> None:
    await fetch(
        database_url,
        "INSERT INTO pgqueuer_log (created, job_id, status, priority, entrypoint) VALUES "
        "(now() - interval '8 days', 1, 'successful', 0, 'old'), "
        "(now() - interval '6 days', 2, 'successful', 0, 'recent')",
    )
    owned = services_of(jobs_app)
    await tidy(owned.database, owned.get(Jobs))
    rows = await fetch(database_url, "SELECT entrypoint FROM pgqueuer_log")
    assert [row["entrypoint"] for row in rows] == ["recent"]


async def test_tidy_deletes_ended_rate_limit_windows_when_that_table_exists(
    jobs_app: FastAPI, database_url: str
) -> None:
    (exists,) = await fetch(database_url, "SELECT to_regclass('rate_limit_counters') AS t")
    if exists["t"] is None:
        pytest.skip("the rate limits feature and its table are not here")
    now = int(time.time())
    await fetch(
        database_url,
        "INSERT INTO rate_limit_counters (key, count, expires_at) VALUES "
        f"('ended', 1, {now - 10}), ('current', 1, {now + 60})",
    )
    owned = services_of(jobs_app)
    await tidy(owned.database, owned.get(Jobs))
    rows = await fetch(database_url, "SELECT key FROM rate_limit_counters")
    assert [row["key"] for row in rows] == ["current"]


def test_the_cli_lists_retries_and_purges_failed_jobs(
    jobs_app: FastAPI,
    enqueue: Enqueue,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def two_failed_jobs() -> None:
        await enqueue(b"first")
        await enqueue(b"second")
        await fetch(database_url, "UPDATE pgqueuer SET status = 'failed', attempts = 3")

    asyncio.run(two_failed_jobs())
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ENVIRONMENT", "test")
    first, second = (row["id"] for row in asyncio.run(queue_rows(database_url)))

    assert cli(["jobs-list", "--state", "failed"]) == 0
    listing = capsys.readouterr().out
    assert "queued: 0, picked: 0, failed: 2" in listing and JOB in listing

    assert cli(["jobs-retry", str(first)]) == 0
    assert cli(["jobs-purge", "--all"]) == 0
    rows = asyncio.run(queue_rows(database_url))
    assert [(row["id"], row["status"], row["attempts"]) for row in rows] == [(first, "queued", 0)]
    assert second not in [row["id"] for row in rows]
