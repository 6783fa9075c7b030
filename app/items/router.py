"""The example resource: CRUD over `items`, with paging and a unique name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import PUBLIC, READ, WRITE
from app.database import SessionDep
from app.errors import error_responses
from app.items.models import Item
from app.items.schemas import ItemCreate, ItemPage, ItemRead, ItemUpdate
from app.services import services

MAX_PAGE_SIZE = 100
# Ids and offsets beyond a 32-bit integer cannot exist; rejecting them here keeps them away
# from the database driver, which would fail on the overflow.
MAX_INT = 2**31 - 1
ItemId = Annotated[int, Path(ge=1, le=MAX_INT)]

# The read statements are built once, with their values as parameters. SQLAlchemy caches the
# SQL it compiles from a statement, but building the statement object itself again for every
# request was a large share of a read's time in Python (BENCHMARKS.md).
SELECT_ITEM = select(Item).where(Item.id == bindparam("item_id"))
SELECT_PAGE = select(Item).order_by(Item.id).limit(bindparam("limit")).offset(bindparam("offset"))
COUNT_ITEMS = select(func.count()).select_from(Item)

router = APIRouter(
    prefix="/api/v1/items", tags=["items"], responses=error_responses(401, 422, 429, 503)
)


async def _get_item(session: AsyncSession, item_id: int) -> Item:
    item = await session.get(Item, item_id)
    if item is None:
        raise _not_found(item_id)
    return item


def _not_found(item_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"Item {item_id} not found")


async def _flush_unique_name(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "An item with this name already exists"
        ) from None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemRead,
    dependencies=[Depends(WRITE)],
    responses=error_responses(400, 403, 409, 413),
)
async def create_item(body: ItemCreate, session: SessionDep, response: Response) -> Item:
    item = Item(name=body.name, description=body.description)
    session.add(item)
    await _flush_unique_name(session)
    response.headers["Location"] = f"{router.prefix}/{item.id}"
    return item


@router.get(
    "",
    response_model=ItemPage,
    dependencies=[Depends(READ)],
    responses=error_responses(403),
    openapi_extra=PUBLIC,
)
async def list_items(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> ItemPage:
    async with services(request).database.connect() as connection:
        total = await connection.scalar(COUNT_ITEMS)
        rows = (await connection.execute(SELECT_PAGE, {"limit": limit, "offset": offset})).all()
    return ItemPage(
        items=[ItemRead.model_validate(row) for row in rows],
        total=total or 0,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/{item_id}",
    response_model=ItemRead,
    dependencies=[Depends(READ)],
    responses=error_responses(403, 404),
    openapi_extra=PUBLIC,
)
async def get_item(item_id: ItemId, request: Request) -> ItemRead:
    async with services(request).database.connect() as connection:
        row = (await connection.execute(SELECT_ITEM, {"item_id": item_id})).first()
    if row is None:
        raise _not_found(item_id)
    return ItemRead.model_validate(row)


@router.patch(
    "/{item_id}",
    response_model=ItemRead,
    dependencies=[Depends(WRITE)],
    responses=error_responses(400, 403, 404, 409, 413),
)
async def update_item(item_id: ItemId, body: ItemUpdate, session: SessionDep) -> Item:
    item = await _get_item(session, item_id)
    changes = body.model_dump(exclude_unset=True)
    for field, value in changes.items():
        setattr(item, field, value)
    if changes:
        await _flush_unique_name(session)
    return item


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(WRITE)],
    responses=error_responses(403, 404),
)
async def delete_item(item_id: ItemId, session: SessionDep) -> None:
    item = await _get_item(session, item_id)
    await session.delete(item)
