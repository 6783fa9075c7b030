"""What a feature can attach to the engine: each engine the database makes, before its use."""

from __future__ import annotations

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.database import Database
from tests.conftest import make_settings


async def test_each_engine_made_is_handed_to_the_hooks_before_its_first_statement(
    database_url: str,
) -> None:
    database = Database(make_settings(database_url))
    executed: list[str] = []

    def listen(engine: AsyncEngine) -> None:
        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def record(*args: object) -> None:
            executed.append(str(args[2]))

    database.on_engine(listen)
    for _ in range(2):  # a second engine after the first is disposed of, as per lifespan
        async with database.connect() as connection:
            await connection.execute(text("SELECT 7"))
        await database.dispose()
    assert executed.count("SELECT 7") == 2
