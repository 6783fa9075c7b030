"""Shared fixtures: a real, migrated database per test process, and the app with its lifespan.

The suite runs on SQLite by default. With TEST_DATABASE_URL pointing at a PostgreSQL server
it creates a database of its own there (one per pytest-xdist worker), runs every test against
it, and drops it at the end.

The suite is hermetic: the settings a developer's shell exports (ENVIRONMENT, DATABASE_URL,
REDIS_URL, RATE_LIMIT, ...) are removed from this process's environment before any test runs,
and no settings object reads a `.env` file (`make_settings`).
"""

from __future__ import annotations

import asyncio
import importlib
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
from sqlalchemy import NullPool
from sqlalchemy.ext.asyncio import create_async_engine

from app.access import READ, WRITE, Caller
from app.database import Base
from app.features import feature_modules
from app.main import Settings, create_app
from app.migrate import alembic_config
from tests.clients import asgi_client
from tests.servers import free_port, settings_variables

# Fixtures that start a PostgreSQL or Redis server of a test's own: own_postgres, own_redis.
pytest_plugins = ["tests.own_servers"]

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
# .ci/run sets this for its PostgreSQL pass: a test that needs a server it was not given then
# fails instead of being skipped.
REQUIRE_SERVERS = os.environ.get("TEST_REQUIRE_SERVERS", "") == "1"

for _variable in settings_variables():
    os.environ.pop(_variable, None)

# Every feature's tables, so that tests can empty them without naming any feature.
for _module in feature_modules("models"):
    importlib.import_module(_module)

FULL_ACCESS = Caller("test:full-access", frozenset({"read", "write"}))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs = {
        "postgres": (TEST_DATABASE_URL, "needs PostgreSQL: set TEST_DATABASE_URL"),
        "redis": (TEST_REDIS_URL, "needs Redis: set TEST_REDIS_URL"),
    }
    for marker, (url, reason) in needs.items():
        if url or REQUIRE_SERVERS:
            continue
        for item in items:
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def make_settings(database_url: str = "", **overrides: Any) -> Settings:
    """The app's settings for a test: `environment=test`, and nothing read from a `.env`."""
    fields: dict[str, Any] = {"environment": "test", "database_url": database_url, **overrides}
    return Settings(_env_file=None, **fields)


def assert_errors_documented(
    schema: dict[str, Any], expected: dict[tuple[str, str], set[str]]
) -> None:
    """Each (method, path) of the OpenAPI document lists these statuses, in the error shape."""
    for (method, path), codes in expected.items():
        responses = schema["paths"][path][method]["responses"]
        assert codes <= responses.keys(), (method, path)
        for code in codes:
            content = responses[code]["content"]["application/json"]["schema"]
            assert content == {"$ref": "#/components/schemas/ErrorResponse"}


def _admin_dsn() -> str:
    """TEST_DATABASE_URL as asyncpg itself takes it (no SQLAlchemy driver suffix)."""
    if not TEST_DATABASE_URL:
        raise AssertionError("this test needs PostgreSQL: set TEST_DATABASE_URL")
    return TEST_DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _postgres_admin(statement: str) -> None:
    connection = await asyncpg.connect(_admin_dsn(), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_postgres_database() -> str:
    """A new, empty database on the test server; returns its URL."""
    name = f"template_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    base = _admin_dsn().rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def migrate(url: str) -> None:
    command.upgrade(alembic_config(make_settings(url).database.url), "heads")


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
    """The session's database, migrated to every head with the real migrations."""
    migrate(empty_database_url)
    return empty_database_url


@pytest.fixture
def settings(request: pytest.FixtureRequest, database_url: str) -> Settings:
    """Test settings; a test changes some with `@pytest.mark.settings(name=value, ...)`."""
    overrides: dict[str, Any] = {}
    for marker in request.node.iter_markers("settings"):
        overrides = {**marker.kwargs, **overrides}  # the marker closest to the test wins
    return make_settings(database_url, **overrides)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
        # Every test starts from empty tables, whatever order the tests run in.
        await empty_tables(settings.database_url)


async def empty_tables(database_url: str) -> None:
    engine = create_async_engine(make_settings(database_url).database.url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(table.delete())
    finally:
        await engine.dispose()


@pytest.fixture
async def empty_tables_after(database_url: str) -> AsyncIterator[None]:
    """For tests that write through another process or pooler: leave every table empty."""
    yield
    await empty_tables(database_url)


@pytest.fixture
async def anonymous_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no credentials."""
    async with asgi_client(app) as client:
        yield client


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests may read and write, whatever credential features the app has:
    the access dependency answers as if every request carried credentials with both scopes."""

    async def full_access() -> Caller:
        return FULL_ACCESS

    app.dependency_overrides[READ] = full_access
    app.dependency_overrides[WRITE] = full_access
    async with asgi_client(app) as client:
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
    """A new PostgreSQL database of this test's own, migrated to every head."""
    migrate(fresh_postgres_url)
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
