"""The rate limits' settings."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, NamedTuple, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator

from app.settings import CoreSettings

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class Rate(NamedTuple):
    """At most `limit` requests in each fixed window of `seconds`."""

    limit: int
    seconds: int

    def __str__(self) -> str:
        period = next((name for name, s in _PERIODS.items() if s == self.seconds), None)
        return f"{self.limit}/{period}" if period else f"{self.limit}/{self.seconds}s"


def parse_rate(value: Any) -> Rate | None:
    """`100/minute` (or `/second`, `/hour`, `/day`); `off` or empty means no limit."""
    if value is None or isinstance(value, Rate):
        return value
    text = str(value).strip().lower()
    if text in {"", "off"}:
        return None
    count, _, period = text.partition("/")
    if not count.isdigit() or int(count) < 1 or period not in _PERIODS:
        raise ValueError("must look like 100/minute (per second, minute, hour or day) or off")
    return Rate(int(count), _PERIODS[period])


RateSetting = Annotated[Rate | None, BeforeValidator(parse_rate)]


class RateLimitBackend(StrEnum):
    AUTO = "auto"
    MEMORY = "memory"
    POSTGRES = "postgres"
    REDIS = "redis"


class RateLimitSettings(CoreSettings):
    """Rate limits (`app/rate_limits/`)."""

    rate_limit: RateSetting = Field(
        Rate(100, 60),
        description="Requests per caller (credential, or client IP without one) and window: "
        "`N/second`, `N/minute`, `N/hour`, `N/day`, or `off`.",
    )
    rate_limit_write: RateSetting = Field(
        Rate(20, 60),
        description="The same for writes (`POST`, `PATCH`, `DELETE`), counted separately.",
    )
    rate_limit_backend: RateLimitBackend = Field(
        RateLimitBackend.AUTO,
        description="`memory`, `postgres` or `redis`; `auto`: `redis` when `REDIS_URL` is set, "
        "else `postgres` in production, else `memory`. Production refuses `memory`.",
    )
    rate_limit_fail_open: bool = Field(
        True,
        description="When the backend is unreachable: `true` serves requests unlimited, "
        "`false` answers 503.",
    )
    rate_limit_key_prefix: str = Field(
        "ratelimit",
        min_length=1,
        max_length=100,
        description="Prefix of the counters' keys, to share one Redis between apps.",
    )
    redis_url: str = Field(
        "",
        description="`redis://`, `rediss://` (TLS) or `unix://` URL of the Redis that keeps the "
        "counts, e.g. Render Key Value or Upstash. Empty: none.",
        json_schema_extra={"secret": True},
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _rate_limit_backend_is_usable(self) -> Self:
        backend = self.limiter_backend
        if backend is RateLimitBackend.REDIS and not self.redis_url:
            raise ValueError("RATE_LIMIT_BACKEND=redis needs REDIS_URL")
        if backend is RateLimitBackend.POSTGRES and not self.database.is_postgres:
            raise ValueError("RATE_LIMIT_BACKEND=postgres needs a PostgreSQL DATABASE_URL")
        limited = self.rate_limit is not None or self.rate_limit_write is not None
        if backend is RateLimitBackend.MEMORY and limited and self.is_production:
            # Each process would count on its own: N workers or instances allow N times the
            # limit, and on serverless every instance starts from zero.
            raise ValueError(
                "RATE_LIMIT_BACKEND=memory counts per process; use postgres or redis "
                "when ENVIRONMENT=production"
            )
        return self

    @property
    def limiter_backend(self) -> RateLimitBackend:
        """RATE_LIMIT_BACKEND with `auto` resolved."""
        if self.rate_limit_backend is not RateLimitBackend.AUTO:
            return self.rate_limit_backend
        if self.redis_url:
            return RateLimitBackend.REDIS
        if self.is_production:
            return RateLimitBackend.POSTGRES
        return RateLimitBackend.MEMORY
