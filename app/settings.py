"""Every setting the service reads, from the environment (and an optional `.env`).

Nothing else in the package reads `os.environ`: a value that is wrong stops start-up here,
with the variable's name in the message, instead of failing at the first request.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import NamedTuple, Self

from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.database_url import DatabaseURL, parse_database_url

DEVELOPMENT_DATABASE_URL = "sqlite+aiosqlite:///./app.db"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class RateLimitBackend(StrEnum):
    # auto: redis when REDIS_URL is set, else postgres in production, else memory.
    AUTO = "auto"
    MEMORY = "memory"
    POSTGRES = "postgres"
    REDIS = "redis"


class Rate(NamedTuple):
    """At most `limit` requests in each fixed window of `seconds`."""

    limit: int
    seconds: int


_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(value: str) -> Rate | None:
    """`100/minute` (or `/second`, `/hour`, `/day`); `off` or empty means no limit."""
    text = value.strip().lower()
    if text in {"", "off"}:
        return None
    count, _, period = text.partition("/")
    if not count.isdigit() or int(count) < 1 or period not in _PERIODS:
        raise ValueError("must look like 100/minute (per second, minute, hour or day) or off")
    return Rate(int(count), _PERIODS[period])


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        # A validation error must not echo a value: it may be a password or a whole URL.
        hide_input_in_errors=True,
    )

    environment: Environment = Environment.DEVELOPMENT
    # Empty means "not set": production requires it, elsewhere the SQLite file is used.
    database_url: str = ""
    db_pool_size: PositiveInt = 5
    db_max_overflow: int = Field(default=5, ge=0)
    db_pool_timeout: PositiveFloat = 10.0
    db_pool_recycle: int = Field(default=1800, ge=-1)
    db_pool_pre_ping: bool = False
    db_connect_timeout: PositiveFloat = 5.0
    db_statement_timeout: float = Field(default=30.0, ge=0)
    ready_timeout: PositiveFloat = 2.0
    log_level: str = "INFO"

    # API keys and rate limits (app/access.py, app/api_keys.py, app/rate_limit.py).
    api_keys_required_for_reads: bool = False
    api_key_cache_seconds: float = Field(default=30.0, ge=0)
    rate_limit: str = "100/minute"
    rate_limit_write: str = "20/minute"
    rate_limit_backend: RateLimitBackend = RateLimitBackend.AUTO
    rate_limit_fail_open: bool = True
    rate_limit_key_prefix: str = Field(default="ratelimit", min_length=1, max_length=100)
    redis_url: str = ""
    client_ip_header: str = ""

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("rate_limit", "rate_limit_write")
    @classmethod
    def _rate_is_valid(cls, value: str, info: ValidationInfo) -> str:
        try:
            parse_rate(value)
        except ValueError as exc:
            raise ValueError(f"{(info.field_name or '').upper()} {exc}") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _database_url_fits_environment(self) -> Self:
        if self.environment is Environment.PRODUCTION:
            if not self.database_url:
                raise ValueError("DATABASE_URL is required when ENVIRONMENT=production")
            if not self.database.is_postgres:
                raise ValueError(
                    "DATABASE_URL must be a PostgreSQL URL when ENVIRONMENT=production"
                )
        else:
            self.database  # noqa: B018 - parse now so a malformed URL fails at start-up
        return self

    @model_validator(mode="after")
    def _rate_limit_backend_is_usable(self) -> Self:
        backend = self.limiter_backend
        if backend is RateLimitBackend.REDIS and not self.redis_url:
            raise ValueError("RATE_LIMIT_BACKEND=redis needs REDIS_URL")
        if backend is RateLimitBackend.POSTGRES and not self.database.is_postgres:
            raise ValueError("RATE_LIMIT_BACKEND=postgres needs a PostgreSQL DATABASE_URL")
        limited = self.read_rate is not None or self.write_rate is not None
        production = self.environment is Environment.PRODUCTION
        if backend is RateLimitBackend.MEMORY and limited and production:
            # Each process would count on its own: N workers or instances allow N times the
            # limit, and on serverless every instance starts from zero.
            raise ValueError(
                "RATE_LIMIT_BACKEND=memory counts per process; use postgres or redis "
                "when ENVIRONMENT=production"
            )
        return self

    @cached_property
    def database(self) -> DatabaseURL:
        return parse_database_url(self.database_url or DEVELOPMENT_DATABASE_URL)

    @cached_property
    def read_rate(self) -> Rate | None:
        return parse_rate(self.rate_limit)

    @cached_property
    def write_rate(self) -> Rate | None:
        return parse_rate(self.rate_limit_write)

    @cached_property
    def limiter_backend(self) -> RateLimitBackend:
        """RATE_LIMIT_BACKEND with `auto` resolved."""
        if self.rate_limit_backend is not RateLimitBackend.AUTO:
            return self.rate_limit_backend
        if self.redis_url:
            return RateLimitBackend.REDIS
        if self.environment is Environment.PRODUCTION:
            return RateLimitBackend.POSTGRES
        return RateLimitBackend.MEMORY
