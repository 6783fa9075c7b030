"""Behaviour that only a real PostgreSQL server can show."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from app.database import Database
from app.main import Settings, create_app
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres


async def test_render_postgres_scheme_connects_to_the_real_server(database_url: str) -> None:
    render_form = "postgres://" + database_url.split("://", 1)[1]
    settings = Settings(_env_file=None, environment="production", database_url=render_form)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            assert (await c.get("/ready")).status_code == 200


async def test_reads_run_outside_a_transaction_and_sessions_read_committed_in_one(
    database_url: str,
) -> None:
    database = Database(make_settings(database_url))
    # Outside a transaction each statement is one of its own, with an ID of its own.
    transaction_id = text("SELECT pg_current_xact_id()::text")
    try:
        async with database.connect() as connection:
            first = await connection.scalar(transaction_id)
            assert await connection.scalar(transaction_id) != first
        async with database.session() as session, session.begin():
            first = await session.scalar(transaction_id)
            assert await session.scalar(transaction_id) == first
            isolation = await session.scalar(text("SHOW transaction_isolation"))
            assert isolation == "read committed"
        async with database.connect() as connection:
            first = await connection.scalar(transaction_id)
            assert await connection.scalar(transaction_id) != first
    finally:
        await database.dispose()
