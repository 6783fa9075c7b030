"""What the app's lifespan owns, and the one typed way the request path reaches it.

    services(request).database         the engine's owner (app/database.py)
    services(request).http             the outbound HTTP client (app/http_client.py)
    services(request).get(KeyVerifier) a service a feature provided at start-up

`create_app` makes one `Services` per app and keeps it on `app.state`; this module is the only
place that reads it from there. Features add theirs with `provide()` when the app is made;
what they register with `on_start()` runs when the lifespan starts (in each worker process,
after Gunicorn forks it), and the `close` they give `provide()` runs, last first, when the
lifespan ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import FastAPI, Request

if TYPE_CHECKING:
    from app.access import AccessPolicy
    from app.database import Database
    from app.http_client import HTTPClient
    from app.settings import CoreSettings

T = TypeVar("T")


@dataclass(eq=False)
class Services:
    settings: CoreSettings
    database: Database
    http: HTTPClient
    access: AccessPolicy
    _provided: dict[type[Any], Any] = field(default_factory=dict)
    _starters: list[Callable[[], None]] = field(default_factory=list)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def provide(self, service: T, *, close: Callable[[], Awaitable[None]] | None = None) -> T:
        """Make `service` reachable by its type; `close` runs when the lifespan ends."""
        self._provided[type(service)] = service
        if close is not None:
            self._closers.append(close)
        return service

    def get(self, kind: type[T]) -> T:
        service: T = self._provided[kind]
        return service

    def on_start(self, start: Callable[[], None]) -> None:
        self._starters.append(start)

    def start(self) -> None:
        for start in self._starters:
            start()

    async def aclose(self) -> None:
        for close in reversed(self._closers):
            await close()
        await self.http.aclose()
        await self.database.dispose()


def attach(app: FastAPI, owned: Services) -> None:
    app.state.services = owned


def services(request: Request) -> Services:
    return services_of(request.app)


def services_of(app: FastAPI) -> Services:
    owned: Services = app.state.services
    return owned
