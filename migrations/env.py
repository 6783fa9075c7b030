"""Alembic environment: async, configured by the app's settings, with every feature's models.

The version locations (one folder per feature) come from app/migrate.py's `alembic_config`;
run migrations through `python -m app.migrate`, which sets them.
"""

from __future__ import annotations

import asyncio
import importlib
from logging.config import fileConfig

from alembic import context
from sqlalchemy import NullPool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.database import Base
from app.features import feature_modules
from app.migrate import migration_url
from app.settings import CoreSettings

config = context.config
if config.config_file_name is not None and not config.attributes.get("database_url"):
    # Only when run as the `alembic` command: an app calling in keeps its own logging.
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Each feature's tables join Base.metadata when its models module is imported.
for module in feature_modules("models"):
    importlib.import_module(module)
target_metadata = Base.metadata


def _database_url() -> str:
    url: str | None = config.attributes.get("database_url")
    return url or migration_url(CoreSettings()).url


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate compares every table but those a feature's migrations create from another
    library's DDL, which no model describes (listed in the metadata's `unmodelled_tables`)."""
    return type_ != "table" or name not in target_metadata.info.get("unmodelled_tables", ())


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(_database_url(), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
