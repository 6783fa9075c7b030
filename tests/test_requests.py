"""What every response carries: a request ID, security headers, one error shape (500 too)."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from app.main import create_app
from app.middleware import RequestMiddleware
from app.request_id import current_request_id
from tests.clients import client_for
from tests.conftest import make_settings
from tests.served_app import with_test_routes

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def _assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name


async def test_a_new_request_id_is_returned_when_none_is_sent(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_a_sane_inbound_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "checkout-7f3a.2:b_c"})
    assert response.headers["x-request-id"] == "checkout-7f3a.2:b_c"


@pytest.mark.parametrize(
    "unsafe",
    ["x" * 129, "with space", 'quote"d', "semi;colon", "{json}"],
    ids=["too-long", "space", "quote", "semicolon", "braces"],
)
async def test_an_unsafe_inbound_request_id_is_replaced(
    client: httpx.AsyncClient, unsafe: str
) -> None:
    response = await client.get("/health", headers={"X-Request-ID": unsafe})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


VERCEL_ID = "fra1::iad1::kqvzs-1763800000000-0123456789ab"


async def test_on_vercel_its_id_is_used_when_the_client_sends_none(database_url: str) -> None:
    async with client_for(create_app(make_settings(database_url, vercel="1"))) as client:
        response = await client.get("/health", headers={"x-vercel-id": VERCEL_ID})
    assert response.headers["x-request-id"] == VERCEL_ID


async def test_off_vercel_an_x_vercel_id_from_the_client_is_ignored(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health", headers={"x-vercel-id": VERCEL_ID})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_error_bodies_carry_the_request_id_of_the_response(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/no/such/route")
    assert response.status_code == 404
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),
        ("GET", "/no/such/route", 404),
        ("PUT", "/health", 405),
        ("GET", "/test/sleep?seconds=forever", 422),
        ("GET", "/openapi.json", 200),
    ],
)
async def test_security_headers_are_on_every_response(
    app: FastAPI, client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    with_test_routes(app)
    response = await client.request(method, path)
    assert response.status_code == status
    _assert_security_headers(response)
    assert "strict-transport-security" not in response.headers


async def test_hsts_is_sent_in_production_only() -> None:
    settings = make_settings(
        # Never connected to: /health does not touch the database.
        "postgresql://app@127.0.0.1:9/app",
        environment="production",
    )
    async with client_for(create_app(settings)) as client:
        response = await client.get("/health")
    assert response.headers["strict-transport-security"] == "max-age=31536000"


@pytest.mark.parametrize(("path", "marker"), [("/docs", "swagger-ui"), ("/redoc", "redoc")])
async def test_docs_pages_still_work_with_the_security_headers(
    client: httpx.AsyncClient, path: str, marker: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert marker in response.text
    _assert_security_headers(response)
    # A Content-Security-Policy strict enough to matter would block the docs' CDN assets.
    assert "content-security-policy" not in response.headers


async def test_docs_and_schema_can_be_turned_off(database_url: str) -> None:
    settings = make_settings(database_url, docs_enabled=False)
    async with client_for(create_app(settings)) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"


async def test_405_allow_lists_every_method_the_path_supports(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def answer() -> None:
        pass

    for method in ("GET", "PATCH", "DELETE"):
        app.add_api_route("/test/thing/{thing_id}", answer, methods=[method])
    response = await client.put("/test/thing/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH"


async def test_an_unhandled_exception_is_a_500_with_only_the_shape_and_request_id(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    with_test_routes(app)
    response = await client.get("/test/fail", headers={"X-Request-ID": "crash-1"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "Internal server error",
            "details": None,
            "request_id": "crash-1",
        }
    }
    assert response.headers["x-request-id"] == "crash-1"
    _assert_security_headers(response)


async def test_in_debug_mode_the_500_names_the_exception(database_url: str) -> None:
    app = with_test_routes(create_app(make_settings(database_url, debug=True)))
    async with client_for(app) as client:
        response = await client.get("/test/fail")
    assert response.status_code == 500
    assert "RuntimeError('boom" in response.json()["error"]["message"]


async def test_an_unhandled_exception_reaches_whatever_wraps_the_app(database_url: str) -> None:
    # Error trackers and tracers wrap the app and must see the exception, after the client
    # has had its 500: the middleware answers, then re-raises.
    app = with_test_routes(create_app(make_settings(database_url)))
    sent: list[int] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/test/fail",
        "raw_path": b"/test/fail",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 123),
        "server": ("testserver", 80),
        "app": app,
    }
    with pytest.raises(RuntimeError, match="boom"):
        await app(scope, receive, send)
    assert sent == [500]


async def test_the_last_body_message_is_sent_without_the_request_id_in_the_context() -> None:
    # uvicorn arms the connection's keep-alive timer while the last body message is sent, and
    # the timer keeps a copy of the context until the next request: it must hold nothing of
    # this one. Lines logged after the response (background work) still carry the ID.
    after_response: list[str | None] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})
        after_response.append(current_request_id.get())

    seen: list[tuple[str, str | None]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        seen.append((message["type"], current_request_id.get()))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"x-request-id", b"r-1")],
        "client": ("127.0.0.1", 123),
    }
    await RequestMiddleware(inner)(scope, receive, send)

    assert seen == [
        ("http.response.start", "r-1"),
        ("http.response.body", "r-1"),
        ("http.response.body", None),
    ]
    assert after_response == ["r-1"]
    assert current_request_id.get() is None
