"""The async database: the engine, its owner, the models' base, and the session dependency.

Endpoints that write take a session (`SessionDep`): one transaction, committed before the
response is sent, rolled back if the endpoint raises. Endpoints that only read open an
autocommit connection for the length of their query, in the endpoint:

    async with services(request).database.connect() as connection:
        row = (await connection.execute(SELECT_ITEM, {"item_id": item_id})).first()

That is a block in the endpoint rather than a dependency on purpose: FastAPI enters and leaves
a dependency with `yield` through an exit stack and a cancel scope, which cost a read more than
a quarter of its throughput, and even a plain one handing out the `Database` costs a read about
5 % (BENCHMARKS.md); the endpoint takes the `Request` instead, which FastAPI passes for free.
The block also returns the connection to the pool as soon as the rows are in, before the
response is built.

The engine is never created at import time. The app's lifespan calls `Database.start()`
and `Database.dispose()`; a runtime that never runs the lifespan (Mangum with lifespan off,
Vercel's older mode) gets the engine on first use, since `connect()` and `session()` start it.

Serverless runtimes break two assumptions of a long-running server. An instance can be frozen
between requests (so connections kept open go stale) and Mangum may run each invocation on a
new event loop (and an asyncpg connection only works on the loop that opened it): there the
default is NullPool, which opens a connection per session and closes it at the end. A pool
kept anyway (DB_POOL_MODE=queue) is dropped whenever a new loop turns up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import MetaData, NullPool, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from app.services import services
from app.settings import CoreSettings

logger = logging.getLogger(__name__)

# SQLSTATE classes that say the database, not the statement, is the problem: connection
# exceptions (08), insufficient resources such as too many connections (53), operator
# intervention such as a shutdown, a server still starting or a statement timeout (57), and
# system errors (58).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57", "58")


class DatabaseUnavailable(Exception):
    """The database did not answer in time, or refused: a 503, not a bug."""


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot serve now, as opposed to a bug or bad data."""
    if isinstance(exc, TimeoutError | OSError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        return exc.connection_invalidated or sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
    return False


# Explicit names for constraints and indexes, so every migration (and every error that names a
# constraint) sees the same name on SQLite and on Postgres.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The base of every feature's models: one metadata, so Alembic sees all tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def create_engine(settings: CoreSettings) -> AsyncEngine:
    """The engine, in autocommit mode: what reads run in. Sessions run on a transactional
    option of it (`Database.start()`)."""
    url = settings.database
    if url.is_sqlite:
        # One file, one writer: a pool buys nothing and NullPool keeps SQLite's locking simple.
        return create_async_engine(
            url.url,
            poolclass=NullPool,
            connect_args={"timeout": settings.db_connect_timeout},
            # Statement parameters are request data: never in an exception's message.
            hide_parameters=True,
            isolation_level="AUTOCOMMIT",
        )

    connect_args: dict[str, Any] = {"timeout": settings.db_connect_timeout}
    if settings.db_transaction_pooler:
        # A transaction-mode pooler hands each transaction whichever server connection is free,
        # so a statement prepared in one transaction is missing (or, under a name another
        # client also used, already present) in the next. So nothing is cached across
        # transactions, and every statement is the unnamed one, which each server connection
        # has and the next statement replaces: no name to collide, nothing left behind. (Named
        # ones, even uniquely named, pile up there: asyncpg closes them only later, through
        # whichever server connection the client holds by then.)
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = _unnamed_statement
        # No `server_settings` here: PgBouncer refuses a startup parameter it does not know,
        # statement_timeout included. Set it on the role instead (docs/operations.md).
    elif settings.db_statement_timeout:
        # Server-side, so a runaway query is stopped by Postgres itself, not just abandoned.
        milliseconds = int(settings.db_statement_timeout * 1000)
        connect_args["server_settings"] = {"statement_timeout": str(milliseconds)}

    pool: dict[str, Any] = {"poolclass": NullPool}
    if not settings.db_null_pool:
        pool = {
            "pool_size": settings.db_pool_size,
            "max_overflow": settings.db_max_overflow,
            "pool_timeout": settings.db_pool_timeout,
            "pool_recycle": settings.db_pool_recycle,
            "pool_pre_ping": settings.db_pool_pre_ping,
        }
    return create_async_engine(
        url.url,
        connect_args=connect_args,
        hide_parameters=True,
        isolation_level="AUTOCOMMIT",
        **pool,
    )


def _unnamed_statement() -> str:
    return ""


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Database:
    """Owns the engine of one app instance, and hands out sessions and read connections."""

    def __init__(self, settings: CoreSettings) -> None:
        self._settings = settings
        self._timeout = settings.db_request_timeout
        # Requests refused since the database became unavailable; 0 while it is available.
        self._refused = 0
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        # With a pool that keeps connections: the event loop they were opened on.
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        self._engine_hooks: list[Callable[[AsyncEngine], None]] = []

    def on_engine(self, hook: Callable[[AsyncEngine], None]) -> None:
        """Call `hook` with each engine this creates, before its first use (a feature that
        listens to its events, say)."""
        self._engine_hooks.append(hook)

    def start(self) -> AsyncEngine:
        """The engine, created on the first call; on a new event loop, with a fresh pool."""
        engine = self._engine
        if engine is None:
            # Reads use the engine as made, in autocommit mode: a lone SELECT costs one round
            # trip, with no BEGIN before it and no COMMIT or ROLLBACK after it. Sessions use
            # the database's usual isolation on the same pool. That way round, only a session
            # sets the level on its connection and resets it on return, not every read.
            engine = self._engine = create_engine(self._settings)
            for hook in self._engine_hooks:
                hook(engine)
            isolation = "SERIALIZABLE" if self._settings.database.is_sqlite else "READ COMMITTED"
            transactional = engine.execution_options(isolation_level=isolation)
            self._sessions = async_sessionmaker(transactional, expire_on_commit=False)
        if not isinstance(engine.pool, NullPool):
            self._follow_event_loop(engine)
        return engine

    @property
    def engine(self) -> AsyncEngine | None:
        """The engine once started, for reading its pool's state; None before."""
        return self._engine

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session (one transaction at a time) for the length of the block."""
        self.start()
        assert self._sessions is not None
        async with self._bounded(), self._sessions() as session:
            yield session

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """An autocommit connection for reads, for the length of the block."""
        engine = self.start()
        async with self._bounded(), engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def _bounded(self) -> AsyncIterator[None]:
        """DB_REQUEST_TIMEOUT for the whole block (waiting for a connection, connecting, every
        statement), and DatabaseUnavailable when it runs out or the database refuses.

        asyncpg only bounds connecting: a statement on a server that stopped answering (TCP
        still open) would wait until it wakes up, and `statement_timeout` cannot help, since
        the server enforces it. On the timeout SQLAlchemy drops the connection it cancelled.
        """
        try:
            async with asyncio.timeout(self._timeout):
                yield
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            self._refused += 1
            if self._refused == 1:
                # Once per outage, without the stack trace (it says nothing about a bug) nor the
                # error's text, which can hold host names: its kind and SQLSTATE say enough.
                sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
                kind = (
                    f"{type(exc).__name__}, SQLSTATE {sqlstate}" if sqlstate else type(exc).__name__
                )
                logger.error("database unavailable (%s); answering 503", kind)
            raise DatabaseUnavailable from exc
        if self._refused:
            logger.warning("database available again after %d refused requests", self._refused)
            self._refused = 0

    async def ping(self) -> None:
        async with self.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = self._sessions = None
        self._pool_loop = None

    def _follow_event_loop(self, engine: AsyncEngine) -> None:
        loop = _running_loop()
        if loop is None or loop is self._pool_loop:
            return
        if self._pool_loop is not None:
            # A new loop (Mangum may start one per invocation): the pooled connections belong
            # to the old one and can neither be used nor closed from here. Forget them (their
            # sockets close when garbage collected) and let the pool open new ones.
            engine.sync_engine.dispose(close=False)
        self._pool_loop = loop


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session per request: committed when the endpoint returns, rolled back if it raises."""
    async with services(request).database.session() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


# scope="function": the session commits before the response is sent, so a failed commit is
# never reported as a success.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
