"""Call an app in-process, as a server would, for tests that need settings of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI


def asgi_client(app: FastAPI, **options: Any) -> httpx.AsyncClient:
    """A client calling `app` in-process, from 127.0.0.1 unless `client=(host, port)` says.

    An unhandled exception reaches the client as the 500 the app sent before re-raising it
    (for the server to log), not as the exception itself.
    """
    transport = httpx.ASGITransport(
        app=app, raise_app_exceptions=False, client=options.pop("client", ("127.0.0.1", 123))
    )
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", **options)


@asynccontextmanager
async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """`asgi_client` with the app's lifespan running around it."""
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        yield client
