"""Every setting the service reads, from the environment (and an optional `.env`).

Nothing else in the package reads `os.environ`: a value that is wrong stops start-up here,
with the variable's name in the message, instead of failing at the first request.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, NamedTuple, Self

from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.database_url import DatabaseURL, parse_database_url

DEVELOPMENT_DATABASE_URL = "sqlite+aiosqlite:///./app.db"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class PoolMode(StrEnum):
    AUTO = "auto"  # `null` on a serverless platform, `queue` everywhere else
    QUEUE = "queue"  # SQLAlchemy's QueuePool: connections kept open between requests
    NULL = "null"  # SQLAlchemy's NullPool: a connection per session, closed after it


class Pooler(StrEnum):
    AUTO = "auto"  # `transaction` when DATABASE_URL names a known transaction-mode pooler
    TRANSACTION = "transaction"  # PgBouncer or Supavisor in transaction mode
    NONE = "none"  # Postgres itself, or a pooler in session mode


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


def _default_log_format(fields: dict[str, Any]) -> LogFormat:
    # JSON for log collectors in production, something a person can read everywhere else.
    production = fields.get("environment") is Environment.PRODUCTION
    return LogFormat.JSON if production else LogFormat.CONSOLE


# Values that mark a secret as never set, refused in production wherever a SecretStr holds one.
_PLACEHOLDER_SECRETS = ("change-me", "changeme", "change_me", "changethis")


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
    # Ten kept open, none beyond: SQLAlchemy closes an overflow connection as soon as it is
    # returned, so under steady load overflow means a new connection (and its set-up round
    # trips) for a share of requests. The same ceiling with no overflow keeps them all warm.
    db_pool_size: PositiveInt = 10
    db_max_overflow: int = Field(default=0, ge=0)
    db_pool_timeout: PositiveFloat = 10.0
    db_pool_recycle: int = Field(default=1800, ge=-1)
    db_pool_pre_ping: bool = False
    db_connect_timeout: PositiveFloat = 5.0
    db_statement_timeout: float = Field(default=30.0, ge=0)
    ready_timeout: PositiveFloat = 2.0
    log_level: str = "INFO"

    # Serverless platforms and connection poolers.
    db_pool_mode: PoolMode = PoolMode.AUTO
    db_pooler: Pooler = Pooler.AUTO
    # Set by the platforms themselves; they only decide what `auto` means above.
    vercel: str = Field(default="", validation_alias="VERCEL")
    aws_lambda_function_name: str = Field(default="", validation_alias="AWS_LAMBDA_FUNCTION_NAME")

    # Operating in production: logs, CORS, request limits, API docs, outbound HTTP.
    log_format: LogFormat = Field(default_factory=_default_log_format)
    # NoDecode: the raw string reaches the validator below, so a plain comma-separated list
    # works as well as a JSON list.
    cors_origins: Annotated[list[str], NoDecode] = []
    cors_allow_credentials: bool = False
    max_body_bytes: PositiveInt = 1_048_576
    docs_enabled: bool = True
    debug: bool = False
    http_client_connect_timeout: PositiveFloat = 5.0
    http_client_read_timeout: PositiveFloat = 10.0
    http_client_write_timeout: PositiveFloat = 10.0
    http_client_pool_timeout: PositiveFloat = 5.0
    http_client_max_connections: PositiveInt = 100
    http_client_max_keepalive_connections: int = Field(default=20, ge=0)

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
        if self.serverless and not self.database_url:
            # Their file systems are read-only and instances come and go: no SQLite default.
            raise ValueError("DATABASE_URL is required on Vercel and AWS Lambda")
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

    @property
    def serverless(self) -> bool:
        """Running on Vercel or AWS Lambda, where an instance may be frozen between requests."""
        return bool(self.vercel or self.aws_lambda_function_name)

    @property
    def db_null_pool(self) -> bool:
        if self.db_pool_mode is PoolMode.AUTO:
            return self.serverless
        return self.db_pool_mode is PoolMode.NULL

    @property
    def db_transaction_pooler(self) -> bool:
        if self.db_pooler is Pooler.AUTO:
            return self.database.is_transaction_pooler
        return self.db_pooler is Pooler.TRANSACTION

    # Validation of the operating settings.

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins_from_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.strip().startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("CORS_ORIGINS is not a valid JSON list") from None
        return [origin.strip() for origin in value.split(",") if origin.strip()]

    @field_validator("cors_origins")
    @classmethod
    def _origins_without_trailing_slash(cls, origins: list[str]) -> list[str]:
        # Browsers send an origin without a trailing slash: one here would never match.
        return [origin.rstrip("/") for origin in origins]

    @model_validator(mode="after")
    def _safe_configuration(self) -> Self:
        if "*" in self.cors_origins and self.cors_allow_credentials:
            # Browsers reject this pair; refusing it here beats a CORS failure in production.
            raise ValueError(
                "CORS_ORIGINS=* cannot be combined with CORS_ALLOW_CREDENTIALS=true: "
                "list the allowed origins explicitly"
            )
        if self.environment is Environment.PRODUCTION:
            if self.debug:
                raise ValueError("DEBUG must be false when ENVIRONMENT=production")
            for name, value in self:
                if isinstance(value, SecretStr) and any(
                    marker in value.get_secret_value().lower() for marker in _PLACEHOLDER_SECRETS
                ):
                    raise ValueError(
                        f"{name.upper()} still has a placeholder value; "
                        "set a real secret when ENVIRONMENT=production"
                    )
        return self

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
