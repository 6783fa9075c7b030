"""The outbound HTTP client: one per app, bounded by its timeouts, a 504 when upstream stalls."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi import FastAPI

from app.http_client import HTTPClient, HTTPClientDep
from app.main import Settings, create_app
from app.services import services_of
from tests.clients import client_for

READ_TIMEOUT = 0.5


@pytest.fixture
def stalling_server() -> Iterator[socket.socket]:
    """A server that accepts connections and then never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(5)
        yield listener


@pytest.fixture
def stalling_url(stalling_server: socket.socket) -> str:
    return f"http://127.0.0.1:{stalling_server.getsockname()[1]}/slow"


@pytest.fixture
def app_calling_upstream(database_url: str, stalling_url: str) -> FastAPI:
    settings = Settings(
        _env_file=None,
        environment="test",
        database_url=database_url,
        http_client_read_timeout=READ_TIMEOUT,
    )
    app = create_app(settings)

    async def call_upstream(http: HTTPClientDep) -> dict[str, int]:
        response = await http.get(stalling_url)
        return {"status": response.status_code}

    app.add_api_route("/test/upstream", call_upstream)
    return app


async def test_a_stalled_upstream_is_a_504_within_the_read_timeout(
    app_calling_upstream: FastAPI,
) -> None:
    async with client_for(app_calling_upstream) as client:
        started = time.monotonic()
        response = await client.get("/test/upstream")
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert READ_TIMEOUT <= elapsed < READ_TIMEOUT + 1.0
    error = response.json()["error"]
    assert error["code"] == "gateway_timeout"
    assert error["request_id"] == response.headers["x-request-id"]


def test_the_client_takes_its_timeouts_from_settings() -> None:
    settings = Settings(
        _env_file=None,
        http_client_connect_timeout=1,
        http_client_read_timeout=2,
        http_client_write_timeout=3,
        http_client_pool_timeout=4,
    )
    client = HTTPClient(settings).client()
    assert client.timeout == httpx.Timeout(connect=1, read=2, write=3, pool=4)


async def test_the_connection_limit_comes_from_settings(
    stalling_server: socket.socket, stalling_url: str
) -> None:
    settings = Settings(_env_file=None, http_client_max_connections=1, http_client_pool_timeout=0.2)
    owner = HTTPClient(settings)
    first = asyncio.create_task(owner.client().get(stalling_url))
    connection, _ = await asyncio.to_thread(stalling_server.accept)
    try:
        # The only connection is taken: the next request waits POOL_TIMEOUT for it, then fails.
        with pytest.raises(httpx.PoolTimeout):
            await owner.client().get(stalling_url)
    finally:
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        connection.close()
        await owner.aclose()


async def test_one_client_is_made_on_first_use_and_closed_with_the_lifespan(
    settings: Settings,
) -> None:
    app = create_app(settings)
    owner = services_of(app).http
    async with client_for(app):
        client = owner.client()
        assert owner.client() is client
    assert client.is_closed


async def test_the_client_is_handed_to_the_hooks_once_when_made() -> None:
    owner = HTTPClient(Settings(_env_file=None))
    seen: list[httpx.AsyncClient] = []
    owner.on_client(seen.append)
    assert seen == []  # nothing is made before first use
    client = owner.client()
    owner.client()
    assert seen == [client]
    await owner.aclose()


class _KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the connection stays open for the next request

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_each_new_event_loop_gets_a_client_of_its_own() -> None:
    # As on AWS Lambda, where Mangum may run each invocation on a new loop: a connection
    # pooled on a closed loop cannot be used on the next one.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAlive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    owner = HTTPClient(Settings(_env_file=None))
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    async def call() -> int:
        return (await owner.client().get(url)).status_code

    try:
        assert [asyncio.run(call()) for _ in range(3)] == [200, 200, 200]
    finally:
        server.shutdown()
        server.server_close()
