"""The migrations build the schema the models describe, and take it down again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, NullPool, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.migrate import alembic_config
from app.models import Base
from app.settings import Settings
from tests.conftest import TEST_DATABASE_URL, create_postgres_database, drop_postgres_database


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[str]:
    if TEST_DATABASE_URL:
        url = create_postgres_database()
        yield Settings(_env_file=None, database_url=url).database.url
        drop_postgres_database(url)
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"


def _inspect(url: str) -> tuple[set[str], list[object]]:
    """The tables present, and how the schema differs from the models."""

    def read(connection: Connection) -> tuple[set[str], list[object]]:
        tables = set(inspect(connection).get_table_names())
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        return tables, diff

    async def run() -> tuple[set[str], list[object]]:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_upgrade_to_head_matches_the_models(fresh_url: str) -> None:
    command.upgrade(alembic_config(fresh_url), "head")
    tables, diff = _inspect(fresh_url)
    assert "items" in tables
    assert diff == []


def test_downgrade_to_base_removes_every_table(fresh_url: str) -> None:
    config = alembic_config(fresh_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    tables, _ = _inspect(fresh_url)
    assert tables <= {"alembic_version"}
