"""How the database layer adapts to serverless platforms and connection poolers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import NullPool, QueuePool

from app.database import Database, create_engine
from app.main import Settings

POSTGRES = "postgresql://app:secret@db.internal:5432/app"


def _settings(database_url: str = POSTGRES, **environment: Any) -> Settings:
    # Keyword names as the environment spells them, e.g. VERCEL="1", DB_POOL_MODE="queue".
    return Settings(
        _env_file=None, environment="production", database_url=database_url, **environment
    )


@pytest.mark.parametrize(
    "platform", [{"VERCEL": "1"}, {"AWS_LAMBDA_FUNCTION_NAME": "api"}], ids=["vercel", "lambda"]
)
def test_serverless_platforms_get_a_null_pool_by_default(platform: dict[str, str]) -> None:
    assert isinstance(create_engine(_settings(**platform)).pool, NullPool)


def test_a_long_running_server_keeps_a_queue_pool_by_default() -> None:
    assert isinstance(create_engine(_settings()).pool, QueuePool)


def test_db_pool_mode_overrides_the_platform_default() -> None:
    assert isinstance(create_engine(_settings(VERCEL="1", DB_POOL_MODE="queue")).pool, QueuePool)
    assert isinstance(create_engine(_settings(DB_POOL_MODE="null")).pool, NullPool)


def test_platform_variables_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", POSTGRES)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "api")
    assert Settings(_env_file=None).serverless
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    monkeypatch.setenv("VERCEL", "1")
    assert Settings(_env_file=None).serverless


@pytest.mark.parametrize(
    "platform", [{"VERCEL": "1"}, {"AWS_LAMBDA_FUNCTION_NAME": "api"}], ids=["vercel", "lambda"]
)
def test_serverless_platforms_refuse_to_start_without_database_url(
    platform: dict[str, str],
) -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL is required on Vercel and AWS Lambda"):
        _settings("", **platform)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres.ref:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres",
        "postgresql://postgres:pw@db.abcdefghij.supabase.co:6543/postgres",
        "postgresql://u:pw@ep-cool-darkness-a1b2c3d4-pooler.us-east-2.aws.neon.tech/db"
        "?sslmode=require",
    ],
    ids=["supabase-supavisor", "supabase-pgbouncer", "neon-pooled"],
)
def test_known_transaction_pooler_urls_turn_pooler_mode_on(url: str) -> None:
    assert _settings(url).db_transaction_pooler


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres.ref:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres",
        "postgresql://postgres:pw@db.abcdefghij.supabase.co:5432/postgres",
        "postgresql://u:pw@ep-cool-darkness-a1b2c3d4.us-east-2.aws.neon.tech/db",
        "postgres://u:pw@dpg-abc-a.oregon-postgres.render.com/app",
        "postgresql://postgres@127.0.0.1:6543/app",
    ],
    ids=["supabase-session", "supabase-direct", "neon-direct", "render", "unknown-host"],
)
def test_other_urls_leave_pooler_mode_off(url: str) -> None:
    assert not _settings(url).db_transaction_pooler


def test_db_pooler_overrides_the_detection_from_the_url() -> None:
    neon_pooled = "postgresql://u:pw@ep-x-pooler.us-east-2.aws.neon.tech/db"
    assert _settings(DB_POOLER="transaction").db_transaction_pooler
    assert not _settings(neon_pooled, DB_POOLER="none").db_transaction_pooler


@pytest.mark.postgres
def test_a_kept_pool_opens_new_connections_when_a_new_event_loop_appears(
    database_url: str,
) -> None:
    database = Database(_settings(database_url, DB_POOL_MODE="queue"))

    async def ping_and_count_backends() -> int:
        await database.ping()
        return database.start().pool.checkedin()  # type: ignore[attr-defined, no-any-return]

    # Each asyncio.run() is a new loop, closed at its end with a pooled connection still open.
    assert asyncio.run(ping_and_count_backends()) == 1
    assert asyncio.run(ping_and_count_backends()) == 1

    async def dispose() -> None:
        await database.dispose()

    asyncio.run(dispose())
