"""The ceiling for a database read: the same single-row SELECT through raw asyncpg.

No ORM, no SQLAlchemy, a plain asyncpg pool opened in the lifespan, under FastAPI.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel


class ItemRead(BaseModel):
    id: int
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    dsn = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    app.state.pool = await asyncpg.create_pool(dsn, min_size=5, max_size=10)
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/api/v1/items/{item_id}", response_model=ItemRead)
async def get_item(item_id: int, request: Request) -> ItemRead:
    row = await request.app.state.pool.fetchrow(
        "SELECT id, name, description, created_at, updated_at FROM items WHERE id = $1", item_id
    )
    if row is None:
        raise HTTPException(404)
    return ItemRead(**dict(row))
