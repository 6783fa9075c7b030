"""The async database: engine construction, its owner, and the per-request session.

The engine is never created at import time. The app's lifespan creates it and disposes of it
(`Database.start` / `Database.dispose`); a runtime that never runs the lifespan gets it
lazily on first use through the same `Database.engine` property.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import NullPool, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.settings import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.database
    if url.is_sqlite:
        # One file, one writer: a pool buys nothing and NullPool keeps SQLite's locking simple.
        return create_async_engine(
            url.url,
            poolclass=NullPool,
            connect_args={"timeout": settings.db_connect_timeout},
        )

    connect_args: dict[str, Any] = {"timeout": settings.db_connect_timeout}
    if settings.db_statement_timeout:
        # Server-side, so a runaway query is stopped by Postgres itself, not just abandoned.
        milliseconds = int(settings.db_statement_timeout * 1000)
        connect_args["server_settings"] = {"statement_timeout": str(milliseconds)}
    return create_async_engine(
        url.url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=settings.db_pool_pre_ping,
        connect_args=connect_args,
    )


class Database:
    """Owns the engine and session factory of one app instance."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = create_engine(self._settings)
        return self._engine

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        if self._sessions is None:
            # expire_on_commit=False: response models read attributes after the commit.
            self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        return self._sessions

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = None
        self._sessions = None


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_session(
    database: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[AsyncSession]:
    """A session per request: committed when the endpoint returns, rolled back if it raises."""
    async with database.sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


# scope="function": commit before the response is sent, so a failed commit is never
# reported to the client as a success.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]
