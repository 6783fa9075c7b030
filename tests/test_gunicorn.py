"""gunicorn.conf.py: the values it computes, and how a real Gunicorn behaves with them."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import runpy
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from gunicorn.config import Config
from uvicorn_worker import UvicornWorker

from tests.blueprint import APP_PATH, as_render_gives_it, load_blueprint, start_command, web_service
from tests.servers import (
    checkout,
    clean_environment,
    free_port,
    running,
    shell_environment,
    wait_until_answers,
    wait_until_refused,
)

# The app with the routes of tests/served_app.py, as a checkout serves it.
SERVED_APP = "served_app:app"


def gunicorn_settings(repo_root: Path, **env: str) -> dict[str, Any]:
    """The settings gunicorn.conf.py computes in an environment holding only `env`."""
    with mock.patch.dict(os.environ, env, clear=True):
        settings = runpy.run_path(str(repo_root / "gunicorn.conf.py"))
    return {name: value for name, value in settings.items() if not name.startswith("_")}


def test_binds_every_interface_on_the_port_from_the_environment(repo_root: Path) -> None:
    assert gunicorn_settings(repo_root, PORT="10000")["bind"] == "0.0.0.0:10000"
    assert gunicorn_settings(repo_root)["bind"] == "0.0.0.0:8000"


def test_workers_come_from_web_concurrency(repo_root: Path) -> None:
    assert gunicorn_settings(repo_root, WEB_CONCURRENCY="3")["workers"] == 3


def test_workers_default_to_one_per_usable_cpu(repo_root: Path) -> None:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert gunicorn_settings(repo_root)["workers"] == usable


def test_every_value_is_a_setting_gunicorn_knows(repo_root: Path) -> None:
    # Gunicorn silently ignores a name it does not know, so a misspelt setting does nothing.
    settings = gunicorn_settings(repo_root)
    names = {k for k, v in settings.items() if k.islower() and not inspect.ismodule(v)}
    assert names <= set(Config().settings)
    assert issubclass(settings["worker_class"], UvicornWorker)


def test_access_log_is_off_unless_asked_for(repo_root: Path) -> None:
    assert gunicorn_settings(repo_root)["accesslog"] is None
    assert gunicorn_settings(repo_root, GUNICORN_ACCESS_LOG="-")["accesslog"] == "-"
    assert gunicorn_settings(repo_root)["errorlog"] == "-"


def test_overrides_change_the_timeouts_and_recycling(repo_root: Path) -> None:
    settings = gunicorn_settings(
        repo_root,
        GUNICORN_TIMEOUT="60",
        GUNICORN_GRACEFUL_TIMEOUT="10",
        GUNICORN_KEEPALIVE="5",
        GUNICORN_MAX_REQUESTS="100",
        GUNICORN_MAX_REQUESTS_JITTER="7",
        FORWARDED_ALLOW_IPS="10.0.0.1",
    )
    assert (settings["timeout"], settings["graceful_timeout"], settings["keepalive"]) == (60, 10, 5)
    assert (settings["max_requests"], settings["max_requests_jitter"]) == (100, 7)
    assert settings["forwarded_allow_ips"] == "10.0.0.1"


def test_a_malformed_override_stops_start_up_naming_the_variable(repo_root: Path) -> None:
    with pytest.raises(ValueError, match="GUNICORN_TIMEOUT"):
        gunicorn_settings(repo_root, GUNICORN_TIMEOUT="30s")


def test_graceful_timeout_ends_before_render_kills_the_instance(repo_root: Path) -> None:
    shutdown_delay = web_service(load_blueprint(repo_root)).get("maxShutdownDelaySeconds", 30)
    # The master needs a moment after the workers stop: lifespan shutdown, then exit.
    assert gunicorn_settings(repo_root)["graceful_timeout"] <= shutdown_delay - 3


def test_every_environment_override_is_documented(repo_root: Path) -> None:
    source = (repo_root / "gunicorn.conf.py").read_text()
    variables = set(re.findall(r"""["']([A-Z][A-Z0-9_]+)["']""", source))
    assert {"PORT", "WEB_CONCURRENCY", "GUNICORN_ACCESS_LOG"} <= variables
    env_example = (repo_root / ".env.example").read_text()
    readme = (repo_root / "README.md").read_text()
    for name in variables:
        assert re.search(rf"^#? ?{name}=", env_example, re.MULTILINE), f"{name} in .env.example"
        assert f"`{name}`" in readme, f"{name} in the README"


@pytest.mark.processes
def test_importing_the_app_opens_nothing_a_fork_would_share(
    repo_root: Path, tmp_path: Path
) -> None:
    # preload_app imports app.main in the master before forking the workers: any engine,
    # connection or event loop made here would be shared by every worker.
    probe = (
        "import asyncio, gc, app.main\n"
        "from sqlalchemy.ext.asyncio import AsyncEngine\n"
        "kinds = (AsyncEngine, asyncio.AbstractEventLoop)\n"
        "print(sum(isinstance(o, kinds) for o in gc.get_objects()))\n"
    )
    env = clean_environment(
        ENVIRONMENT="production",
        DATABASE_URL="postgres://app:secret@127.0.0.1:9/app",
        PYTHONPATH=str(repo_root),
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.strip() == b"0"


@dataclass(frozen=True)
class Gunicorn:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@contextmanager
def gunicorn(
    repo_root: Path, tmp_path: Path, *, app: str = SERVED_APP, **env: str
) -> Iterator[Gunicorn]:
    """The Blueprint's start command serving `app` from a checkout, once it answers /health.

    One worker and an SQLite database it never needs, unless `env` says otherwise.
    """
    port = free_port()
    environment = shell_environment(
        PORT=str(port),
        ENVIRONMENT="test",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        WEB_CONCURRENCY="1",
    )
    environment.update(env)
    command = start_command(web_service(load_blueprint(repo_root)), app=app)
    app_dir = checkout(repo_root, tmp_path / "app")
    log = tmp_path / "gunicorn.log"
    with running(command, env=environment, cwd=app_dir, log=log) as process:
        server = Gunicorn(port, process, log)
        wait_until_answers(f"{server.base}/health", process)
        yield server


@pytest.mark.processes
def test_client_address_and_scheme_come_from_the_proxys_headers(
    repo_root: Path, tmp_path: Path
) -> None:
    with gunicorn(repo_root, tmp_path, LOG_FORMAT="json") as server:
        # What Render's proxy adds: the client's address, and that it ended TLS.
        forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
        seen = httpx.get(f"{server.base}/test/request", headers=forwarded).json()
    assert seen["client"] == "203.0.113.7"
    assert seen["url"].startswith("https://")
    access = [line for line in server.log_lines() if line.get("path") == "/test/request"]
    assert [(line["client"], line["status"]) for line in access] == [("203.0.113.7", 200)]


@pytest.mark.processes
def test_under_gunicorn_every_line_is_json_and_uvicorns_own_lines_are_kept(
    repo_root: Path, tmp_path: Path
) -> None:
    with gunicorn(repo_root, tmp_path, LOG_FORMAT="json") as server:
        assert httpx.get(f"{server.base}/no-such-page").status_code == 404
    lines = server.log_lines()  # fails on any line that is not JSON
    loggers = {line["logger"] for line in lines}
    # The master's lines, the worker's server lines, and one access line per request.
    assert {"gunicorn.error", "uvicorn.error", "app.access"} <= loggers
    assert "uvicorn.access" not in loggers
    assert any(line["message"] == "Application startup complete." for line in lines)


@pytest.mark.processes
async def test_sigterm_finishes_in_flight_requests_and_refuses_new_connections(
    repo_root: Path, tmp_path: Path
) -> None:
    in_flight, seconds = 4, 3
    graceful_timeout = gunicorn_settings(repo_root)["graceful_timeout"]
    # One worker, so that its count of sleeping requests is the server's.
    with gunicorn(repo_root, tmp_path, WEB_CONCURRENCY="1") as server:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            requests = [
                asyncio.create_task(client.get("/test/sleep", params={"seconds": seconds}))
                for _ in range(in_flight)
            ]
            deadline = time.monotonic() + 10
            while (await client.get("/test/sleeping")).json()["count"] < in_flight:
                assert time.monotonic() < deadline, "the requests never reached the app"
                await asyncio.sleep(0.05)

            server.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            await asyncio.to_thread(wait_until_refused, server.port)
            assert not any(request.done() for request in requests)

            responses = await asyncio.gather(*requests)
        assert [response.status_code for response in responses] == [200] * in_flight
        exit_code = await asyncio.to_thread(server.process.wait, graceful_timeout)
    assert exit_code == 0
    assert time.monotonic() - signalled < graceful_timeout


@pytest.mark.postgres
@pytest.mark.processes
async def test_workers_recycled_by_max_requests_fail_no_request(
    repo_root: Path, tmp_path: Path, migrated_postgres_url: str
) -> None:
    clients, workers = 4, 2
    with gunicorn(
        repo_root,
        tmp_path,
        app=APP_PATH,
        ENVIRONMENT="production",
        DATABASE_URL=as_render_gives_it(migrated_postgres_url),
        WEB_CONCURRENCY=str(workers),
        GUNICORN_MAX_REQUESTS="15",
        GUNICORN_MAX_REQUESTS_JITTER="5",
    ) as server:

        def every_worker_replaced() -> bool:
            # A worker notices its limit only between requests, on its next tick: so the
            # clients keep on until each worker has retired and its successor has booted.
            log = server.log.read_text()
            booted = log.count("Booting worker") - workers
            return min(log.count("Maximum request limit"), booted) >= workers

        deadline = time.monotonic() + 30
        # A new connection per request: a server may close an idle keep-alive connection at
        # any moment (a retiring worker does) and HTTP leaves retrying that to the client.
        # What is pinned here is that no request the server accepted is lost, including the
        # database work of /ready on the pool each new worker opens.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.base, timeout=10, limits=limits) as client:

            async def one_client() -> list[int]:
                statuses = []
                while not every_worker_replaced() and time.monotonic() < deadline:
                    statuses.append((await client.get("/ready")).status_code)
                return statuses

            results = await asyncio.gather(*(one_client() for _ in range(clients)))
        assert every_worker_replaced(), "each worker should have been replaced"
    statuses = [status for result in results for status in result]
    assert statuses and set(statuses) == {200}
