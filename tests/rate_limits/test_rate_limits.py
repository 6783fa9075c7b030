"""Rate limits: headers, 429s, who is counted, each backend, outages, and the settings."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.main import Settings, create_app
from app.rate_limits.limiter import PostgresCounter, RateLimiter
from app.rate_limits.settings import Rate, RateLimitBackend, RateLimitSettings, parse_rate
from app.services import services_of
from app.settings_errors import SettingsError, load_settings
from tests.conftest import TEST_REDIS_URL, make_settings
from tests.own_servers import OwnRedis
from tests.rate_limits.conftest import as_caller, as_unknown, client_at, with_test_callers

READ, WRITE = "/test/read", "/test/write"
# Hour-long windows: a test never straddles two of them in practice.
hourly = pytest.mark.settings(rate_limit="3/hour", rate_limit_write="2/hour")
LIMITER_LOGGER = "app.rate_limits.limiter"


def _headers(response: httpx.Response) -> tuple[str, str, str]:
    h = response.headers
    return h["RateLimit-Limit"], h["RateLimit-Remaining"], h["RateLimit-Reset"]


async def _reads(client: httpx.AsyncClient, n: int, **request: Any) -> list[httpx.Response]:
    return [await client.get(READ, **request) for _ in range(n)]


async def _statuses(client: httpx.AsyncClient, method: str, n: int, **request: Any) -> list[int]:
    path = WRITE if method == "POST" else READ
    return [(await client.request(method, path, **request)).status_code for _ in range(n)]


@asynccontextmanager
async def _serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own with `settings`, running, and a client calling it from one address."""
    app = with_test_callers(create_app(settings))
    async with app.router.lifespan_context(app), client_at(app, "10.0.0.1") as client:
        yield client


@hourly
async def test_responses_under_the_limit_carry_the_ratelimit_headers(
    anonymous_client: httpx.AsyncClient,
) -> None:
    first, second = await _reads(anonymous_client, 2)
    assert _headers(first)[:2] == ("3", "2")
    assert _headers(second)[:2] == ("3", "1")
    assert 0 < int(_headers(second)[2]) <= 3600


@hourly
async def test_over_the_limit_is_429_with_retry_after_in_the_error_shape(
    anonymous_client: httpx.AsyncClient,
) -> None:
    *_, refused = await _reads(anonymous_client, 4)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_requests"
    limit, remaining, reset = _headers(refused)
    assert (limit, remaining) == ("3", "0")
    assert refused.headers["Retry-After"] == reset


@hourly
async def test_writes_have_their_own_limit(anonymous_client: httpx.AsyncClient) -> None:
    writes = [await anonymous_client.post(WRITE, headers=as_caller("a")) for _ in range(3)]
    assert [r.status_code for r in writes] == [200, 200, 429]
    assert _headers(writes[0])[0] == "2"
    assert (await anonymous_client.get(READ, headers=as_caller("a"))).status_code == 200


@hourly
async def test_each_caller_has_its_own_count(anonymous_client: httpx.AsyncClient) -> None:
    assert await _statuses(anonymous_client, "POST", 3, headers=as_caller("a")) == [200, 200, 429]
    assert await _statuses(anonymous_client, "POST", 2, headers=as_caller("b")) == [200, 200]


@hourly
async def test_requests_without_credentials_are_counted_per_client_ip(app: FastAPI) -> None:
    async with client_at(app, "10.0.0.1") as one, client_at(app, "10.0.0.2") as other:
        assert await _statuses(one, "GET", 4) == [200, 200, 200, 429]
        assert await _statuses(other, "GET", 1) == [200]


@hourly
async def test_x_forwarded_for_from_the_client_is_not_trusted(app: FastAPI) -> None:
    async with client_at(app, "10.0.0.1") as client:
        spoofed = [
            await client.get(READ, headers={"X-Forwarded-For": f"192.0.2.{n}"}) for n in range(4)
        ]
    assert spoofed[-1].status_code == 429


@hourly
async def test_credentials_refused_with_401_count_against_the_client_address(
    app: FastAPI,
) -> None:
    async with client_at(app, "10.0.0.1") as client:
        refused = await _statuses(client, "GET", 3, headers=as_unknown("made-up"))
        over = await client.get(READ, headers=as_unknown("another"))
        anonymous = await client.get(READ)
    assert refused == [401, 401, 401]
    assert over.status_code == anonymous.status_code == 429
    assert _headers(over)[:2] == ("3", "0")


@hourly
@pytest.mark.settings(trusted_proxy_hops=1)
async def test_behind_a_proxy_a_client_forging_forwarded_for_entries_keeps_one_count(
    app: FastAPI,
) -> None:
    async with client_at(app, "10.0.0.1") as proxy:
        statuses = [
            (
                await proxy.get(READ, headers={"X-Forwarded-For": f"192.0.2.{n}, 203.0.113.7"})
            ).status_code
            for n in range(4)
        ]
    assert statuses == [200, 200, 200, 429]


@hourly
@pytest.mark.settings(client_ip_header="x-vercel-forwarded-for")
async def test_client_ip_header_names_the_platforms_client_address(app: FastAPI) -> None:
    async with client_at(app, "10.0.0.1") as client:
        for n in range(4):
            headers = {"x-vercel-forwarded-for": f"192.0.2.{n}"}
            assert (await client.get(READ, headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "backend", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)]
)
@pytest.mark.parametrize(
    "identity",
    ["203.0.113." + "7" * 290, b"\x00\x01\x7f\xfe\xff'\\:%"],
    ids=["300-characters", "binary"],
)
async def test_an_identity_of_any_length_or_bytes_is_counted_and_limits_still_hold(
    database_url: str,
    empty_tables_after: None,
    backend: str,
    identity: str | bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(
        database_url, rate_limit_backend=backend, rate_limit="3/hour", trusted_proxy_hops=1
    )
    caplog.set_level(logging.WARNING, logger=LIMITER_LOGGER)
    async with _serving(settings) as client:
        odd = await _statuses(client, "GET", 4, headers={"X-Forwarded-For": identity})
        # Others are still counted: the backend never looked unavailable.
        plain = await _statuses(client, "GET", 4, headers={"X-Forwarded-For": "203.0.113.8"})
    assert odd == plain == [200, 200, 200, 429]
    assert [r for r in caplog.records if r.name == LIMITER_LOGGER] == []


class _RefusesFirst:
    """A backend whose first statement fails with `error`, and that counts from then on."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def increment(self, key: str, expires_at: int) -> int:
        self.calls += 1
        if self.calls == 1:
            raise self.error
        return self.calls - 1

    async def close(self) -> None:
        pass


async def test_an_error_that_is_no_outage_is_raised_and_counting_goes_on() -> None:
    error = asyncpg.StringDataRightTruncationError("value too long for type character varying")
    limiter = RateLimiter(_RefusesFirst(error), backend="postgres", prefix="p", fail_open=True)
    with pytest.raises(asyncpg.StringDataRightTruncationError):
        await limiter.hit("read:ip:203.0.113.7", Rate(3, 3600))
    usage = await limiter.hit("read:ip:203.0.113.7", Rate(3, 3600))
    assert usage is not None and usage.remaining == 2


@pytest.mark.postgres
async def test_postgres_refusing_a_statement_is_an_error_not_an_outage(app: FastAPI) -> None:
    counter = PostgresCounter(services_of(app).database)
    with pytest.raises(asyncpg.StringDataRightTruncationError):
        await counter.increment("k" * 300, 2**40)
    assert await counter.increment("k", 2**40) == 1


@pytest.mark.settings(rate_limit="off", rate_limit_write="off")
async def test_limits_set_to_off_send_no_headers(anonymous_client: httpx.AsyncClient) -> None:
    read = await anonymous_client.get(READ)
    write = await anonymous_client.post(WRITE, headers=as_caller("a"))
    assert (read.status_code, write.status_code) == (200, 200)
    assert "RateLimit-Limit" not in read.headers and "RateLimit-Limit" not in write.headers


@pytest.mark.postgres
@hourly
@pytest.mark.settings(rate_limit_backend="postgres")
async def test_postgres_backend_counts_in_one_row_per_window(
    app: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    engine = services_of(app).database.start()
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO rate_limit_counters VALUES ('ratelimit:old', 7, 0)")
        )
    assert await _statuses(anonymous_client, "GET", 4) == [200, 200, 200, 429]
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT key, count FROM rate_limit_counters"))).all()
    # The process's first hit also deleted the rows of windows that have ended.
    assert len(rows) == 1
    key, count = rows[0]
    assert key.startswith("ratelimit:read:ip:127.0.0.1:") and count == 4


@pytest.mark.postgres
@hourly
@pytest.mark.settings(rate_limit_backend="postgres")
async def test_postgres_backend_replaces_a_connection_the_server_closed(
    anonymous_client: httpx.AsyncClient, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert (await anonymous_client.get(READ)).headers["RateLimit-Remaining"] == "2"
    connection = await asyncpg.connect(database_url)
    # With a timeout, pg_terminate_backend waits until the backend has gone.
    await connection.execute(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    await connection.close()
    # The pooled connection is dead: this request goes through unlimited (fail open) ...
    assert "RateLimit-Remaining" not in (await anonymous_client.get(READ)).headers
    await asyncio.sleep(1.1)  # the limiter tries its backend again after a second
    # ... and the next one gets a new connection, not the dead one back from the pool.
    assert (await anonymous_client.get(READ)).headers["RateLimit-Remaining"] == "1"
    assert "available again" in caplog.text


@pytest.mark.redis
async def test_redis_backend_counts_in_redis(database_url: str, redis_key_prefix: str) -> None:
    from redis.asyncio import Redis

    settings = make_settings(
        database_url,
        redis_url=TEST_REDIS_URL,
        rate_limit_key_prefix=redis_key_prefix,
        rate_limit="3/hour",
    )
    assert settings.limiter_backend is RateLimitBackend.REDIS
    async with _serving(settings) as client:
        statuses = await _statuses(client, "GET", 4)
    redis = Redis.from_url(TEST_REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{redis_key_prefix}:*")]
        ttl = await redis.ttl(keys[0])
    finally:
        await redis.aclose()
    assert statuses == [200, 200, 200, 429]
    assert len(keys) == 1 and 0 < ttl <= 3600


@pytest.mark.parametrize("backend", ["redis", "postgres"])
@pytest.mark.parametrize("fail_open", [True, False], ids=["open", "closed"])
async def test_a_backend_outage_fails_open_or_closed_and_is_logged_once(
    backend: str,
    fail_open: bool,
    database_url: str,
    closed_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if backend == "postgres":
        database_url = f"postgresql://app:secret@127.0.0.1:{closed_port}/app"
    settings = make_settings(
        database_url,
        rate_limit_backend=backend,
        redis_url=f"redis://127.0.0.1:{closed_port}/0",
        rate_limit_fail_open=fail_open,
        rate_limit="3/hour",
    )
    caplog.set_level(logging.WARNING, logger=LIMITER_LOGGER)
    # Reads need nothing but the limiter, so the outage is the limiter's alone.
    async with _serving(settings) as client:
        responses = await _reads(client, 5)
    if fail_open:
        assert all(r.status_code == 200 for r in responses)
        assert all("RateLimit-Limit" not in r.headers for r in responses)
    else:
        assert all(r.status_code == 503 for r in responses)
        assert responses[0].json()["error"]["code"] == "service_unavailable"
        assert responses[0].headers["Retry-After"]
    logged = [r for r in caplog.records if r.name == LIMITER_LOGGER]
    assert len(logged) == 1
    assert backend in logged[0].getMessage()
    assert ("unlimited" if fail_open else "503") in logged[0].getMessage()


# A Redis server of its own needs Redis installed, as where TEST_REDIS_URL is set.
@pytest.mark.redis
@pytest.mark.processes
@pytest.mark.parametrize("fail_open", [True, False], ids=["open", "closed"])
async def test_while_redis_hangs_only_one_request_at_a_time_waits_for_it(
    own_redis: OwnRedis, database_url: str, fail_open: bool, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        database_url,
        redis_url=own_redis.url,
        rate_limit="1000/hour",
        rate_limit_fail_open=fail_open,
    )
    caplog.set_level(logging.WARNING, logger=LIMITER_LOGGER)

    async def timed(client: httpx.AsyncClient) -> tuple[float, int]:
        started = time.monotonic()
        status = (await client.get(READ)).status_code
        return time.monotonic() - started, status

    async with _serving(settings) as client:
        assert "RateLimit-Remaining" in (await client.get(READ)).headers
        own_redis.freeze()  # connections are accepted, nothing answers
        try:
            await client.get(READ)  # waits out the timeouts, then marks the backend failing
            await asyncio.sleep(1.1)  # the retry interval: the next request tries Redis again
            burst = await asyncio.gather(*(timed(client) for _ in range(20)))
        finally:
            own_redis.thaw()
        await asyncio.sleep(1.1)
        recovered = await client.get(READ)
    durations = sorted(duration for duration, _ in burst)
    assert durations[-2] < 0.3, durations  # all but the one trying Redis
    assert {status for _, status in burst} == ({200} if fail_open else {503})
    assert "RateLimit-Remaining" in recovered.headers
    logged = [r.getMessage() for r in caplog.records if r.name == LIMITER_LOGGER]
    assert len(logged) == 2
    assert "unavailable" in logged[0]
    assert "available again" in logged[1] and "21 requests were" in logged[1]


def test_rates_are_read_as_count_per_period() -> None:
    assert parse_rate("100/minute") == Rate(100, 60)
    assert parse_rate(" 5/Second ") == Rate(5, 1)
    assert parse_rate("2/hour") == Rate(2, 3600) and parse_rate("1/day") == Rate(1, 86400)
    assert parse_rate("off") is None and parse_rate("") is None


@pytest.mark.parametrize("value", ["100", "100/fortnight", "0/minute", "-1/hour", "x/day"])
def test_a_malformed_rate_stops_start_up_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match=r"RATE_LIMIT_WRITE .*must look like 100/minute"):
        load_settings(RateLimitSettings, _env_file=None, rate_limit_write=value)


@pytest.mark.parametrize(
    ("overrides", "backend"),
    [
        ({}, RateLimitBackend.MEMORY),
        ({"environment": "production"}, RateLimitBackend.POSTGRES),
        ({"redis_url": "redis://127.0.0.1:6379/0"}, RateLimitBackend.REDIS),
    ],
    ids=["development", "production", "redis-url"],
)
def test_the_automatic_backend_is_redis_if_configured_else_postgres_in_production_else_memory(
    overrides: dict[str, Any], backend: RateLimitBackend
) -> None:
    settings = RateLimitSettings(_env_file=None, database_url="postgresql://db/app", **overrides)
    assert settings.limiter_backend is backend


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"environment": "production", "rate_limit_backend": "memory"},
            "RATE_LIMIT_BACKEND=memory counts per process",
        ),
        ({"rate_limit_backend": "redis"}, "RATE_LIMIT_BACKEND=redis needs REDIS_URL"),
        ({"redis_url": "http://cache:6379"}, r"REDIS_URL .*must start with redis://"),
    ],
    ids=["memory-in-production", "redis-without-url", "url-not-redis"],
)
def test_an_unusable_backend_stops_start_up(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(
            RateLimitSettings, _env_file=None, database_url="postgresql://db/app", **overrides
        )


def test_the_postgres_backend_needs_a_postgres_database() -> None:
    with pytest.raises(SettingsError, match="needs a PostgreSQL DATABASE_URL"):
        load_settings(RateLimitSettings, _env_file=None, rate_limit_backend="postgres")
