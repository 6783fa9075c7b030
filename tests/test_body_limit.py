"""Request bodies over MAX_BODY_BYTES get a 413 in the error shape, and are never read whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from app.main import Settings, create_app
from tests.clients import client_for

LIMIT = 4096
CHUNK = 1024


class Upload:
    """A request body streamed in chunks, counting how many the server pulled."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b"x" * CHUNK


@pytest.fixture
def limited_app(database_url: str) -> FastAPI:
    settings = Settings(
        _env_file=None, environment="test", database_url=database_url, max_body_bytes=LIMIT
    )
    app = create_app(settings)
    _add_body_length_route(app)
    return app


def _add_body_length_route(app: FastAPI) -> None:
    async def body_length(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    app.add_api_route("/test/body-length", body_length, methods=["POST"])


def _assert_413(response: httpx.Response, limit: int = LIMIT) -> None:
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert str(limit) in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_declared_length_over_the_limit_is_refused_before_reading_the_body(
    limited_app: FastAPI,
) -> None:
    upload = Upload(chunks=1000)
    async with client_for(limited_app) as client:
        response = await client.post(
            "/test/body-length",
            content=upload,
            headers={"content-length": str(1000 * CHUNK), "content-type": "application/json"},
        )
    _assert_413(response)
    assert upload.pulled == 0


async def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit(
    limited_app: FastAPI,
) -> None:
    upload = Upload(chunks=1000)  # no Content-Length: sent chunked
    async with client_for(limited_app) as client:
        response = await client.post(
            "/test/body-length", content=upload, headers={"content-type": "application/json"}
        )
    _assert_413(response)
    assert upload.pulled == LIMIT // CHUNK + 1


async def test_a_chunked_body_within_the_limit_reaches_the_route(limited_app: FastAPI) -> None:
    async with client_for(limited_app) as client:
        response = await client.post("/test/body-length", content=Upload(chunks=LIMIT // CHUNK))
    assert response.status_code == 200
    assert response.json() == {"length": LIMIT}


async def test_the_default_limit_is_one_mebibyte(database_url: str) -> None:
    app = create_app(Settings(_env_file=None, environment="test", database_url=database_url))
    _add_body_length_route(app)
    async with client_for(app) as client:
        at_limit = await client.post("/test/body-length", content=b"x" * 1_048_576)
        over = await client.post("/test/body-length", content=b"x" * 1_048_577)
    assert at_limit.json() == {"length": 1_048_576}
    _assert_413(over, limit=1_048_576)
