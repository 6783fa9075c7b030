"""The access dependency of the core: credentials from the features that accept them, scopes,
and what an app with no such feature does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from app.access import Caller, unauthorized
from app.services import services_of
from tests.limiters import AddressLimiter
from tests.served_app import with_test_routes

READER = Caller("test:reader", frozenset({"read"}))


class _Tokens:
    """Accepts `reader-token`; leaves every other credential to the next authenticator."""

    async def authenticate(
        self, credential: str, *, before_lookup: Callable[[], Awaitable[None]]
    ) -> Caller | None:
        return READER if credential == "reader-token" else None


class _LookedUpTokens:
    """Checks `lookup-*` tokens "elsewhere", as a database would: it accepts `lookup-reader`,
    refuses every other with 401, and counts its lookups."""

    def __init__(self) -> None:
        self.lookups = 0

    async def authenticate(
        self, credential: str, *, before_lookup: Callable[[], Awaitable[None]]
    ) -> Caller | None:
        if not credential.startswith("lookup-"):
            return None
        await before_lookup()
        await before_lookup()  # a second call within one request changes nothing
        self.lookups += 1
        if credential != "lookup-reader":
            raise unauthorized("The token is not valid")
        return READER


@pytest.fixture
def bare_access(app: FastAPI) -> FastAPI:
    """The app with test routes and no credential feature at all."""
    with_test_routes(app)
    access = services_of(app).access
    access.authenticators.clear()
    access.limiters.clear()
    return app


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_without_credential_features_reads_are_public_and_writes_refused(
    bare_access: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    assert (await anonymous_client.get("/test/read")).json() == {"caller": None}
    refused = await anonymous_client.post("/test/write")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert refused.json()["error"]["code"] == "unauthorized"


async def test_a_credential_no_feature_accepts_is_401_and_not_echoed(
    bare_access: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    response = await anonymous_client.get("/test/read", headers=_bearer("made-up-token"))
    assert response.status_code == 401
    assert "made-up-token" not in response.text


async def test_an_accepted_credential_names_the_caller(
    bare_access: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    services_of(bare_access).access.authenticators.append(_Tokens())
    response = await anonymous_client.get("/test/read", headers=_bearer("reader-token"))
    assert response.json() == {"caller": "test:reader"}


async def test_a_caller_without_the_scope_is_403(
    bare_access: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    services_of(bare_access).access.authenticators.append(_Tokens())
    response = await anonymous_client.post("/test/write", headers=_bearer("reader-token"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.settings(api_keys_required_for_reads=True)
async def test_reads_need_credentials_when_required(
    bare_access: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    services_of(bare_access).access.authenticators.append(_Tokens())
    assert (await anonymous_client.get("/test/read")).status_code == 401
    reader = await anonymous_client.get("/test/read", headers=_bearer("reader-token"))
    assert reader.status_code == 200


async def test_openapi_declares_the_bearer_scheme_on_writes(
    bare_access: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    document = (await anonymous_client.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["Bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["paths"]["/test/write"]["post"]["security"] == [{"Bearer": []}]
    # Reads document the credential as optional.
    assert {} in document["paths"]["/test/read"]["get"]["security"]


def _limited(app: FastAPI, allowed: int) -> AddressLimiter:
    limiter = AddressLimiter(allowed)
    services_of(app).access.limiters.append(limiter)
    return limiter


async def _statuses(client: httpx.AsyncClient, path: str, tokens: list[str]) -> list[int]:
    method = "POST" if path == "/test/write" else "GET"
    return [
        (await client.request(method, path, headers=_bearer(token))).status_code for token in tokens
    ]


async def test_a_credential_checked_elsewhere_is_first_counted_against_the_address_once(
    bare_access: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    tokens = _LookedUpTokens()
    services_of(bare_access).access.authenticators.append(tokens)
    limiter = _limited(bare_access, allowed=3)
    statuses = await _statuses(anonymous_client, "/test/read", ["lookup-reader"] * 2)
    assert statuses == [200, 200]
    assert limiter.charged["127.0.0.1"] == 2


async def test_made_up_credentials_get_429_without_a_lookup_once_the_address_is_spent(
    bare_access: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    tokens = _LookedUpTokens()
    services_of(bare_access).access.authenticators.append(tokens)
    _limited(bare_access, allowed=3)
    made_up = [f"lookup-made-up-{n}" for n in range(10)]
    statuses = await _statuses(anonymous_client, "/test/read", made_up)
    assert statuses == [401] * 3 + [429] * 7
    assert tokens.lookups == 3


async def test_a_credential_refused_without_a_lookup_is_counted_against_the_address(
    bare_access: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    # No authenticator claims it, so no lookup ever counted it.
    limiter = _limited(bare_access, allowed=2)
    statuses = await _statuses(anonymous_client, "/test/read", ["made-up-token"] * 3)
    assert statuses == [401, 401, 429]
    assert limiter.charged["127.0.0.1"] == 3


async def test_a_write_without_credentials_is_counted_against_the_address(
    bare_access: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    _limited(bare_access, allowed=2)
    statuses = [(await anonymous_client.post("/test/write")).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


async def test_a_credential_accepted_from_memory_is_never_counted_against_the_address(
    bare_access: FastAPI, anonymous_client: httpx.AsyncClient
) -> None:
    services_of(bare_access).access.authenticators.append(_Tokens())
    limiter = _limited(bare_access, allowed=0)
    assert await _statuses(anonymous_client, "/test/read", ["reader-token"] * 3) == [200] * 3
    assert limiter.charged == {}
