"""API keys: who may write and read, how keys are stored, cached, revoked, and kept out of logs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from sqlalchemy import event, select

from app.api_keys.keys import KeyVerifier, generate_key, revoke_api_key
from app.api_keys.models import ApiKey
from app.services import services_of
from tests.api_keys.conftest import bearer, make_api_key, prefix_of
from tests.limiters import AddressLimiter

READ_PATH, WRITE_PATH = "/test/read", "/test/write"


def _assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def _key_row(app: FastAPI, key: str) -> ApiKey:
    async with services_of(app).database.session() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix_of(key)))
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
    response = await anonymous_client.post(WRITE_PATH)
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
    response = await anonymous_client.get(READ_PATH, headers=headers)
    _assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "unknown" not in response.text and "not-a-key" not in response.text


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
async def test_a_key_works_in_either_header(
    anonymous_client: httpx.AsyncClient, api_key: str, header: str
) -> None:
    headers = bearer(api_key) if header == "Authorization" else {"X-API-Key": api_key}
    response = await anonymous_client.post(WRITE_PATH, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"caller": f"key:{prefix_of(api_key)}"}


async def test_a_key_without_the_write_scope_is_403_and_can_still_read(
    app: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    headers = bearer(await make_api_key(app, "read"))
    _assert_error(await anonymous_client.post(WRITE_PATH, headers=headers), 403, "forbidden")
    assert (await anonymous_client.get(READ_PATH, headers=headers)).status_code == 200


async def test_reads_are_public_by_default(anonymous_client: httpx.AsyncClient) -> None:
    response = await anonymous_client.get(READ_PATH)
    assert response.status_code == 200
    assert response.json() == {"caller": None}


@pytest.mark.settings(api_keys_required_for_reads=True)
async def test_reads_need_a_key_with_the_read_scope_when_required(
    app: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    _assert_error(await anonymous_client.get(READ_PATH), 401, "unauthorized")
    write_only = bearer(await make_api_key(app, "write"))
    _assert_error(await anonymous_client.get(READ_PATH, headers=write_only), 403, "forbidden")
    reader = bearer(await make_api_key(app, "read"))
    assert (await anonymous_client.get(READ_PATH, headers=reader)).status_code == 200


async def test_only_a_hash_of_the_key_is_stored(app: FastAPI, api_key: str) -> None:
    row = await _key_row(app, api_key)
    assert row.key_hash == hashlib.sha256(api_key.encode()).hexdigest()
    secret = api_key.split("_", 2)[2]
    stored = [str(getattr(row, column.name)) for column in ApiKey.__table__.columns]
    assert not any(secret in value for value in stored)


async def test_a_cached_key_costs_no_database_round_trip(
    app: FastAPI, anonymous_client: httpx.AsyncClient, api_key: str
) -> None:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    engine = services_of(app).database.start().sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert (await anonymous_client.get(READ_PATH, headers=bearer(api_key))).status_code == 200
        assert statements, "the first request verifies the key in the database"
        statements.clear()
        assert (await anonymous_client.get(READ_PATH, headers=bearer(api_key))).status_code == 200
        assert statements == []
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextmanager
def _key_lookups(app: FastAPI) -> Iterator[list[str]]:
    """The queries of the api_keys table the app makes meanwhile."""
    lookups: list[str] = []

    def record(*args: Any) -> None:
        statement: str = args[2]
        if statement.lstrip().upper().startswith("SELECT") and "api_keys" in statement:
            lookups.append(statement)

    engine = services_of(app).database.start().sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield lookups
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _limit_addresses(app: FastAPI, allowed: int) -> AddressLimiter:
    """Only a limiter of the test's own, which refuses an address past `allowed` charges."""
    limiter = AddressLimiter(allowed)
    services_of(app).access.limiters[:] = [limiter]
    return limiter


async def _nothing() -> None:
    pass


async def test_made_up_keys_from_one_address_cost_at_most_its_limit_in_lookups(
    app: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    _limit_addresses(app, allowed=5)
    with _key_lookups(app) as lookups:
        statuses = [
            (await anonymous_client.get(READ_PATH, headers=bearer(generate_key()[0]))).status_code
            for _ in range(1000)
        ]
    assert statuses == [401] * 5 + [429] * 995
    assert len(lookups) == 5


async def test_an_unknown_key_sent_again_is_refused_from_memory_and_still_counted(
    app: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    limiter = _limit_addresses(app, allowed=3)
    made_up = bearer(generate_key()[0])
    with _key_lookups(app) as lookups:
        statuses = [
            (await anonymous_client.get(READ_PATH, headers=made_up)).status_code for _ in range(5)
        ]
    assert statuses == [401, 401, 401, 429, 429]
    assert len(lookups) == 1
    assert limiter.charged["127.0.0.1"] == 5


async def test_a_cached_key_is_never_counted_against_the_clients_address(
    app: FastAPI, anonymous_client: httpx.AsyncClient, api_key: str
) -> None:
    limiter = _limit_addresses(app, allowed=1)
    for _ in range(5):
        assert (await anonymous_client.get(READ_PATH, headers=bearer(api_key))).status_code == 200
    assert limiter.charged["127.0.0.1"] == 1  # the first request, which looked the key up


async def test_concurrent_requests_with_one_key_share_one_lookup(
    app: FastAPI, anonymous_client: httpx.AsyncClient, api_key: str
) -> None:
    with _key_lookups(app) as lookups:
        responses = await asyncio.gather(
            *(anonymous_client.get(READ_PATH, headers=bearer(api_key)) for _ in range(10))
        )
    assert [r.status_code for r in responses] == [200] * 10
    assert len(lookups) == 1


async def test_a_full_cache_forgets_only_the_least_recently_used_key(app: FastAPI) -> None:
    verifier = KeyVerifier(services_of(app).database, cache_seconds=30, max_cached=2)
    first, second, third = [await make_api_key(app, "read") for _ in range(3)]

    async def verify(key: str) -> None:
        assert await verifier.authenticate(key, before_lookup=_nothing) is not None

    for key in (first, second, first, third):  # `second` is now the least recently used
        await verify(key)
    with _key_lookups(app) as lookups:
        await verify(first)
        await verify(third)
        assert lookups == []
        await verify(second)
        assert len(lookups) == 1


async def test_made_up_keys_never_push_a_valid_key_out_of_the_cache(
    app: FastAPI, api_key: str
) -> None:
    verifier = KeyVerifier(services_of(app).database, cache_seconds=30, max_cached=2)
    assert await verifier.authenticate(api_key, before_lookup=_nothing) is not None
    for _ in range(5):
        with pytest.raises(HTTPException):
            await verifier.authenticate(generate_key()[0], before_lookup=_nothing)
    with _key_lookups(app) as lookups:
        assert await verifier.authenticate(api_key, before_lookup=_nothing) is not None
    assert lookups == []


async def test_verifying_a_key_records_when_it_was_last_used(
    app: FastAPI, anonymous_client: httpx.AsyncClient, api_key: str
) -> None:
    assert (await _key_row(app, api_key)).last_used_at is None
    assert (await anonymous_client.get(READ_PATH, headers=bearer(api_key))).status_code == 200
    assert (await _key_row(app, api_key)).last_used_at is not None


@pytest.mark.settings(api_key_cache_seconds=0.3)
async def test_a_revoked_key_stops_working_within_the_cache_time(
    app: FastAPI, anonymous_client: httpx.AsyncClient, api_key: str
) -> None:
    assert (await anonymous_client.post(WRITE_PATH, headers=bearer(api_key))).status_code == 200
    async with services_of(app).database.session() as session, session.begin():
        await revoke_api_key(session, prefix_of(api_key))
    await asyncio.sleep(0.4)
    response = await anonymous_client.post(WRITE_PATH, headers=bearer(api_key))
    _assert_error(response, 401, "unauthorized")


async def test_keys_never_reach_the_logs(
    anonymous_client: httpx.AsyncClient, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    # DEBUG everywhere, SQLAlchemy's statements and their parameters included.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    wrong = api_key[:-4] + "abcd"
    for key in (api_key, wrong):
        await anonymous_client.post(WRITE_PATH, headers={"X-API-Key": key})
        await anonymous_client.get(READ_PATH, headers=bearer(key))
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert api_key not in caplog.text and wrong not in caplog.text


async def test_openapi_declares_the_bearer_scheme_on_writes(
    anonymous_client: httpx.AsyncClient,
) -> None:
    document = (await anonymous_client.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["Bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["paths"][WRITE_PATH]["post"]["security"] == [{"Bearer": []}]
