"""The app's one outbound HTTP client, its owner, and the dependency that hands it out.

One `httpx.AsyncClient` per app instance, so connections to upstream services are pooled and
reused, with every timeout and pool limit set from settings: httpx's default is a single
5 s timeout and a pool nobody chose. It is made on first use (building its TLS context costs
about 0.1 s, which a cold start that never calls out should not pay) and closed by the
lifespan. A timeout becomes a 504 in the error shape (app/errors.py).

    @router.get("/weather")
    async def weather(http: HTTPClientDep) -> Weather:
        response = await http.get("https://api.example.com/weather")
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated

import httpx
from fastapi import Depends, Request

from app.services import services
from app.settings import CoreSettings


class HTTPClient:
    """Owns the outbound client of one app instance."""

    def __init__(self, settings: CoreSettings) -> None:
        self._settings = settings
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client_hooks: list[Callable[[httpx.AsyncClient], None]] = []

    def on_client(self, hook: Callable[[httpx.AsyncClient], None]) -> None:
        """Call `hook` with the client when it is made, before its first request (a feature
        that instruments it, say)."""
        self._client_hooks.append(hook)

    def client(self) -> httpx.AsyncClient:
        """The client, made on the first call, and again on a new event loop."""
        loop = _running_loop()
        if self._loop is not loop:
            # AWS Lambda (Mangum) may run each invocation on a new event loop: the pooled
            # connections belong to the old one, which is closed, so they are left behind.
            self._client, self._loop = None, loop
        if self._client is None:
            settings = self._settings
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(
                    connect=settings.http_client_connect_timeout,
                    read=settings.http_client_read_timeout,
                    write=settings.http_client_write_timeout,
                    pool=settings.http_client_pool_timeout,
                ),
                limits=httpx.Limits(
                    max_connections=settings.http_client_max_connections,
                    max_keepalive_connections=settings.http_client_max_keepalive_connections,
                ),
            )
            for hook in self._client_hooks:
                hook(self._client)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


# async: FastAPI runs a plain `def` dependency in its thread pool, a cost on every request.
async def get_http_client(request: Request) -> httpx.AsyncClient:
    return services(request).http.client()


HTTPClientDep = Annotated[httpx.AsyncClient, Depends(get_http_client)]
