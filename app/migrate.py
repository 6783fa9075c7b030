"""Alembic migrations: every feature's branch, upgraded together.

    python -m app.migrate                          upgrade the database to every branch's head
    python -m app.migrate new FEATURE "message"    autogenerate a revision in app/FEATURE/migrations
    python -m app.migrate drop FEATURE             downgrade FEATURE's branch: its tables go
    python -m app.migrate stamp                    record every head as applied, changing nothing

Each feature package keeps its tables' migrations in its own `migrations/` folder, as an
Alembic branch labelled with the package's name (app/features.py), so deleting the folder
takes its migrations with it. The database's `alembic_version` holds one row per branch.

They run over DATABASE_DIRECT_URL, or DATABASE_URL when that is empty. On PostgreSQL the
upgrade runs under an advisory lock, so copies started at once (a retried deploy, two services
sharing a database, a manual run during a deploy) take turns: the first migrates, the others
wait, then find the schema at head and change nothing. The lock belongs to one server
connection for as long as the run lasts, which a transaction-mode pooler does not give a
client: migrations refuse to run through one, and need DATABASE_DIRECT_URL there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import NullPool, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.database_url import DatabaseURL
from app.features import APP, migration_directories
from app.settings import CoreSettings, Environment
from app.settings_errors import load_settings

ROOT = APP.parent

# Any constant works as long as nothing else in the database takes an advisory lock with it.
MIGRATION_LOCK_KEY = 0x6D6967726174696F  # "migratio" in ASCII, within a signed 64-bit int


class MigrationRefused(SystemExit):
    """Migrations cannot run as configured. Uncaught, Python prints only the message."""


def migration_url(settings: CoreSettings) -> DatabaseURL:
    """The URL migrations run over, refusing a transaction-mode pooler's.

    Such a pooler runs each transaction on whichever server connection is free, and the
    migration lock is a session lock: it would stay with a server connection other clients
    then use (and can take again), outlive the run, and be released, or not, at random.
    """
    if settings.database_direct_url:
        database = settings.migration_database
        # DB_POOLER describes DATABASE_URL; a direct URL can give a pooler away only by its host.
        if database.is_transaction_pooler:
            raise MigrationRefused(
                "DATABASE_DIRECT_URL names a transaction-mode pooler, which cannot hold the "
                "migration lock. Set it to the database's direct URL."
            )
        return database
    if settings.database.is_postgres and settings.db_transaction_pooler:
        raise MigrationRefused(
            "Migrations cannot run through the transaction-mode pooler in DATABASE_URL: it "
            "cannot hold their lock. Set DATABASE_DIRECT_URL to the database's direct URL."
        )
    return settings.database


def alembic_config(database_url: str) -> Config:
    config = Config(ROOT / "alembic.ini")
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option(
        "version_locations", os.pathsep.join(str(path) for path in migration_directories())
    )
    # env.py reads the URL from here, so the caller's settings win over the environment.
    config.attributes["database_url"] = database_url
    return config


async def upgrade_to_head(settings: CoreSettings) -> None:
    database = migration_url(settings)
    config = alembic_config(database.url)
    if database.is_sqlite:
        # Alembic's async env.py runs its own event loop, so it needs a thread of its own.
        await asyncio.to_thread(command.upgrade, config, "heads")
        return

    # The lock lives on a connection of its own, held while Alembic migrates on another.
    # Postgres releases it when that connection ends, so a killed run cannot leave it behind.
    # No statement_timeout here: waiting for another copy's long migration is expected.
    engine = create_async_engine(
        database.url,
        poolclass=NullPool,
        connect_args={"timeout": settings.db_connect_timeout},
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with engine.connect() as lock:
            key = {"key": MIGRATION_LOCK_KEY}
            await lock.execute(text("SELECT pg_advisory_lock(:key)"), key)
            try:
                await asyncio.to_thread(command.upgrade, config, "heads")
            finally:
                await lock.execute(text("SELECT pg_advisory_unlock(:key)"), key)
    finally:
        await engine.dispose()


async def prepare_development_database(settings: CoreSettings) -> None:
    """Migrate the embedded development database, so a fresh clone runs with one command.

    Anywhere else migrations are a deploy step, never a start-up side effect.
    """
    if settings.environment is Environment.DEVELOPMENT and settings.database.is_sqlite:
        await upgrade_to_head(settings)


def new_revision(feature: str, message: str) -> None:
    """Autogenerate a revision for the feature's models, against a scratch SQLite database
    migrated to every head, so it holds exactly what the models add."""
    directory = APP / feature / "migrations"
    first = not directory.is_dir()
    directory.mkdir(exist_ok=True)
    # Revision IDs like the shipped ones, `<feature>_0002`: readable in alembic_version.
    number = len(list(directory.glob("*.py"))) + 1
    with tempfile.TemporaryDirectory() as scratch:
        config = alembic_config(f"sqlite+aiosqlite:///{Path(scratch) / 'scratch.db'}")
        command.upgrade(config, "heads")
        # A new folder starts a branch of its own, labelled with the feature's name.
        command.revision(
            config,
            message=message,
            autogenerate=True,
            head="base" if first else f"{feature}@head",
            branch_label=feature if first else None,
            version_path=str(directory),
            rev_id=f"{feature}_{number:04d}",
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m app.migrate", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command")
    new = commands.add_parser("new", help="autogenerate a revision for a feature's models")
    new.add_argument("feature", help="the feature package, e.g. widgets for app/widgets/")
    new.add_argument("message", help='what the revision does, e.g. "create widgets"')
    drop = commands.add_parser("drop", help="downgrade a feature's branch, before deleting it")
    drop.add_argument("feature", help="the feature package, e.g. items")
    commands.add_parser("stamp", help="mark a schema made by an earlier version as migrated")
    arguments = parser.parse_args(argv)
    if arguments.command == "new":
        new_revision(arguments.feature, arguments.message)
        return
    settings = load_settings(CoreSettings)
    if arguments.command is None:
        asyncio.run(upgrade_to_head(settings))
        return
    config = alembic_config(migration_url(settings).url)
    if arguments.command == "drop":
        command.downgrade(config, f"{arguments.feature}@base")
    else:
        # purge: the old single-branch revision is replaced by every branch's head.
        command.stamp(config, "heads", purge=True)


if __name__ == "__main__":
    main(sys.argv[1:])
