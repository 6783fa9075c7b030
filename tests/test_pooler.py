"""Behind a transaction-mode pooler (a real PgBouncer here) the API works with DB_POOLER set,
and leaves no prepared statements behind on the pooler's server connections.

Without it, the failures the setting exists for are real: asyncpg's prepared statements are
missing on the next transaction's server connection, and PgBouncer refuses the
statement_timeout startup parameter. So is the one DATABASE_DIRECT_URL exists for: the
migration lock, a session lock, does not hold through the pooler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.database import DatabaseUnavailable, SessionDep
from app.main import Settings, create_app
from app.migrate import MIGRATION_LOCK_KEY
from app.services import services, services_of
from tests.clients import client_for
from tests.conftest import make_settings
from tests.pgbouncer import SERVER_CONNECTIONS, running_pgbouncer

pytestmark = pytest.mark.postgres

CONCURRENT_REQUESTS = 50


@pytest.fixture(scope="module")
def pooler_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's database, reached through PgBouncer in transaction mode."""
    with running_pgbouncer(database_url, tmp_path_factory.mktemp("pgbouncer")) as url:
        yield url


def _app(settings: Settings) -> FastAPI:
    """The app with a read on an autocommit connection and a write in a session's
    transaction: each runs a statement with a parameter, which asyncpg prepares."""
    app = create_app(settings)

    async def read(n: int, request: Request) -> dict[str, int]:
        async with services(request).database.connect() as connection:
            value = await connection.scalar(text("SELECT CAST(:n AS integer) + 1"), {"n": n})
        return {"value": value}

    async def write(n: int, session: SessionDep) -> dict[str, int]:
        value = await session.scalar(text("SELECT CAST(:n AS integer) * 2"), {"n": n})
        return {"value": value}

    app.add_api_route("/test/read", read)
    app.add_api_route("/test/write", write, methods=["POST"])
    return app


async def _serve(app: FastAPI, requests: int) -> list[httpx.Response | BaseException]:
    """Half writes, half reads, all at once."""
    async with client_for(app) as client:

        async def one(n: int) -> httpx.Response:
            if n % 2:
                return await client.get("/test/read", params={"n": n})
            return await client.post("/test/write", params={"n": n})

        return await asyncio.gather(*(one(n) for n in range(requests)), return_exceptions=True)


def _settings(url: str, *, pooler: str, pool_mode: str = "auto", timeout: float = 30) -> Settings:
    return make_settings(
        url, db_pooler=pooler, db_pool_mode=pool_mode, db_statement_timeout=timeout
    )


@pytest.mark.parametrize("pool_mode", ["queue", "null"])
async def test_concurrent_requests_through_a_transaction_pooler_all_succeed(
    pooler_url: str, pool_mode: str
) -> None:
    app = _app(_settings(pooler_url, pooler="transaction", pool_mode=pool_mode))
    responses = await _serve(app, CONCURRENT_REQUESTS)
    statuses = [r.status_code if isinstance(r, httpx.Response) else repr(r) for r in responses]
    assert statuses == [200] * CONCURRENT_REQUESTS


async def _statements_left_on_the_server(pooler_url: str) -> int:
    """Prepared statements kept by the pooler's server connections, one transaction on each."""
    total = 0
    for _ in range(SERVER_CONNECTIONS):
        connection = await asyncpg.connect(pooler_url, statement_cache_size=0)
        try:
            total += await connection.fetchval("SELECT count(*) FROM pg_prepared_statements")
        finally:
            await connection.close()
    return total


async def test_pooler_mode_leaves_no_prepared_statements_on_the_server_connections(
    pooler_url: str,
) -> None:
    before = await _statements_left_on_the_server(pooler_url)
    app = _app(_settings(pooler_url, pooler="transaction", pool_mode="queue"))
    await _serve(app, CONCURRENT_REQUESTS)
    assert await _statements_left_on_the_server(pooler_url) == before


def _is_prepared_statement_error(error: BaseException) -> bool:
    return isinstance(error, DBAPIError) and isinstance(
        error.driver_exception,
        asyncpg.InvalidSQLStatementNameError | asyncpg.DuplicatePreparedStatementError,
    )


async def test_without_pooler_mode_prepared_statements_break_behind_the_pooler(
    pooler_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Pooled connections keep their cached statements from one transaction to the next, which
    # the pooler runs on another server connection. (With NullPool, the names asyncpg numbers
    # per process collide between processes instead: DuplicatePreparedStatementError.)
    # statement_timeout=0 sends no startup parameter, so only prepared statements are at stake.
    app = _app(_settings(pooler_url, pooler="none", pool_mode="queue", timeout=0))
    failures: list[BaseException] = []

    async def record(request: Request, exc: Exception) -> Response:
        failures.append(exc)
        return Response(status_code=500)

    app.add_exception_handler(Exception, record)
    responses = await _serve(app, CONCURRENT_REQUESTS)
    assert any(isinstance(r, httpx.Response) and r.status_code == 500 for r in responses)
    assert failures, "expected prepared statement errors without pooler mode"
    assert all(_is_prepared_statement_error(failure) for failure in failures), failures


async def test_without_pooler_mode_the_statement_timeout_parameter_is_refused(
    pooler_url: str,
) -> None:
    app = create_app(_settings(pooler_url, pooler="none", timeout=30))
    # A connection the pooler refuses (SQLSTATE class 08) means the database cannot serve.
    with pytest.raises(DatabaseUnavailable) as refused:
        await services_of(app).database.ping()
    assert isinstance(refused.value.__cause__, DBAPIError)
    assert "unsupported startup parameter" in str(refused.value.__cause__)
    await services_of(app).database.dispose()


async def _try_lock(connection: asyncpg.Connection) -> bool:
    taken: bool = await connection.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY)
    return taken


async def test_the_migration_lock_taken_directly_excludes_others_and_ends_with_its_client(
    fresh_postgres_url: str,
) -> None:
    holder = await asyncpg.connect(fresh_postgres_url)
    other = await asyncpg.connect(fresh_postgres_url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        assert not await _try_lock(other)
        await holder.close()
        assert await _try_lock(other)
    finally:
        await holder.close()
        await other.close()


@pytest.mark.processes
async def test_the_migration_lock_taken_through_the_pooler_neither_excludes_nor_ends(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    # One server connection makes certain where each statement runs: all of them run on it.
    # With more, each runs on whichever is free, and the same happens only by chance.
    directory = tmp_path / "pgbouncer"
    directory.mkdir()
    with running_pgbouncer(fresh_postgres_url, directory, server_connections=1) as url:
        holder = await asyncpg.connect(url, statement_cache_size=0)
        other = await asyncpg.connect(url, statement_cache_size=0)
        direct = await asyncpg.connect(fresh_postgres_url)
        try:
            await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
            # The server connection holds it, not the client: another client takes it too.
            assert await _try_lock(other)
            await holder.close()
            await other.close()
            # Both clients are gone, and the lock is still held, for every later run to wait on.
            assert not await _try_lock(direct)
        finally:
            for connection in (holder, other, direct):
                await connection.close()
