"""The core's settings, read from the environment (and an optional `.env`).

Each feature package has a settings class of its own that extends this one; `app/main.py`
combines them into the app's `Settings`, so one read of the environment validates all of them
and a wrong value stops start-up with the variable's name (see `app/settings_errors.py`).
Nothing else in the package reads `os.environ`.

Every field has a description: `docs/settings.md` and `.env.example` are generated from them.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.database_url import DatabaseURL, parse_database_url

DEVELOPMENT_DATABASE_URL = "sqlite+aiosqlite:///./app.db"
# An HTTP field name (RFC 9110's token): anything else could never match a request's header.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


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


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class CoreSettings(BaseSettings):
    """The core (`app/`): environment, database, logs, HTTP, outbound HTTP client."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        # A validation error must not echo a value: it may be a password or a whole URL.
        # app/settings_errors.py shows the values that are safe to show.
        hide_input_in_errors=True,
    )

    environment: Environment = Field(
        Environment.DEVELOPMENT,
        description="`development`, `test` or `production`. Production refuses to start on "
        "an unsafe or incomplete configuration.",
    )
    database_url: str = Field(
        "",
        description="PostgreSQL (`postgres://`, `postgresql://`, `postgresql+asyncpg://`, "
        "`?sslmode=` accepted) or `sqlite+aiosqlite://` URL. Empty in development: the local "
        "SQLite file `./app.db`, migrated on start. Required in production.",
        json_schema_extra={"secret": True},
    )
    database_direct_url: str = Field(
        "",
        description="PostgreSQL URL of the database itself, not of a pooler in front of it "
        "(same forms as `DATABASE_URL`), for migrations: `python -m app.migrate` holds a lock "
        "on one connection, which a transaction-mode pooler cannot keep. Set it when "
        "`DATABASE_URL` goes through such a pooler; empty: migrations use `DATABASE_URL`.",
        json_schema_extra={"secret": True},
    )
    db_pool_size: PositiveInt = Field(10, description="Connections kept open per process.")
    # Ten kept open, none beyond: SQLAlchemy closes an overflow connection as soon as it is
    # returned, so under steady load overflow means a new connection (and its set-up round
    # trips) for a share of requests. The same ceiling with no overflow keeps them all warm.
    db_max_overflow: int = Field(
        0, ge=0, description="Extra connections allowed above `DB_POOL_SIZE`, closed on return."
    )
    db_pool_timeout: PositiveFloat = Field(
        5.0, description="Seconds a request waits for a free pooled connection."
    )
    db_pool_recycle: int = Field(
        1800, ge=-1, description="Seconds after which a pooled connection is replaced (-1: never)."
    )
    db_pool_pre_ping: bool = Field(
        False, description="Test each pooled connection with a round trip before use."
    )
    db_connect_timeout: PositiveFloat = Field(
        5.0, description="Seconds to wait for a new database connection."
    )
    db_statement_timeout: float = Field(
        5.0, ge=0, description="Seconds after which PostgreSQL cancels a statement (0: none)."
    )
    db_request_timeout: PositiveFloat = Field(
        5.0,
        description="Seconds one use of the database by a request may take in all (waiting for "
        "a connection, connecting, every statement) before the request gets 503, whether the "
        "database is slow, frozen or gone.",
    )
    db_pool_mode: PoolMode = Field(
        PoolMode.AUTO,
        description="`queue` keeps connections between requests, `null` opens one per request; "
        "`auto`: `null` on Vercel and AWS Lambda, `queue` elsewhere.",
    )
    db_pooler: Pooler = Field(
        Pooler.AUTO,
        description="`transaction` behind PgBouncer or Supavisor in transaction mode (no "
        "prepared-statement caching, no `statement_timeout` start-up parameter); `none` for "
        "PostgreSQL itself; `auto`: `transaction` for Supabase's port 6543 and Neon's "
        "`-pooler` hosts.",
    )
    ready_timeout: PositiveFloat = Field(
        2.0, description="Seconds `/ready` waits for the database before answering 503."
    )

    log_level: LogLevel = Field(LogLevel.INFO, description="Lowest level of log lines written.")
    log_format: LogFormat | None = Field(
        None,
        description="`json` (one object per line) or `console` (for people). "
        "Unset: `json` in production, `console` elsewhere.",
    )
    # NoDecode: the raw string reaches the validator below, so a plain comma-separated list
    # works as well as a JSON list.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        [],
        description="Origins browsers may call the API from: comma-separated or a JSON list. "
        "Empty: no CORS headers at all.",
    )
    cors_allow_credentials: bool = Field(
        False,
        description="Let browsers send cookies and `Authorization` cross-origin; refused "
        "together with `CORS_ORIGINS=*`.",
    )
    max_body_bytes: PositiveInt = Field(
        1_048_576, description="Largest request body; larger ones get 413 without being read."
    )
    trusted_proxy_hops: int = Field(
        0,
        ge=0,
        le=10,
        description="Proxies in front of the app that each append the address they were called "
        "from to `X-Forwarded-For` (Render: 1): the client's address is the entry this many "
        "from the right. 0: the address the server reports. See `docs/operations.md`.",
    )
    client_ip_header: str = Field(
        "",
        description="A header your platform sets to the client's address, replacing any the "
        "client sent; it wins over `TRUSTED_PROXY_HOPS`. Empty: `x-vercel-forwarded-for` on "
        "Vercel, none elsewhere.",
    )
    docs_enabled: bool = Field(True, description="Serve `/docs`, `/redoc` and `/openapi.json`.")
    debug: bool = Field(False, description="500 responses name the exception. Development only.")
    api_keys_required_for_reads: bool = Field(
        False,
        description="Reads of the API also need credentials (an API key, or another "
        "credential a feature accepts) with the `read` scope. Writes always need them.",
    )

    http_client_connect_timeout: PositiveFloat = Field(
        5.0, description="Outbound HTTP: seconds to connect to an upstream service."
    )
    http_client_read_timeout: PositiveFloat = Field(
        10.0,
        description="Outbound HTTP: seconds to wait for each part of a response; "
        "then the API answers 504.",
    )
    http_client_write_timeout: PositiveFloat = Field(
        10.0, description="Outbound HTTP: seconds to send each part of a request."
    )
    http_client_pool_timeout: PositiveFloat = Field(
        5.0, description="Outbound HTTP: seconds to wait for a free pooled connection."
    )
    http_client_max_connections: PositiveInt = Field(
        100, description="Outbound HTTP: connections open at once, per process."
    )
    http_client_max_keepalive_connections: int = Field(
        20, ge=0, description="Outbound HTTP: idle connections kept open for reuse."
    )

    # Set by the platforms themselves; they only decide what `auto` means above.
    vercel: str = Field(
        "",
        validation_alias="VERCEL",
        description="Set by Vercel; tells the app it runs serverless. Never set it yourself.",
        json_schema_extra={"set_by_platform": True},
    )
    aws_lambda_function_name: str = Field(
        "",
        validation_alias="AWS_LAMBDA_FUNCTION_NAME",
        description="Set by AWS Lambda; tells the app it runs serverless. Never set it yourself.",
        json_schema_extra={"set_by_platform": True},
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins_from_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.strip().startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("not a valid JSON list") from None
        return [origin.strip() for origin in value.split(",") if origin.strip()]

    @field_validator("cors_origins")
    @classmethod
    def _origins_without_trailing_slash(cls, origins: list[str]) -> list[str]:
        # Browsers send an origin without a trailing slash: one here would never match.
        return [origin.rstrip("/") for origin in origins]

    @field_validator("client_ip_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        value = value.strip()
        if value and not _HEADER_NAME.fullmatch(value):
            raise ValueError("must be a header name, such as x-vercel-forwarded-for")
        return value.lower()

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _safe_configuration(self) -> Self:
        if self.serverless and not self.database_url:
            # Their file systems are read-only and instances come and go: no SQLite default.
            raise ValueError("DATABASE_URL is required on Vercel and AWS Lambda")
        database = self.database  # parsed now, so a malformed URL fails at start-up
        if self.environment is Environment.PRODUCTION:
            if not self.database_url:
                raise ValueError("DATABASE_URL is required when ENVIRONMENT=production")
            if not database.is_postgres:
                raise ValueError(
                    "DATABASE_URL must be a PostgreSQL URL when ENVIRONMENT=production"
                )
            if self.debug:
                raise ValueError("DEBUG must be false when ENVIRONMENT=production")
        if self.database_direct_url:
            # Only PostgreSQL sits behind a pooler. Anything else here would have migrations
            # change one database while the app reads another.
            if not self.migration_database.is_postgres:
                raise ValueError("DATABASE_DIRECT_URL must be a PostgreSQL URL")
            if not database.is_postgres:
                raise ValueError(
                    "DATABASE_DIRECT_URL is set, so DATABASE_URL must be a PostgreSQL URL too"
                )
        if "*" in self.cors_origins and self.cors_allow_credentials:
            # Browsers reject this pair; refusing it here beats a CORS failure in production.
            raise ValueError(
                "CORS_ORIGINS=* cannot be combined with CORS_ALLOW_CREDENTIALS=true: "
                "list the allowed origins explicitly"
            )
        return self

    # Derived values are computed on each read, never cached: `model_copy(update=...)` then
    # gives a copy whose derived values follow its fields. Each is read at start-up only.

    @property
    def database(self) -> DatabaseURL:
        return parse_database_url(self.database_url or DEVELOPMENT_DATABASE_URL)

    @property
    def migration_database(self) -> DatabaseURL:
        """Where migrations run: DATABASE_DIRECT_URL, or DATABASE_URL when it is empty."""
        if self.database_direct_url:
            return parse_database_url(self.database_direct_url, "DATABASE_DIRECT_URL")
        return self.database

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def serverless(self) -> bool:
        """Running on Vercel or AWS Lambda, where an instance may be frozen between requests."""
        return bool(self.vercel or self.aws_lambda_function_name)

    @property
    def client_address_header(self) -> str:
        """CLIENT_IP_HEADER, or on Vercel the header its edge sets."""
        if self.client_ip_header:
            return self.client_ip_header
        return "x-vercel-forwarded-for" if self.vercel else ""

    @property
    def json_logs(self) -> bool:
        if self.log_format is None:
            # JSON for log collectors in production, something a person can read elsewhere.
            return self.is_production
        return self.log_format is LogFormat.JSON

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
