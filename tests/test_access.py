"""The access dependency of the core: credentials from the features that accept them, scopes,
and what an app with no such feature does."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.access import Caller
from app.services import services_of
from tests.served_app import with_test_routes

READER = Caller("test:reader", frozenset({"read"}))


class _Tokens:
    """Accepts `reader-token`; leaves every other credential to the next authenticator."""

    async def authenticate(self, credential: str) -> Caller | None:
        return READER if credential == "reader-token" else None


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
