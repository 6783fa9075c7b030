"""The app as `app/main.py` builds it, plus routes that exist only for tests.

Process tests serve it with the real entry points' commands and only the app's path changed
(`gunicorn -c gunicorn.conf.py served_app:app`), so infrastructure is tested without leaning
on any feature's routes. Copied next to `app/` in a checkout (tests/servers.py).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from sqlalchemy import text

from app.access import PUBLIC, READ, WRITE, Caller
from app.main import create_app
from app.services import services

router = APIRouter(prefix="/test", tags=["test"])
# Requests of this process now inside /test/sleep, so a test can tell they have arrived.
_sleeping = {"count": 0}


@router.get("/fail")
async def fail() -> None:
    raise RuntimeError("boom: token=s3cr3t")


@router.get("/echo/{value}")
async def echo(value: str) -> dict[str, str]:
    """A route with a path parameter: metrics must name it by its template."""
    return {"value": value}


@router.get("/sleep")
async def sleep(seconds: Annotated[float, Query(le=30)]) -> dict[str, float]:
    _sleeping["count"] += 1
    try:
        await asyncio.sleep(seconds)
    finally:
        _sleeping["count"] -= 1
    return {"slept": seconds}


@router.get("/sleeping")
async def sleeping() -> dict[str, int]:
    return {"count": _sleeping["count"]}


@router.get("/db")
async def use_the_database(request: Request) -> dict[str, int]:
    async with services(request).database.connect() as connection:
        value = await connection.scalar(text("SELECT 41 + 1"))
    return {"value": int(value)}


@router.get("/db-fail")
async def fail_in_the_database(request: Request, value: str) -> None:
    """A statement that fails with `value` as its parameter: request data near an error."""
    async with services(request).database.connect() as connection:
        await connection.execute(
            text("INSERT INTO no_such_table VALUES (:value)"), {"value": value}
        )


@router.get("/request")
async def describe_request(request: Request) -> dict[str, str | None]:
    """What the app sees of the request: the server has applied the proxy headers it trusts
    (FORWARDED_ALLOW_IPS), and the app has settled the client's address (TRUSTED_PROXY_HOPS,
    CLIENT_IP_HEADER), the one the access log records and the limits count."""
    return {
        "url": str(request.url),
        "client": request.client.host if request.client else None,
    }


@router.get("/read", openapi_extra=PUBLIC)
async def read(caller: Annotated[Caller | None, Depends(READ)]) -> dict[str, str | None]:
    return {"caller": caller.id if caller else None}


@router.post("/write")
async def write(caller: Annotated[Caller | None, Depends(WRITE)]) -> dict[str, str | None]:
    return {"caller": caller.id if caller else None}


def with_test_routes(app: FastAPI) -> FastAPI:
    app.include_router(router)
    return app


def __getattr__(name: str) -> FastAPI:
    if name == "app":
        application = with_test_routes(create_app())
        globals()["app"] = application
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
