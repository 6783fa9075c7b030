"""Rate limits: headers, 429s, who is counted, each backend, outages, and the settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import ValidationError
from sqlalchemy import text

from app.access import READ
from app.main import create_app
from app.settings import Rate, RateLimitBackend, Settings, parse_rate
from tests.conftest import TEST_REDIS_URL, make_api_key

ITEMS = "/api/v1/items"
# Hour-long windows: a test never straddles two of them in practice.
READS, WRITES = "3/hour", "2/hour"
hourly = pytest.mark.settings(rate_limit=READS, rate_limit_write=WRITES)


async def _ok() -> dict[str, bool]:
    return {"ok": True}


def _headers(response: httpx.Response) -> tuple[str, str, str]:
    h = response.headers
    return h["RateLimit-Limit"], h["RateLimit-Remaining"], h["RateLimit-Reset"]


async def _burst(client: httpx.AsyncClient, n: int, **request: Any) -> list[httpx.Response]:
    return [await client.request(**{"method": "GET", "url": ITEMS, **request}) for _ in range(n)]


@asynccontextmanager
async def _client_at(app: FastAPI, ip: str, **headers: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 4321))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        yield client


@hourly
async def test_responses_under_the_limit_carry_the_ratelimit_headers(
    anonymous_client: httpx.AsyncClient,
) -> None:
    first, second = await _burst(anonymous_client, 2)
    assert _headers(first)[:2] == ("3", "2")
    assert _headers(second)[:2] == ("3", "1")
    assert 0 < int(_headers(second)[2]) <= 3600


@hourly
async def test_over_the_limit_is_429_with_retry_after_in_the_error_shape(
    anonymous_client: httpx.AsyncClient,
) -> None:
    *_, refused = await _burst(anonymous_client, 4)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_requests"
    limit, remaining, reset = _headers(refused)
    assert (limit, remaining) == ("3", "0")
    assert refused.headers["Retry-After"] == reset


@hourly
async def test_writes_have_their_own_limit(client: httpx.AsyncClient) -> None:
    created = [await client.post(ITEMS, json={"name": f"w{n}"}) for n in range(3)]
    assert [r.status_code for r in created] == [201, 201, 429]
    assert _headers(created[0])[0] == "2"
    assert (await client.get(ITEMS)).status_code == 200


@hourly
async def test_each_key_has_its_own_count(app: FastAPI) -> None:
    first, second = await make_api_key(app, "write"), await make_api_key(app, "write")
    async with _client_at(app, "10.0.0.1") as client:
        for key, names in ((first, "ab"), (second, "cd")):
            for name in names:
                response = await client.post(ITEMS, json={"name": name}, headers={"X-API-Key": key})
                assert response.status_code == 201


@hourly
async def test_requests_without_a_key_are_counted_per_client_ip(app: FastAPI) -> None:
    async with _client_at(app, "10.0.0.1") as one, _client_at(app, "10.0.0.2") as other:
        assert (await _burst(one, 4))[-1].status_code == 429
        assert (await other.get(ITEMS)).status_code == 200


@hourly
async def test_x_forwarded_for_from_the_client_is_not_trusted(app: FastAPI) -> None:
    async with _client_at(app, "10.0.0.1") as client:
        spoofed = [
            await client.get(ITEMS, headers={"X-Forwarded-For": f"192.0.2.{n}"}) for n in range(4)
        ]
    assert spoofed[-1].status_code == 429


@hourly
@pytest.mark.settings(client_ip_header="x-vercel-forwarded-for")
async def test_client_ip_header_names_the_platforms_client_address(app: FastAPI) -> None:
    async with _client_at(app, "10.0.0.1") as client:
        for n in range(4):
            headers = {"x-vercel-forwarded-for": f"192.0.2.{n}"}
            assert (await client.get(ITEMS, headers=headers)).status_code == 200


@pytest.mark.settings(rate_limit="off", rate_limit_write="off")
async def test_limits_set_to_off_send_no_headers(client: httpx.AsyncClient) -> None:
    response = await client.post(ITEMS, json={"name": "w"})
    assert response.status_code == 201
    assert "RateLimit-Limit" not in response.headers


@pytest.mark.postgres
@hourly
@pytest.mark.settings(rate_limit_backend="postgres")
async def test_postgres_backend_counts_in_one_row_per_window(
    app: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    async with app.state.database.engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO rate_limit_counters VALUES ('ratelimit:old', 7, 0)")
        )
    assert [r.status_code for r in await _burst(anonymous_client, 4)] == [200, 200, 200, 429]
    async with app.state.database.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT key, count FROM rate_limit_counters"))).all()
    # The process's first hit also deleted the rows of windows that have ended.
    assert len(rows) == 1 and rows[0].count == 4
    assert rows[0].key.startswith("ratelimit:read:ip:")


@pytest.mark.postgres
@hourly
@pytest.mark.settings(rate_limit_backend="postgres")
async def test_postgres_backend_replaces_a_connection_the_server_closed(
    app: FastAPI, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app.add_api_route("/test/limited", _ok, dependencies=[Depends(READ)])
    async with _client_at(app, "10.0.0.1") as client:
        assert (await client.get("/test/limited")).headers["RateLimit-Remaining"] == "2"
        connection = await asyncpg.connect(database_url)
        # With a timeout, pg_terminate_backend waits until the backend has gone.
        await connection.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        await connection.close()
        # The pooled connection is dead: this request goes through unlimited (fail open) ...
        assert "RateLimit-Remaining" not in (await client.get("/test/limited")).headers
        await asyncio.sleep(1.1)  # the limiter tries its backend again after a second
        # ... and the next one gets a new connection, not the dead one back from the pool.
        assert (await client.get("/test/limited")).headers["RateLimit-Remaining"] == "1"
    assert "available again" in caplog.text


@pytest.mark.redis
async def test_redis_backend_counts_in_redis(database_url: str, redis_key_prefix: str) -> None:
    settings = Settings(
        _env_file=None,
        environment="test",
        database_url=database_url,
        redis_url=TEST_REDIS_URL,
        rate_limit_key_prefix=redis_key_prefix,
        rate_limit=READS,
        rate_limit_write=WRITES,
    )
    assert settings.limiter_backend is RateLimitBackend.REDIS
    app = create_app(settings)
    async with app.router.lifespan_context(app), _client_at(app, "10.0.0.1") as client:
        statuses = [r.status_code for r in await _burst(client, 4)]
        from redis.asyncio import Redis

        redis = Redis.from_url(TEST_REDIS_URL)
        keys = [key async for key in redis.scan_iter(match=f"{redis_key_prefix}:*")]
        ttl = await redis.ttl(keys[0])
        await redis.aclose()
    assert statuses == [200, 200, 200, 429]
    assert len(keys) == 1 and 0 < ttl <= 3600


def _outage_settings(backend: str, database_url: str, port: int, fail_open: bool) -> Settings:
    """Settings whose rate-limit backend listens on a closed port."""
    if backend == "postgres":
        database_url = f"postgresql://app:secret@127.0.0.1:{port}/app"
    return Settings(
        _env_file=None,
        environment="test",
        database_url=database_url,
        rate_limit_backend=backend,
        redis_url=f"redis://127.0.0.1:{port}/0",
        rate_limit_fail_open=fail_open,
        rate_limit=READS,
        rate_limit_write=WRITES,
    )


@pytest.mark.parametrize("backend", ["redis", "postgres"])
@pytest.mark.parametrize("fail_open", [True, False], ids=["open", "closed"])
async def test_a_backend_outage_fails_open_or_closed_and_is_logged_once(
    backend: str,
    fail_open: bool,
    database_url: str,
    closed_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(_outage_settings(backend, database_url, closed_port, fail_open))

    # A route that needs nothing but the limiter, so the outage is the limiter's alone.
    app.add_api_route("/test/limited", _ok, dependencies=[Depends(READ)])
    caplog.set_level(logging.WARNING, logger="app.rate_limit")
    async with app.router.lifespan_context(app), _client_at(app, "10.0.0.1") as client:
        responses = await _burst(client, 5, url="/test/limited")
    if fail_open:
        assert all(r.status_code == 200 for r in responses)
        assert all("RateLimit-Limit" not in r.headers for r in responses)
    else:
        assert all(r.status_code == 503 for r in responses)
        assert responses[0].json()["error"]["code"] == "service_unavailable"
        assert responses[0].headers["Retry-After"]
    logged = [r for r in caplog.records if r.name == "app.rate_limit"]
    assert len(logged) == 1
    assert backend in logged[0].getMessage()
    assert ("unlimited" if fail_open else "503") in logged[0].getMessage()


def test_rates_are_read_as_count_per_period() -> None:
    assert parse_rate("100/minute") == Rate(100, 60)
    assert parse_rate(" 5/Second ") == Rate(5, 1)
    assert parse_rate("off") is None and parse_rate("") is None


@pytest.mark.parametrize("value", ["100", "100/fortnight", "0/minute", "-1/hour", "x/day"])
def test_a_malformed_rate_stops_start_up_naming_the_variable(value: str) -> None:
    with pytest.raises(ValidationError, match="RATE_LIMIT_WRITE must look like"):
        Settings(_env_file=None, rate_limit_write=value)


def test_backend_defaults_to_memory_in_development_and_postgres_in_production() -> None:
    assert Settings(_env_file=None).limiter_backend is RateLimitBackend.MEMORY
    production = Settings(
        _env_file=None, environment="production", database_url="postgresql://db/app"
    )
    assert production.limiter_backend is RateLimitBackend.POSTGRES
    with_redis = Settings(_env_file=None, redis_url="redis://127.0.0.1:6379/0")
    assert with_redis.limiter_backend is RateLimitBackend.REDIS


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"environment": "production", "rate_limit_backend": "memory"},
            "RATE_LIMIT_BACKEND=memory",
        ),
        ({"rate_limit_backend": "redis"}, "needs REDIS_URL"),
        ({"redis_url": "http://cache:6379"}, "REDIS_URL must start with"),
    ],
)
def test_an_unusable_backend_stops_start_up(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, database_url="postgresql://db/app", **overrides)


def test_the_postgres_backend_needs_a_postgres_database() -> None:
    with pytest.raises(ValidationError, match="needs a PostgreSQL DATABASE_URL"):
        Settings(_env_file=None, rate_limit_backend="postgres")
