"""Run the Alembic migrations: `python -m app.migrate` upgrades the database to head.

On PostgreSQL the upgrade runs under an advisory lock, so copies started at once (a retried
deploy, two services sharing a database, a manual run during a deploy) take turns: the first
migrates, the others wait, then find the schema at head and change nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import NullPool, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

# Any constant works as long as nothing else in the database takes an advisory lock with it.
MIGRATION_LOCK_KEY = 0x6D6967726174696F  # "migratio" in ASCII, within a signed 64-bit int


def alembic_config(database_url: str) -> Config:
    config = Config(ROOT / "alembic.ini")
    config.set_main_option("script_location", str(ROOT / "migrations"))
    # env.py reads the URL from here, so the caller's settings win over the environment.
    config.attributes["database_url"] = database_url
    return config


async def upgrade_to_head(settings: Settings) -> None:
    config = alembic_config(settings.database.url)
    if settings.database.is_sqlite:
        # Alembic's async env.py runs its own event loop, so it needs a thread of its own.
        await asyncio.to_thread(command.upgrade, config, "head")
        return

    # The lock lives on a connection of its own, held while Alembic migrates on another.
    # Postgres releases it when that connection ends, so a killed run cannot leave it behind.
    # No statement_timeout here: waiting for another copy's long migration is expected.
    engine = create_async_engine(
        settings.database.url,
        poolclass=NullPool,
        connect_args={"timeout": settings.db_connect_timeout},
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with engine.connect() as lock:
            key = {"key": MIGRATION_LOCK_KEY}
            await lock.execute(text("SELECT pg_advisory_lock(:key)"), key)
            try:
                await asyncio.to_thread(command.upgrade, config, "head")
            finally:
                await lock.execute(text("SELECT pg_advisory_unlock(:key)"), key)
    finally:
        await engine.dispose()


def main() -> None:
    asyncio.run(upgrade_to_head(Settings()))


if __name__ == "__main__":
    main()
