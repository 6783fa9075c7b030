"""When PostgreSQL misbehaves: bounded waits, 503s with Retry-After, a few log lines, recovery.

Each test runs a PostgreSQL server of its own (tests/own_servers.py) that it freezes with
SIGSTOP (TCP stays open, nothing answers), stops or restarts; the shared server is never
touched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from tests.clients import client_for
from tests.conftest import make_settings, migrate
from tests.own_servers import OwnPostgres
from tests.served_app import with_test_routes
from tests.servers import checkout, free_port, running, shell_environment, wait_until_answers

# Servers of their own need PostgreSQL installed: they run where TEST_DATABASE_URL is set.
pytestmark = [pytest.mark.processes, pytest.mark.postgres]

REQUEST_TIMEOUT = 1.0
READY_TIMEOUT = 0.5
# SQLAlchemy closes a connection it cancelled gracefully, for up to two seconds.
BOUND = REQUEST_TIMEOUT + 2.5
CONCURRENT = 12


@pytest.fixture
def own_database(own_postgres: OwnPostgres) -> str:
    url = own_postgres.create_database("faults")
    migrate(url)
    return url


def _app(url: str, **settings: object) -> FastAPI:
    return with_test_routes(
        create_app(
            make_settings(
                url,
                environment="production",
                db_request_timeout=REQUEST_TIMEOUT,
                ready_timeout=READY_TIMEOUT,
                db_connect_timeout=REQUEST_TIMEOUT,
                **settings,
            )
        )
    )


@pytest.fixture
async def client(own_database: str, own_postgres: OwnPostgres) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(_app(own_database)) as client:
        assert (await client.get("/test/db")).status_code == 200  # a pooled connection exists
        yield client
        # Awake and running again before the app closes its pool at the end of its lifespan.
        own_postgres.thaw()
        if not own_postgres.running:
            own_postgres.start()


async def _timed(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.get(path)
    return response, time.monotonic() - started


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.json()["error"]["code"] == "service_unavailable"


async def test_with_the_database_frozen_every_request_gets_503_within_the_bound(
    client: httpx.AsyncClient, own_postgres: OwnPostgres
) -> None:
    own_postgres.freeze()
    answers = await asyncio.gather(*(_timed(client, "/test/db") for _ in range(CONCURRENT)))
    for response, elapsed in answers:
        _assert_unavailable(response)
        assert elapsed < BOUND


async def test_ready_answers_within_its_timeout_on_a_hung_pooled_connection(
    client: httpx.AsyncClient, own_postgres: OwnPostgres
) -> None:
    own_postgres.freeze()
    response, elapsed = await _timed(client, "/ready")
    own_postgres.thaw()
    _assert_unavailable(response)
    assert elapsed < READY_TIMEOUT + 0.5
    # The abandoned check finishes in the background; the probe recovers once it has.
    deadline = time.monotonic() + 15
    while (await client.get("/ready")).status_code != 200:
        assert time.monotonic() < deadline, "/ready did not recover after the thaw"
        await asyncio.sleep(0.1)


async def test_after_the_database_wakes_up_requests_succeed_again(
    client: httpx.AsyncClient, own_postgres: OwnPostgres
) -> None:
    own_postgres.freeze()
    await asyncio.gather(*(client.get("/test/db") for _ in range(CONCURRENT)))
    own_postgres.thaw()
    responses = await asyncio.gather(*(client.get("/test/db") for _ in range(CONCURRENT)))
    assert [r.status_code for r in responses] == [200] * CONCURRENT
    assert (await client.get("/ready")).status_code == 200


async def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    client: httpx.AsyncClient, own_postgres: OwnPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.database")
    own_postgres.stop()
    responses = [await client.get("/test/db") for _ in range(20)]
    for response in responses:
        _assert_unavailable(response)
    own_postgres.start()
    assert (await client.get("/test/db")).status_code == 200
    lines = [r for r in caplog.records if r.name == "app.database"]
    assert [r.levelname for r in lines] == ["ERROR", "WARNING"]
    assert "20 refused requests" in lines[1].getMessage()
    assert all(r.exc_info is None for r in lines), "an outage is not a bug: no stack trace"


async def test_ready_is_503_until_the_schema_is_migrated(own_postgres: OwnPostgres) -> None:
    url = own_postgres.create_database("unmigrated")
    async with client_for(_app(url)) as client:
        response = await client.get("/ready")
        _assert_unavailable(response)
        assert response.json()["error"]["message"] == "Readiness check failed: schema"
        await asyncio.to_thread(migrate, url)
        assert (await client.get("/ready")).status_code == 200


def _gunicorn_env(url: str, port: int) -> dict[str, str]:
    return shell_environment(
        PORT=str(port),
        ENVIRONMENT="production",
        DATABASE_URL=url,
        WEB_CONCURRENCY="2",
        LOG_FORMAT="json",
        DB_REQUEST_TIMEOUT=str(REQUEST_TIMEOUT),
        DB_CONNECT_TIMEOUT=str(REQUEST_TIMEOUT),
        READY_TIMEOUT=str(READY_TIMEOUT),
        RATE_LIMIT="off",
        RATE_LIMIT_WRITE="off",
    )


async def test_under_gunicorn_a_frozen_database_gives_bounded_503s_and_then_recovers(
    repo_root: Path, tmp_path: Path, own_database: str, own_postgres: OwnPostgres
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = ["gunicorn", "-c", "gunicorn.conf.py", "served_app:app"]
    clone = checkout(repo_root, tmp_path / "clone")
    log = tmp_path / "server.log"
    with running(command, env=_gunicorn_env(own_database, port), cwd=clone, log=log) as server:
        wait_until_answers(f"{base}/ready", server)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            warm = await asyncio.gather(*(client.get("/test/db") for _ in range(CONCURRENT)))
            assert {r.status_code for r in warm} == {200}
            own_postgres.freeze()
            frozen = await asyncio.gather(
                *(_timed(client, "/test/db") for _ in range(CONCURRENT)),
                _timed(client, "/ready"),
            )
            own_postgres.thaw()
            after = [await client.get("/test/db") for _ in range(CONCURRENT)]
    *requests, (ready, ready_elapsed) = frozen
    for response, elapsed in requests:
        _assert_unavailable(response)
        assert elapsed < BOUND
    _assert_unavailable(ready)
    assert ready_elapsed < READY_TIMEOUT + 0.5
    assert [r.status_code for r in after] == [200] * CONCURRENT
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert not [line for line in lines if "exception" in line], "no stack traces"
    outage = [line for line in lines if line["logger"] == "app.database"]
    assert len(outage) <= 4, "at most a start and an end line per worker"


async def test_request_data_never_reaches_the_log_through_a_failing_statement(
    repo_root: Path, tmp_path: Path, own_database: str
) -> None:
    distinctive = "tok-PARAM-5c7e19"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = ["gunicorn", "-c", "gunicorn.conf.py", "served_app:app"]
    clone = checkout(repo_root, tmp_path / "clone")
    log = tmp_path / "server.log"
    env = {**_gunicorn_env(own_database, port), "LOG_LEVEL": "DEBUG"}
    with running(command, env=env, cwd=clone, log=log) as server:
        wait_until_answers(f"{base}/health", server)
        async with httpx.AsyncClient(base_url=base) as client:
            response = await client.get("/test/db-fail", params={"value": distinctive})
        assert response.status_code == 500
    text = log.read_text()
    assert "no_such_table" in text, "the failure itself is logged"
    assert distinctive not in text
