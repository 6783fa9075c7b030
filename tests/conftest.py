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

import asyncpg
import httpx
import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import NullPool, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.main import create_app
from app.migrate import alembic_config
from app.settings import Settings

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TEST_DATABASE_URL:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set TEST_DATABASE_URL (the CI run does)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


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
def settings(database_url: str) -> Settings:
    return Settings(_env_file=None, environment="test", database_url=database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
        # Every test starts from empty tables, whatever order the tests run in.
        async with application.state.database.engine.begin() as connection:
            await connection.execute(text("DELETE FROM items"))


@pytest.fixture
async def empty_items_after(database_url: str) -> AsyncIterator[None]:
    """For tests that write through another process or pooler: leave `items` empty."""
    yield
    url = Settings(_env_file=None, database_url=database_url).database.url
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM items"))
    finally:
        await engine.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


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
