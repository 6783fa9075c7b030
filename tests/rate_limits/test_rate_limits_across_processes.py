"""Limits hold across processes: two app servers, one burst split between them, one count.

Each test starts two uvicorn processes on 127.0.0.1 against the same database (and Redis),
sends 100 concurrent requests, half to each, against a limit of 20, and counts the answers.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import TEST_REDIS_URL, make_api_key
from tests.servers import clean_environment, free_port, running, wait_until_answers

ITEMS = "/api/v1/items"
BURST = 100
LIMIT = 20
SERVE = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--no-access-log"]
WINDOW = 86_400  # a day: the burst cannot straddle two windows unless started at midnight UTC


@contextmanager
def two_servers(tmp_path: Path, repo_root: Path, **settings: str) -> Iterator[list[str]]:
    """Two app processes with the given settings; yields their base URLs."""
    ports: list[int] = []
    while len(ports) < 2:
        if (port := free_port()) not in ports:
            ports.append(port)
    env = clean_environment(
        ENVIRONMENT="test",
        RATE_LIMIT=f"{LIMIT}/day",
        RATE_LIMIT_WRITE=f"{LIMIT}/day",
        PYTHONPATH=str(repo_root),
        **settings,
    )
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                running(
                    [*SERVE, "--port", str(port)],
                    env=env,
                    # No .env there: the servers see only the settings given here.
                    cwd=tmp_path,
                    log=tmp_path / f"server-{port}.log",
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


async def burst(
    urls: list[str], method: str, headers: dict[str, str] | None = None
) -> Counter[int]:
    """BURST concurrent requests, alternating between the servers; how many got each status."""
    limits = httpx.Limits(max_connections=BURST)
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=30) as client:

        async def send(n: int) -> int:
            body = {"name": f"burst-{n}"} if method == "POST" else None
            response = await client.request(method, f"{urls[n % len(urls)]}{ITEMS}", json=body)
            return response.status_code

        return Counter(await asyncio.gather(*(send(n) for n in range(BURST))))


async def _assert_exactly_the_limit_is_admitted(app: FastAPI, urls: list[str]) -> None:
    key = await make_api_key(app, "write")
    reads = await burst(urls, "GET")  # without a key: counted per client IP
    writes = await burst(urls, "POST", headers={"X-API-Key": key})  # counted per key
    assert reads == {200: LIMIT, 429: BURST - LIMIT}
    assert writes == {201: LIMIT, 429: BURST - LIMIT}


@pytest.mark.postgres
async def test_postgres_backend_admits_exactly_the_limit_across_two_processes(
    app: FastAPI, database_url: str, tmp_path: Path, repo_root: Path
) -> None:
    with two_servers(
        tmp_path, repo_root, DATABASE_URL=database_url, RATE_LIMIT_BACKEND="postgres"
    ) as urls:
        await _assert_exactly_the_limit_is_admitted(app, urls)


@pytest.mark.redis
async def test_redis_backend_admits_exactly_the_limit_across_two_processes(
    app: FastAPI, database_url: str, redis_key_prefix: str, tmp_path: Path, repo_root: Path
) -> None:
    with two_servers(
        tmp_path,
        repo_root,
        DATABASE_URL=database_url,
        REDIS_URL=TEST_REDIS_URL,
        RATE_LIMIT_KEY_PREFIX=redis_key_prefix,
    ) as urls:
        await _assert_exactly_the_limit_is_admitted(app, urls)


async def test_memory_backend_counts_each_process_on_its_own(
    database_url: str, tmp_path: Path, repo_root: Path
) -> None:
    with two_servers(
        tmp_path, repo_root, DATABASE_URL=database_url, RATE_LIMIT_BACKEND="memory"
    ) as urls:
        reads = await burst(urls, "GET")
    assert reads == {200: 2 * LIMIT, 429: BURST - 2 * LIMIT}
