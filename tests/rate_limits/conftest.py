"""An app whose limits are tested through routes and callers of the tests' own.

Rate limits count per caller, whatever credential names it; `caller-<name>` bearer tokens name
callers here, so no credential feature (API keys) is needed to test them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from app.access import Caller, unauthorized
from app.services import services_of
from tests.clients import asgi_client
from tests.served_app import with_test_routes

_TOKEN_PREFIX = "caller-"
_UNKNOWN_PREFIX = "unknown-"


class NamedCallers:
    """Accepts `caller-<name>` as the credential of the caller `test:<name>`, with both scopes,
    as if from memory; refuses `unknown-<name>` after looking it up, as a database would."""

    async def authenticate(
        self, credential: str, *, before_lookup: Callable[[], Awaitable[None]]
    ) -> Caller | None:
        if credential.startswith(_UNKNOWN_PREFIX):
            await before_lookup()
            raise unauthorized("The credentials are not valid")
        if not credential.startswith(_TOKEN_PREFIX):
            return None
        return Caller(
            f"test:{credential.removeprefix(_TOKEN_PREFIX)}", frozenset({"read", "write"})
        )


def as_caller(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {_TOKEN_PREFIX}{name}"}


def as_unknown(name: str) -> dict[str, str]:
    """Credentials an authenticator looks up, and refuses."""
    return {"Authorization": f"Bearer {_UNKNOWN_PREFIX}{name}"}


def with_test_callers(app: FastAPI) -> FastAPI:
    """`app` with `GET /test/read`, `POST /test/write`, and the callers `as_caller` names."""
    services_of(app).access.authenticators.append(NamedCallers())
    return with_test_routes(app)


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return with_test_callers(app)


def client_at(app: FastAPI, ip: str) -> httpx.AsyncClient:
    """A client whose requests come from `ip`."""
    return asgi_client(app, client=(ip, 4321))
