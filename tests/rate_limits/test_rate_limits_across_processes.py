"""Limits hold across processes: two app servers, one burst split between them, one count.

Each test starts two uvicorn processes on 127.0.0.1 against the same database (and Redis),
sends 100 concurrent reads from one client address, half to each process, against a limit of
20, and counts the answers.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_REDIS_URL
from tests.servers import checkout, clean_environment, free_port, running, wait_until_answers

pytestmark = pytest.mark.processes

BURST = 100
LIMIT = 20
SERVE = [sys.executable, "-m", "uvicorn", "served_app:app", "--host", "127.0.0.1"]
WINDOW = 86_400  # a day: the burst cannot straddle two windows unless started at midnight UTC


@pytest.fixture
def app_dir(repo_root: Path, tmp_path: Path) -> Path:
    return checkout(repo_root, tmp_path / "app")


@contextmanager
def two_servers(app_dir: Path, logs: Path, **settings: str) -> Iterator[list[str]]:
    """Two app processes with the given settings; yields their base URLs."""
    ports: list[int] = []
    while len(ports) < 2:
        if (port := free_port()) not in ports:
            ports.append(port)
    env = clean_environment(ENVIRONMENT="test", RATE_LIMIT=f"{LIMIT}/day", **settings)
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                running(
                    [*SERVE, "--port", str(port), "--no-access-log"],
                    env=env,
                    # No .env there: the servers see only the settings given here.
                    cwd=app_dir,
                    log=logs / f"server-{port}.log",
                )
            )
            for port in ports
        ]
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, server in zip(urls, servers, strict=True):
            wait_until_answers(f"{url}/health", server)
        seconds_left = WINDOW - time.time() % WINDOW
        if seconds_left < 30:
            time.sleep(seconds_left + 1)
        yield urls


async def burst(urls: list[str]) -> Counter[int]:
    """BURST concurrent reads, alternating between the servers; how many got each status."""
    limits = httpx.Limits(max_connections=BURST)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def read(n: int) -> int:
            return (await client.get(f"{urls[n % len(urls)]}/test/read")).status_code

        return Counter(await asyncio.gather(*(read(n) for n in range(BURST))))


@pytest.mark.postgres
async def test_postgres_backend_admits_exactly_the_limit_across_two_processes(
    database_url: str, empty_tables_after: None, app_dir: Path, tmp_path: Path
) -> None:
    with two_servers(
        app_dir,
        tmp_path,
        DATABASE_URL=database_url,
        RATE_LIMIT_BACKEND="postgres",
        # Counters of this test's own, whatever an earlier test left in the table.
        RATE_LIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex[:12]}",
    ) as urls:
        reads = await burst(urls)
    assert reads == {200: LIMIT, 429: BURST - LIMIT}


@pytest.mark.redis
async def test_redis_backend_admits_exactly_the_limit_across_two_processes(
    database_url: str, redis_key_prefix: str, app_dir: Path, tmp_path: Path
) -> None:
    with two_servers(
        app_dir,
        tmp_path,
        DATABASE_URL=database_url,
        REDIS_URL=TEST_REDIS_URL,
        RATE_LIMIT_KEY_PREFIX=redis_key_prefix,
    ) as urls:
        reads = await burst(urls)
    assert reads == {200: LIMIT, 429: BURST - LIMIT}


async def test_memory_backend_counts_each_process_on_its_own(
    database_url: str, app_dir: Path, tmp_path: Path
) -> None:
    with two_servers(
        app_dir, tmp_path, DATABASE_URL=database_url, RATE_LIMIT_BACKEND="memory"
    ) as urls:
        reads = await burst(urls)
    assert reads == {200: 2 * LIMIT, 429: BURST - 2 * LIMIT}
