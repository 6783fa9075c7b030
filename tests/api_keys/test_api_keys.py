"""API keys: who may write and read, how keys are stored, cached, revoked, and kept out of logs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import event, select

from app.access import WRITE
from app.api_keys import generate_key, revoke_api_key
from app.models import ApiKey
from tests.conftest import make_api_key

ITEMS = "/api/v1/items"


def _assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def _key_row(app: FastAPI, key: str) -> ApiKey:
    async with app.state.database.sessions() as session:
        row: ApiKey | None = await session.scalar(
            select(ApiKey).where(ApiKey.prefix == key.split("_")[1])
        )
    assert row is not None
    return row


def test_a_new_key_is_256_random_bits_behind_a_public_prefix() -> None:
    key, prefix = generate_key()
    marker, key_prefix, secret = key.split("_", 2)
    assert (marker, key_prefix) == ("sk", prefix)
    assert re.fullmatch(r"[0-9a-f]{12}", prefix)
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert generate_key()[0] != key


async def test_a_write_without_a_key_is_401_with_www_authenticate(
    anonymous_client: httpx.AsyncClient,
) -> None:
    response = await anonymous_client.post(ITEMS, json={"name": "widget"})
    _assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer sk_000000000000_unknown"},
        {"X-API-Key": "sk_000000000000_unknown"},
        {"Authorization": "Bearer not-a-key-at-all"},
    ],
    ids=["bearer", "x-api-key", "malformed"],
)
async def test_an_unknown_key_is_401_and_not_echoed(
    anonymous_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await anonymous_client.get(ITEMS, headers=headers)
    _assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "unknown" not in response.text and "not-a-key" not in response.text


async def test_a_key_works_in_either_header(
    anonymous_client: httpx.AsyncClient, api_key: str
) -> None:
    for n, headers in enumerate(({"Authorization": f"Bearer {api_key}"}, {"X-API-Key": api_key})):
        response = await anonymous_client.post(ITEMS, json={"name": f"w{n}"}, headers=headers)
        assert response.status_code == 201


async def test_a_key_without_the_write_scope_is_403(
    app: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    key = await make_api_key(app, "read")
    headers = {"Authorization": f"Bearer {key}"}
    _assert_error(
        await anonymous_client.post(ITEMS, json={"name": "w"}, headers=headers), 403, "forbidden"
    )
    assert (await anonymous_client.get(ITEMS, headers=headers)).status_code == 200


async def test_reads_are_public_by_default(anonymous_client: httpx.AsyncClient) -> None:
    assert (await anonymous_client.get(ITEMS)).status_code == 200


@pytest.mark.settings(api_keys_required_for_reads=True)
async def test_reads_need_a_key_with_the_read_scope_when_required(
    app: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    _assert_error(await anonymous_client.get(ITEMS), 401, "unauthorized")
    write_only = {"X-API-Key": await make_api_key(app, "write")}
    _assert_error(await anonymous_client.get(ITEMS, headers=write_only), 403, "forbidden")
    reader = {"X-API-Key": await make_api_key(app, "read")}
    assert (await anonymous_client.get(ITEMS, headers=reader)).status_code == 200


async def test_only_a_hash_of_the_key_is_stored(app: FastAPI, api_key: str) -> None:
    row = await _key_row(app, api_key)
    assert row.key_hash == hashlib.sha256(api_key.encode()).hexdigest()
    secret = api_key.split("_", 2)[2]
    stored = [str(getattr(row, column.name)) for column in ApiKey.__table__.columns]
    assert not any(secret in value for value in stored)


async def test_a_cached_key_costs_no_database_round_trip(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def needs_write() -> dict[str, bool]:
        return {"ok": True}

    app.add_api_route("/test/needs-write", needs_write, dependencies=[Depends(WRITE)])
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    engine = app.state.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert (await client.get("/test/needs-write")).status_code == 200
        assert statements, "the first request verifies the key in the database"
        statements.clear()
        assert (await client.get("/test/needs-write")).status_code == 200
        assert statements == []
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_verifying_a_key_records_when_it_was_last_used(
    app: FastAPI, client: httpx.AsyncClient, api_key: str
) -> None:
    assert (await _key_row(app, api_key)).last_used_at is None
    assert (await client.get(ITEMS)).status_code == 200
    assert (await _key_row(app, api_key)).last_used_at is not None


@pytest.mark.settings(api_key_cache_seconds=0.3)
async def test_a_revoked_key_stops_working_within_the_cache_time(
    app: FastAPI, client: httpx.AsyncClient, api_key: str
) -> None:
    assert (await client.post(ITEMS, json={"name": "before"})).status_code == 201
    async with app.state.database.sessions.begin() as session:
        await revoke_api_key(session, api_key.split("_")[1])
    await asyncio.sleep(0.4)
    _assert_error(await client.post(ITEMS, json={"name": "after"}), 401, "unauthorized")


async def test_keys_never_reach_the_logs(
    app: FastAPI,
    anonymous_client: httpx.AsyncClient,
    api_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # DEBUG everywhere, SQLAlchemy's statements and their parameters included.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    wrong = api_key[:-4] + "abcd"
    for key in (api_key, wrong):
        await anonymous_client.post(ITEMS, json={"name": "w"}, headers={"X-API-Key": key})
        await anonymous_client.get(ITEMS, headers={"Authorization": f"Bearer {key}"})
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert api_key not in caplog.text and wrong not in caplog.text


async def test_openapi_declares_the_key_and_the_errors_of_writes(
    anonymous_client: httpx.AsyncClient,
) -> None:
    document = (await anonymous_client.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["APIKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    create = document["paths"][ITEMS]["post"]
    assert create["security"] == [{"APIKey": []}]
    assert {"401", "403", "429"} <= set(create["responses"])
