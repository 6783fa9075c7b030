"""Rate-limit counting: requests per fixed window, kept in one of three places.

`RateLimits` is the access dependency's limiter (app/access.py): it counts each API request
against RATE_LIMIT or RATE_LIMIT_WRITE, per caller (per credential, or per client IP without
one). The counts live in one of three places (RATE_LIMIT_BACKEND):
- memory: a dict in this process. Each worker and each serverless instance counts on its own,
  so it suits development and tests only.
- postgres: one atomic upsert per request in the app's own database, shared by every process
  and every serverless invocation, with no new infrastructure.
- redis: INCR and EXPIREAT in one round trip (Render Key Value, Upstash, any Redis).

If the backend cannot be reached or cannot serve (a connection refused, timed out or closed, a
server shutting down or out of connections), requests go through unlimited
(RATE_LIMIT_FAIL_OPEN=true) or are refused (false), and the change of state is logged once, not
per request. Any other error is a bug, raised like any other: a 500, logged with its traceback.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from fastapi import HTTPException, Request, Response, status

from app.access import Caller, Scope
from app.database import Database, DatabaseUnavailable
from app.rate_limits.settings import Rate, RateLimitBackend, RateLimitSettings

if TYPE_CHECKING:
    import asyncpg
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

# While the backend is failing, one request a second tries it again; the rest do not wait.
_RETRY_INTERVAL = 1.0
# A limiter that stalls every request is worse than one that gives up quickly.
_REDIS_TIMEOUT = 1.0
# The same for the PostgreSQL backend, whose connections are the app's own.
_POSTGRES_TIMEOUT = 1.0
# How often each process deletes the Postgres counters of past windows.
_CLEANUP_INTERVAL = 60.0
_MEMORY_MAX_ENTRIES = 100_000
# Longer identities, or any with a byte outside printable ASCII, are counted under a digest.
_PLAIN_IDENTITY_MAX = 64


class BackendUnavailable(Exception):
    """The backend cannot count now; the exception it raised is the cause."""


class Counter(Protocol):
    async def increment(self, key: str, expires_at: int) -> int:
        """Add one to `key`'s count, which may be forgotten after `expires_at` (Unix time).

        Raises BackendUnavailable when the backend cannot be reached or cannot serve now.
        """
        ...

    async def close(self) -> None: ...


def counted_as(identity: str) -> str:
    """The identity as a counter's key holds it: as it is when short and printable, which
    keeps keys readable, else a digest, so that any identity fits any backend's keys (the
    Postgres column holds 255 characters and no NUL) whatever a client put in it."""
    if len(identity) <= _PLAIN_IDENTITY_MAX and identity.isascii() and identity.isprintable():
        return identity
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
    # 128 bits: no two identities share a count by accident. The prefix sets it apart from
    # any plain identity of the limiter's own ("ip:...").
    return f"sha256:{digest[:32]}"


class MemoryCounter:
    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (expires_at, count)

    async def increment(self, key: str, expires_at: int) -> int:
        count = self._counts.get(key, (0, 0))[1] + 1
        if count == 1 and len(self._counts) >= _MEMORY_MAX_ENTRIES:
            now = time.time()
            self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
        self._counts[key] = (expires_at, count)
        return count

    async def close(self) -> None:
        pass


# Atomic under any concurrency: Postgres either inserts the row or increments it, never both,
# and RETURNING gives this request's own count. Outside a transaction, it is one round trip.
# asyncpg's placeholders ($1): these statements go to the driver itself (see increment).
_INCREMENT = (
    "INSERT INTO rate_limit_counters (key, count, expires_at) VALUES ($1, 1, $2) "
    "ON CONFLICT (key) DO UPDATE SET count = rate_limit_counters.count + 1 "
    "RETURNING count"
)
_DELETE_EXPIRED = "DELETE FROM rate_limit_counters WHERE expires_at < $1"


class PostgresCounter:
    def __init__(self, database: Database) -> None:
        import asyncpg

        # Once a statement is sent, only these: the connection failed or was closed (class
        # 08), the server is short of connections or memory (53), shutting down, restarting or
        # cancelling statements on a timeout (57), or failing its own I/O (58). A statement the
        # server refuses for its data or its SQL is a bug, not an outage. Failing to find or
        # make a connection is app.database's DatabaseUnavailable.
        self._statement_failures: tuple[type[BaseException], ...] = (
            asyncpg.PostgresConnectionError,
            asyncpg.InsufficientResourcesError,
            asyncpg.OperatorInterventionError,
            asyncpg.PostgresSystemError,
            OSError,
            TimeoutError,
        )
        self._database = database
        self._next_cleanup = 0.0

    async def increment(self, key: str, expires_at: int) -> int:
        try:
            async with asyncio.timeout(_POSTGRES_TIMEOUT), self._database.connect() as connection:
                # A connection from the app's pool, used through asyncpg directly: this runs on
                # every API request, and SQLAlchemy's execute() would add a few hundred
                # microseconds to it. Nothing begins a transaction: the statement commits itself.
                raw = await connection.get_raw_connection()
                driver: asyncpg.Connection = raw.driver_connection
                try:
                    count: int = await driver.fetchval(_INCREMENT, key, expires_at)
                    if time.monotonic() >= self._next_cleanup:
                        self._next_cleanup = time.monotonic() + _CLEANUP_INTERVAL
                        await driver.execute(_DELETE_EXPIRED, int(time.time()))
                except BaseException as exc:
                    unavailable = isinstance(exc, self._statement_failures) or driver.is_closed()
                    # SQLAlchemy never saw the error, so it cannot tell whether the connection
                    # broke: discard it rather than hand a dead one back to the pool.
                    await connection.invalidate()
                    if unavailable:
                        raise BackendUnavailable from exc
                    raise
        except (DatabaseUnavailable, TimeoutError) as exc:
            raise BackendUnavailable from exc
        return count

    async def close(self) -> None:
        pass  # the engine belongs to Database


class RedisCounter:
    def __init__(self, url: str) -> None:
        # Imported here: only deployments that set REDIS_URL need the package loaded.
        from redis import exceptions
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # Unreachable, timed out, still loading its data (a ConnectionError), a replica after
        # a failover, or out of memory. Any other error (a key of another type at ours) is a
        # bug.
        self._failures: tuple[type[BaseException], ...] = (
            exceptions.ConnectionError,
            exceptions.TimeoutError,
            exceptions.ReadOnlyError,
            exceptions.OutOfMemoryError,
            OSError,
            TimeoutError,
        )
        # One immediate retry replaces a connection the server closed while idle.
        self._redis: Redis = Redis.from_url(
            url,
            socket_connect_timeout=_REDIS_TIMEOUT,
            socket_timeout=_REDIS_TIMEOUT,
            retry=Retry(NoBackoff(), 1),
        )

    async def increment(self, key: str, expires_at: int) -> int:
        # MULTI/EXEC in one round trip: the count and its expiry are set together.
        try:
            async with self._redis.pipeline(transaction=True) as pipeline:
                pipeline.incr(key)
                pipeline.expireat(key, expires_at)
                count, _ = await pipeline.execute()
        except self._failures as exc:
            raise BackendUnavailable from exc
        return int(count)

    async def close(self) -> None:
        await self._redis.aclose()


class LimiterUnavailable(Exception):
    """The backend cannot count and RATE_LIMIT_FAIL_OPEN is false: refuse the request."""


@dataclass(frozen=True, slots=True)
class Usage:
    limit: int
    remaining: int
    reset: int  # seconds until the window ends
    exceeded: bool

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


class RateLimiter:
    """Counts requests in fixed windows on a backend, and decides what an outage means.

    While the backend is failing, one request at a time tries it again, at most once per
    retry interval; every other request goes on as if it had failed, without waiting for it.
    """

    def __init__(self, counter: Counter, *, backend: str, prefix: str, fail_open: bool) -> None:
        self._counter = counter
        self._backend = backend
        self._prefix = prefix
        self._fail_open = fail_open
        self._outcome = "let through unlimited" if fail_open else "refused with 503"
        self._failing = False
        self._probing = False
        self._retry_at = 0.0
        self._failing_since = 0.0
        self._uncounted = 0  # requests let through or refused since the outage began

    async def hit(self, name: str, rate: Rate) -> Usage | None:
        """Count one request against `name`.

        None when the backend is down and we fail open; LimiterUnavailable if we fail closed.
        """
        now = time.time()
        window = int(now // rate.seconds)
        ends = (window + 1) * rate.seconds
        probe = False
        if self._failing:
            if self._probing or time.monotonic() < self._retry_at:
                self._go_on_uncounted()
                return None
            self._probing = probe = True
        try:
            count = await self._counter.increment(f"{self._prefix}:{name}:{window}", ends)
        except BackendUnavailable as exc:
            self._retry_at = time.monotonic() + _RETRY_INTERVAL
            if not self._failing:
                self._failing = True
                self._failing_since = time.monotonic()
                logger.error(
                    "rate limiter: %s backend unavailable (%s); requests are %s until it recovers",
                    self._backend,
                    type(exc.__cause__).__name__,
                    self._outcome,
                )
            self._go_on_uncounted()
            return None
        finally:
            if probe:
                self._probing = False
        if self._failing:
            self._failing = False
            logger.warning(
                "rate limiter: %s backend available again after %.1f s; %d requests were %s",
                self._backend,
                time.monotonic() - self._failing_since,
                self._uncounted,
                self._outcome,
            )
            self._uncounted = 0
        return Usage(
            limit=rate.limit,
            remaining=max(rate.limit - count, 0),
            reset=max(math.ceil(ends - now), 1),
            exceeded=count > rate.limit,
        )

    def _go_on_uncounted(self) -> None:
        """Let the request through unlimited, or raise LimiterUnavailable when failing closed."""
        self._uncounted += 1
        if not self._fail_open:
            raise LimiterUnavailable

    async def close(self) -> None:
        await self._counter.close()


def create_rate_limiter(settings: RateLimitSettings, database: Database) -> RateLimiter:
    backend = settings.limiter_backend
    counter: Counter
    if backend is RateLimitBackend.REDIS:
        counter = RedisCounter(settings.redis_url)
    elif backend is RateLimitBackend.POSTGRES:
        counter = PostgresCounter(database)
    else:
        counter = MemoryCounter()
    return RateLimiter(
        counter,
        backend=backend.value,
        prefix=settings.rate_limit_key_prefix,
        fail_open=settings.rate_limit_fail_open,
    )


class RateLimits:
    """The access dependency's limiter: reads against RATE_LIMIT, writes RATE_LIMIT_WRITE."""

    def __init__(self, limiter: RateLimiter, settings: RateLimitSettings) -> None:
        self._limiter = limiter
        self._rates: dict[Scope, Rate | None] = {
            "read": settings.rate_limit,
            "write": settings.rate_limit_write,
        }

    async def limit(
        self, request: Request, response: Response, caller: Caller | None, scope: Scope
    ) -> None:
        rate = self._rates[scope]
        if rate is None:
            return
        who = caller.id if caller else f"ip:{self.client_ip(request)}"
        try:
            usage = await self._limiter.hit(f"{scope}:{counted_as(who)}", rate)
        except LimiterUnavailable:
            raise _unavailable() from None
        if usage is None:  # the backend is down and RATE_LIMIT_FAIL_OPEN lets us through
            return
        headers = usage.headers()
        if usage.exceeded:
            raise _too_many(rate, headers)
        for name, value in headers.items():
            response.headers.append(name, value)  # a fresh response: no header to replace

    async def limit_address(self, request: Request, scope: Scope) -> None:
        rate = self._rates[scope]
        if rate is None:
            return
        who = f"ip:{self.client_ip(request)}"  # the same count as requests without credentials
        try:
            usage = await self._limiter.hit(f"{scope}:{counted_as(who)}", rate)
        except LimiterUnavailable:
            raise _unavailable() from None
        if usage is not None and usage.exceeded:
            raise _too_many(rate, usage.headers())

    @staticmethod
    def client_ip(request: Request) -> str:
        """The client's address, as the core settled it (app/client_address.py)."""
        return request.client.host if request.client else "unknown"


def _unavailable() -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "Rate limiting is unavailable; try again shortly",
        headers={"Retry-After": "1"},
    )


def _too_many(rate: Rate, headers: dict[str, str]) -> HTTPException:
    headers["Retry-After"] = headers["RateLimit-Reset"]
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"Rate limit exceeded: {rate.limit} requests per {rate.seconds} s",
        headers=headers,
    )
