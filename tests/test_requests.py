"""What every response carries: a request ID, security headers, one error shape (500 too)."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from app.settings import Settings
from tests.clients import client_for

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


async def test_vercels_id_is_used_when_the_client_sends_none(client: httpx.AsyncClient) -> None:
    vercel_id = "fra1::iad1::kqvzs-1763800000000-0123456789ab"
    response = await client.get("/health", headers={"x-vercel-id": vercel_id})
    assert response.headers["x-request-id"] == vercel_id


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
        ("PUT", "/api/v1/items", 405),
        ("GET", "/api/v1/items?limit=0", 422),
        ("GET", "/openapi.json", 200),
    ],
)
async def test_security_headers_are_on_every_response(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path)
    assert response.status_code == status
    _assert_security_headers(response)
    assert "strict-transport-security" not in response.headers


async def test_hsts_is_sent_in_production_only() -> None:
    settings = Settings(
        _env_file=None,
        environment="production",
        # Never connected to: /health does not touch the database.
        database_url="postgresql://app@127.0.0.1:9/app",
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
    settings = Settings(
        _env_file=None, environment="test", database_url=database_url, docs_enabled=False
    )
    async with client_for(create_app(settings)) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"


async def test_405_allow_lists_every_method_the_path_supports(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/items/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH"


def _add_failing_route(app: FastAPI) -> None:
    async def fail() -> None:
        raise RuntimeError("boom: token=s3cr3t")

    app.add_api_route("/test/fail", fail)


async def test_an_unhandled_exception_is_a_500_with_only_the_shape_and_request_id(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _add_failing_route(app)
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
    settings = Settings(_env_file=None, environment="test", database_url=database_url, debug=True)
    app = create_app(settings)
    _add_failing_route(app)
    async with client_for(app) as client:
        response = await client.get("/test/fail")
    assert response.status_code == 500
    assert "RuntimeError('boom" in response.json()["error"]["message"]


async def test_an_unhandled_exception_is_logged_once_with_its_stack_trace_and_request_id(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        _env_file=None, environment="test", database_url=database_url, log_format="json"
    )
    app = create_app(settings)
    _add_failing_route(app)
    async with client_for(app) as client:
        await client.get("/test/fail", headers={"X-Request-ID": "crash-2"})

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    errors = [line for line in lines if "exception" in line]
    assert len(errors) == 1
    assert errors[0]["level"] == "ERROR"
    assert errors[0]["request_id"] == "crash-2"
    assert "Traceback" in errors[0]["exception"]
    assert "RuntimeError: boom" in errors[0]["exception"]
    access = [line for line in lines if line["logger"] == "app.access"]
    assert [(line["status"], line["request_id"]) for line in access] == [(500, "crash-2")]
