"""The ceiling for a database read through SQLAlchemy: the same single-row SELECT, with nothing
of the template around it; and for a cold start, the same `/ready` query.

A bare FastAPI route, an `AsyncEngine` in autocommit mode opened in the lifespan, a declarative
model of the items table and a statement built once. What this app reaches is as close as any
FastAPI app reading through SQLAlchemy's asyncio extension gets to raw asyncpg; the template's
own cost is the distance between it and `app.main`.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import DateTime, String, Text, bindparam, make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


SELECT_ITEM = select(Item).where(Item.id == bindparam("item_id"))
VERSIONS = text("SELECT version_num FROM alembic_version")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql+asyncpg")
    engine = create_async_engine(url, pool_size=10, max_overflow=0, isolation_level="AUTOCOMMIT")
    app.state.engine = engine
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/api/v1/items/{item_id}", response_model=ItemRead)
async def get_item(item_id: int, request: Request) -> ItemRead:
    async with request.app.state.engine.connect() as connection:
        row = (await connection.execute(SELECT_ITEM, {"item_id": item_id})).first()
    if row is None:
        raise HTTPException(404)
    return ItemRead.model_validate(row)


@app.get("/ready")
async def ready(request: Request) -> dict[str, str]:
    async with request.app.state.engine.connect() as connection:
        await connection.scalars(VERSIONS)
    return {"status": "ready"}
