"""gunicorn.conf.py: the values it computes, and how a real Gunicorn behaves with them."""

from __future__ import annotations

import asyncio
import http.client
import inspect
import os
import re
import runpy
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from gunicorn.config import Config
from uvicorn_worker import UvicornWorker

from tests import dockerfile
from tests.blueprint import (
    APP_PATH,
    SERVED_APP,
    Gunicorn,
    as_render_gives_it,
    gunicorn,
    literal_env_vars,
    load_blueprint,
    web_service,
)
from tests.servers import client_from, run_python, wait_until_refused

# A peer that is not this machine (127.0.0.1): a proxy's address, or a client's.
ELSEWHERE = "127.0.0.2"
CLIENT = "203.0.113.7"


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


def test_by_default_only_this_machine_may_set_forwarded_headers(repo_root: Path) -> None:
    assert gunicorn_settings(repo_root)["forwarded_allow_ips"] == "127.0.0.1,::1"


def test_overrides_change_the_timeouts_and_recycling(repo_root: Path) -> None:
    settings = gunicorn_settings(
        repo_root,
        GUNICORN_TIMEOUT="60",
        GUNICORN_GRACEFUL_TIMEOUT="10",
        GUNICORN_KEEPALIVE="5",
        GUNICORN_MAX_REQUESTS="100",
        GUNICORN_MAX_REQUESTS_JITTER="7",
        GUNICORN_WORKER_CONNECTIONS="50",
        FORWARDED_ALLOW_IPS="10.0.0.1",
    )
    assert (settings["timeout"], settings["graceful_timeout"], settings["keepalive"]) == (60, 10, 5)
    assert (settings["max_requests"], settings["max_requests_jitter"]) == (100, 7)
    assert settings["worker_connections"] == 50
    assert settings["forwarded_allow_ips"] == "10.0.0.1"


def test_a_malformed_override_stops_start_up_naming_the_variable(repo_root: Path) -> None:
    with pytest.raises(ValueError, match="GUNICORN_TIMEOUT"):
        gunicorn_settings(repo_root, GUNICORN_TIMEOUT="30s")
    with pytest.raises(ValueError, match="GUNICORN_CLIENT_LIMITS"):
        gunicorn_settings(repo_root, GUNICORN_CLIENT_LIMITS="yes please")


def test_client_limits_are_on_in_the_image_and_off_behind_renders_proxy(repo_root: Path) -> None:
    assert gunicorn_settings(repo_root)["worker_class"].__name__ == "DrainingUvicornWorker"
    limited = gunicorn_settings(repo_root, GUNICORN_CLIENT_LIMITS="true")["worker_class"]
    assert [cls.__name__ for cls in limited.__mro__[:2]] == [
        "ClientLimitsUvicornWorker",
        "DrainingUvicornWorker",
    ]
    assert dockerfile.environment(repo_root)["GUNICORN_CLIENT_LIMITS"] == "true"
    assert "GUNICORN_CLIENT_LIMITS" not in literal_env_vars(web_service(load_blueprint(repo_root)))


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
    printed = run_python(
        probe,
        repo_root,
        tmp_path,
        ENVIRONMENT="production",
        DATABASE_URL="postgres://app:secret@127.0.0.1:9/app",
    )
    assert printed == b"0"


def _blueprint_env(repo_root: Path) -> dict[str, str]:
    """The values render.yaml gives the web service, with one worker in a test environment."""
    service = web_service(load_blueprint(repo_root))
    return literal_env_vars(service) | {"ENVIRONMENT": "test", "WEB_CONCURRENCY": "1"}


@pytest.mark.processes
def test_behind_renders_proxy_the_client_is_the_address_it_appends_whatever_came_before(
    repo_root: Path, tmp_path: Path
) -> None:
    forged = ["", "192.0.2.1, ", "192.0.2.2, 10.0.0.1, "]
    with (
        gunicorn(repo_root, tmp_path, LOG_FORMAT="json", **_blueprint_env(repo_root)) as server,
        client_from(ELSEWHERE) as proxy,
    ):
        # What reaches the app through Render's proxy: whatever X-Forwarded-For the client
        # sent, with the address the proxy was called from appended, and that it ended TLS.
        seen = [
            proxy.get(
                f"{server.base}/test/request",
                headers={"X-Forwarded-For": f"{entries}{CLIENT}", "X-Forwarded-Proto": "https"},
            ).json()
            for entries in forged
        ]
    assert [s["client"] for s in seen] == [CLIENT] * len(forged)
    assert all(s["url"].startswith("https://") for s in seen)
    access = [line for line in server.log_lines() if line.get("path") == "/test/request"]
    assert [line["client"] for line in access] == [CLIENT] * len(forged)


@pytest.mark.processes
def test_by_default_no_forwarded_header_from_a_peer_elsewhere_is_believed(
    repo_root: Path, tmp_path: Path
) -> None:
    # The Dockerfile's defaults, with clients reaching the port directly.
    with gunicorn(repo_root, tmp_path) as server, client_from(ELSEWHERE) as client:
        forwarded = {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"}
        seen = client.get(f"{server.base}/test/request", headers=forwarded).json()
    assert seen["client"] == ELSEWHERE
    assert seen["url"].startswith("http://")


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


# --- limits for clients that reach the port directly, as the Docker image runs it ----------


@contextmanager
def gunicorn_as_the_image_runs_it(
    repo_root: Path, tmp_path: Path, **env: str
) -> Iterator[Gunicorn]:
    """The Dockerfile's command, with its environment (but the test's PORT and PATH)."""
    image = dockerfile.environment(repo_root)
    image = {name: value for name, value in image.items() if name not in {"PATH", "PORT"}}
    command = dockerfile.start_command(repo_root, app=SERVED_APP)
    with gunicorn(repo_root, tmp_path, command=command, **{**image, **env}) as server:
        yield server


def memory_mb(pid: int) -> tuple[float, float]:
    """The process's resident memory now, and the most it has ever had, in MB."""
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    now, peak = (int(status[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))
    return now, peak


def send_huge_header(port: int, size: int) -> tuple[int, bytes]:
    """Send a request whose one header value is `size` bytes, in chunks, until the server
    closes the connection: how much was sent, and what the server answered (b"" if nothing)."""
    chunk = b"a" * 65536
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sent = 0
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: ")
            while sent < size:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except TimeoutError:
            raise AssertionError(f"the server stopped reading after {sent} bytes") from None
        try:
            answer = sock.recv(1024)
        except ConnectionResetError:
            answer = b""
    return sent, answer


def seconds_until_closed(sock: socket.socket, since: float, timeout: float) -> float:
    """Seconds from `since` until the server closed the connection, having sent nothing."""
    sock.settimeout(max(0.1, since + timeout - time.monotonic()))
    try:
        assert sock.recv(1024) == b"", "the server answered instead of closing"
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"the connection was still open {timeout} s later") from None
    return time.monotonic() - since


def exchange(connection: http.client.HTTPConnection, method: str, path: str, **options: Any) -> int:
    """The status of one request on the connection, its response read to the end."""
    connection.request(method, path, **options)
    response = connection.getresponse()
    response.read()
    return response.status


def read_response(sock: socket.socket) -> int:
    """The status of the response the server sends on the socket, read to its end."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    response.read()
    response.close()
    return response.status


@pytest.mark.processes
def test_the_image_refuses_huge_headers_without_buffering_them(
    repo_root: Path, tmp_path: Path
) -> None:
    size, clients = 64 * 1024 * 1024, 6
    with gunicorn_as_the_image_runs_it(repo_root, tmp_path) as server:
        for _ in range(20):  # the memory the first requests leave behind is not the attack's
            assert httpx.get(f"{server.base}/health").status_code == 200
        before, _ = memory_mb(server.worker_pid())
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(lambda _: send_huge_header(server.port, size), range(clients)))
        _, peak = memory_mb(server.worker_pid())
        assert httpx.get(f"{server.base}/health").status_code == 200
    for sent, answer in results:
        assert sent < size, "the server read the whole header"
        assert answer == b"" or answer.startswith((b"HTTP/1.1 400 ", b"HTTP/1.1 431 ")), answer
    assert peak - before < 20, f"the worker grew from {before:.0f} MB to {peak:.0f} MB"


@pytest.mark.processes
def test_the_image_closes_connections_whose_headers_stall(repo_root: Path, tmp_path: Path) -> None:
    timeout, margin = 1, 3
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with gunicorn_as_the_image_runs_it(
        repo_root, tmp_path, GUNICORN_HEADER_TIMEOUT=str(timeout)
    ) as server:
        address = ("127.0.0.1", server.port)
        with (
            socket.create_connection(address) as silent,
            socket.create_connection(address) as half_sent,
            socket.create_connection(address) as second_half_sent,
        ):
            silent_since = time.monotonic()
            half_sent.sendall(request[:30])
            half_sent_since = time.monotonic()
            # The second request on a kept-alive connection has the same deadline.
            second_half_sent.sendall(request)
            assert read_response(second_half_sent) == 200
            second_half_sent.sendall(request[:30])
            second_since = time.monotonic()

            waited = [
                seconds_until_closed(silent, silent_since, timeout + margin),
                seconds_until_closed(half_sent, half_sent_since, timeout + margin),
                seconds_until_closed(second_half_sent, second_since, timeout + margin),
            ]
        assert httpx.get(f"{server.base}/health").status_code == 200
    # Closed by the deadline, not at once.
    assert all(timeout / 2 < seconds < timeout + margin for seconds in waited), waited


@pytest.mark.processes
def test_the_image_serves_timely_requests_as_before(repo_root: Path, tmp_path: Path) -> None:
    timeout = 1
    with gunicorn_as_the_image_runs_it(
        repo_root, tmp_path, GUNICORN_HEADER_TIMEOUT=str(timeout)
    ) as server:
        # Kept alive past the header deadline: it runs from a request's first byte.
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        assert exchange(connection, "GET", "/health") == 200
        first_socket = connection.sock
        time.sleep(timeout + 0.5)
        cookie = {"Cookie": "c" * 24 * 1024}
        assert exchange(connection, "GET", "/health", headers=cookie) == 200
        assert connection.sock is first_socket
        # A body sent along with the headers does not count towards their limit.
        assert exchange(connection, "POST", "/health", body=b"x" * 256 * 1024) == 405
        connection.close()

        # Headers that arrive in pieces, within the deadline.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\n")
            time.sleep(timeout / 2)
            sock.sendall(b"Host: 127.0.0.1\r\n\r\n")
            assert read_response(sock) == 200


@pytest.mark.processes
def test_the_image_answers_503_past_its_worker_connections(repo_root: Path, tmp_path: Path) -> None:
    limit = 3
    with gunicorn_as_the_image_runs_it(
        repo_root, tmp_path, GUNICORN_WORKER_CONNECTIONS=str(limit)
    ) as server:
        address = ("127.0.0.1", server.port)
        idle = [socket.create_connection(address) for _ in range(limit)]
        try:
            assert httpx.get(f"{server.base}/health").status_code == 503
        finally:
            for sock in idle:
                sock.close()
        deadline = time.monotonic() + 5
        while (status := httpx.get(f"{server.base}/health").status_code) == 503:
            assert time.monotonic() < deadline, "the closed connections still count"
            time.sleep(0.05)
        assert status == 200
