"""DATABASE_URL in every form the platforms hand it out is accepted and made driver-ready."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.database_url import parse_database_url, redact
from app.main import Settings


def test_render_internal_postgres_scheme_becomes_asyncpg() -> None:
    url = parse_database_url("postgres://user:secret@dpg-abc-a/app_db")
    assert url.url == "postgresql+asyncpg://user:secret@dpg-abc-a/app_db"
    assert url.is_postgres


def test_render_external_sslmode_becomes_asyncpg_ssl() -> None:
    url = parse_database_url(
        "postgres://user:secret@dpg-abc-a.oregon-postgres.render.com/app_db?sslmode=require"
    )
    assert url.url.endswith("/app_db?ssl=require")
    assert url.url.startswith("postgresql+asyncpg://")


def test_plain_postgresql_scheme_becomes_asyncpg() -> None:
    url = parse_database_url("postgresql://user:secret@localhost:5432/app")
    assert url.url == "postgresql+asyncpg://user:secret@localhost:5432/app"


def test_explicit_asyncpg_url_is_kept() -> None:
    raw = "postgresql+asyncpg://user:secret@localhost:5432/app"
    assert parse_database_url(raw).url == raw


def test_neon_channel_binding_is_dropped_and_sslmode_translated() -> None:
    url = parse_database_url(
        "postgresql://user:secret@ep-x.eu-central-1.aws.neon.tech/neondb"
        "?sslmode=require&channel_binding=require"
    )
    assert url.url.endswith("/neondb?ssl=require")
    assert url.dropped_parameters == ("channel_binding",)


def test_sqlite_aiosqlite_url_is_kept() -> None:
    url = parse_database_url("sqlite+aiosqlite:///./app.db")
    assert url.url == "sqlite+aiosqlite:///./app.db"
    assert url.is_sqlite


def test_plain_sqlite_url_gets_the_async_driver() -> None:
    assert parse_database_url("sqlite:////tmp/x.db").url == "sqlite+aiosqlite:////tmp/x.db"


def test_unknown_scheme_is_refused_naming_the_variable_but_not_the_password() -> None:
    with pytest.raises(ValueError, match="DATABASE_URL") as error:
        parse_database_url("mysql://user:hunter2@db/app")
    assert "hunter2" not in str(error.value)


def test_str_and_repr_hide_the_password() -> None:
    url = parse_database_url("postgres://user:hunter2@db:5432/app")
    assert "hunter2" not in str(url)
    assert "hunter2" not in repr(url)
    assert redact(url.url) == "postgresql+asyncpg://user:***@db:5432/app"


def test_development_defaults_to_a_local_sqlite_file() -> None:
    settings = Settings(_env_file=None, environment="development", database_url="")
    assert settings.database.url.startswith("sqlite+aiosqlite:///")


def test_production_without_database_url_refuses_to_start() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL is required"):
        Settings(_env_file=None, environment="production", database_url="")


def test_production_with_sqlite_refuses_to_start() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL must be a PostgreSQL URL"):
        Settings(_env_file=None, environment="production", database_url="sqlite:///x.db")


def test_invalid_url_error_names_the_variable_without_its_value() -> None:
    with pytest.raises(ValidationError) as error:
        Settings(_env_file=None, environment="production", database_url="mysql://u:hunter2@h/d")
    assert "DATABASE_URL" in str(error.value)
    assert "hunter2" not in str(error.value)
