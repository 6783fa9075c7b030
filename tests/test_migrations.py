"""The migrations build the schema the models describe, and take it down again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, NullPool, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.database import Base
from app.features import migration_directories
from app.migrate import alembic_config
from tests.conftest import (
    TEST_DATABASE_URL,
    create_postgres_database,
    drop_postgres_database,
    make_settings,
)


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[str]:
    if TEST_DATABASE_URL:
        url = create_postgres_database()
        yield make_settings(url).database.url
        drop_postgres_database(url)
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"


def _inspect(url: str) -> tuple[set[str], list[object]]:
    """The tables present, and how the schema differs from the models."""

    def read(connection: Connection) -> tuple[set[str], list[object]]:
        tables = set(inspect(connection).get_table_names())
        # As migrations/env.py compares: tables made from another library's DDL (a feature
        # lists them in `unmodelled_tables`) have no models to match.
        unmodelled = Base.metadata.info.get("unmodelled_tables", ())
        options = {"include_name": lambda name, kind, _: kind != "table" or name not in unmodelled}
        context = MigrationContext.configure(connection, opts=options)
        diff = compare_metadata(context, Base.metadata)
        return tables, diff

    async def run() -> tuple[set[str], list[object]]:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_upgrade_to_every_head_matches_the_models(fresh_url: str) -> None:
    command.upgrade(alembic_config(fresh_url), "heads")
    tables, diff = _inspect(fresh_url)
    assert set(Base.metadata.tables) <= tables
    assert diff == []


def test_downgrade_to_base_removes_every_table(fresh_url: str) -> None:
    config = alembic_config(fresh_url)
    command.upgrade(config, "heads")
    command.downgrade(config, "base")
    tables, _ = _inspect(fresh_url)
    assert tables <= {"alembic_version"}


def test_each_feature_with_tables_has_its_own_branch() -> None:
    # A feature's tables leave with its folder only if its migrations live there too.
    script = ScriptDirectory.from_config(alembic_config("unused"))
    for directory in migration_directories():
        heads = script.get_revisions(f"{directory.parent.name}@head")
        assert [Path(head.path).parent for head in heads if head] == [directory]
