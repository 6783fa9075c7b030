"""Shared fixtures: a real, migrated database per test session, and the app with its lifespan.

The suite runs on SQLite by default. With TEST_DATABASE_URL pointing at a PostgreSQL server
it creates a database of its own there, runs every test against it, and drops it at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import NullPool, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.api_keys import create_api_key
from app.main import create_app
from app.migrate import alembic_config
from app.settings import Settings
from tests.servers import free_port

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skips = {
        "postgres": (
            TEST_DATABASE_URL,
            "needs PostgreSQL: set TEST_DATABASE_URL (the CI run does)",
        ),
        "redis": (TEST_REDIS_URL, "needs Redis: set TEST_REDIS_URL (the CI run does)"),
    }
    for marker, (url, reason) in skips.items():
        if url:
            continue
        for item in items:
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def _admin_dsn() -> str:
    """TEST_DATABASE_URL as asyncpg itself takes it (no SQLAlchemy driver suffix)."""
    return TEST_DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _postgres_admin(statement: str) -> None:
    connection = await asyncpg.connect(_admin_dsn(), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_postgres_database() -> str:
    """A new, empty database on the test server; returns its URL in Render's form."""
    name = f"template_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    base = _admin_dsn().rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def empty_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A factory-fresh database with no schema, removed after the session."""
    if TEST_DATABASE_URL:
        url = create_postgres_database()
        yield url
        drop_postgres_database(url)
    else:
        path = tmp_path_factory.mktemp("db") / "test.db"
        yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def database_url(empty_database_url: str) -> str:
    """The session's database, migrated to head with the real migrations."""
    settings = Settings(_env_file=None, environment="test", database_url=empty_database_url)
    command.upgrade(alembic_config(settings.database.url), "head")
    return empty_database_url


@pytest.fixture
def settings(request: pytest.FixtureRequest, database_url: str) -> Settings:
    """Test settings; a test changes some with `@pytest.mark.settings(name=value, ...)`."""
    overrides: dict[str, Any] = {}
    for marker in request.node.iter_markers("settings"):
        overrides = {**marker.kwargs, **overrides}  # the marker closest to the test wins
    return Settings(_env_file=None, environment="test", database_url=database_url, **overrides)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
        # Every test starts from empty tables, whatever order the tests run in.
        await empty_tables(settings.database_url)


async def make_api_key(app: FastAPI, *scopes: str, name: str = "test") -> str:
    async with app.state.database.sessions.begin() as session:
        _, key = await create_api_key(session, name, scopes)
    return key


async def store_api_key(database_url: str, *scopes: str) -> str:
    """A new key in the database at `database_url`, for a server running in another process."""
    url = Settings(_env_file=None, database_url=database_url).database.url
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with async_sessionmaker(engine).begin() as session:
            _, key = await create_api_key(session, "test", scopes)
        return key
    finally:
        await engine.dispose()


async def empty_tables(database_url: str) -> None:
    url = Settings(_env_file=None, database_url=database_url).database.url
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            for table in ("items", "api_keys", "rate_limit_counters"):
                await connection.execute(text(f"DELETE FROM {table}"))
    finally:
        await engine.dispose()


@pytest.fixture
async def empty_tables_after(database_url: str) -> AsyncIterator[None]:
    """For tests that write through another process or pooler: leave every table empty."""
    yield
    await empty_tables(database_url)


@pytest.fixture
async def stored_api_key(database_url: str, empty_tables_after: None) -> str:
    """A key with both scopes in the session's database, for servers in other processes."""
    return await store_api_key(database_url, "read", "write")


@pytest.fixture
async def api_key(app: FastAPI) -> str:
    """A key with the `read` and `write` scopes, in the test's database."""
    return await make_api_key(app, "read", "write")


@pytest.fixture
async def anonymous_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def client(app: FastAPI, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends `api_key`, so it may read and write."""
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        yield client


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connections to it are refused."""
    return free_port()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database of this test's own, dropped afterwards."""
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture
def migrated_postgres_url(fresh_postgres_url: str) -> str:
    """A new PostgreSQL database of this test's own, migrated to head."""
    settings = Settings(_env_file=None, environment="test", database_url=fresh_postgres_url)
    command.upgrade(alembic_config(settings.database.url), "head")
    return fresh_postgres_url


@pytest.fixture
async def redis_key_prefix() -> AsyncIterator[str]:
    """A key prefix of the test's own on the shared Redis server; its keys go afterwards."""
    from redis.asyncio import Redis

    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix
    redis = Redis.from_url(TEST_REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()
