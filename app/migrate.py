"""Run the Alembic migrations: `python -m app.migrate` upgrades the database to head."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    config = Config(ROOT / "alembic.ini")
    config.set_main_option("script_location", str(ROOT / "migrations"))
    # env.py reads the URL from here, so the caller's settings win over the environment.
    config.attributes["database_url"] = database_url
    return config


async def upgrade_to_head(settings: Settings) -> None:
    # Alembic's async env.py runs its own event loop, so it needs a thread of its own.
    config = alembic_config(settings.database.url)
    await asyncio.to_thread(command.upgrade, config, "head")


def main() -> None:
    asyncio.run(upgrade_to_head(Settings()))


if __name__ == "__main__":
    main()
