"""CORS from settings: none at all unless origins are listed, and preflight answered for them."""

from __future__ import annotations

import httpx
import pytest

from app.main import Settings, create_app
from tests.clients import client_for

ORIGIN = "https://app.example.com"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type, authorization",
}


def _settings(database_url: str, *, credentials: bool = False) -> Settings:
    return Settings(
        _env_file=None,
        environment="test",
        database_url=database_url,
        cors_origins=[ORIGIN],
        cors_allow_credentials=credentials,
    )


async def test_without_origins_there_are_no_cors_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"Origin": ORIGIN})
    assert not [name for name in response.headers if name.startswith("access-control-")]
    preflight = await client.options("/health", headers=PREFLIGHT)
    assert preflight.status_code == 405


async def test_preflight_from_a_listed_origin_is_allowed(database_url: str) -> None:
    app = create_app(_settings(database_url))
    async with client_for(app) as client:
        response = await client.options("/health", headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "content-type, authorization"
    assert "access-control-allow-credentials" not in response.headers


async def test_preflight_from_an_unlisted_origin_is_refused(database_url: str) -> None:
    app = create_app(_settings(database_url))
    async with client_for(app) as client:
        response = await client.options(
            "/health", headers={**PREFLIGHT, "Origin": "https://evil.example"}
        )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_a_listed_origin_can_read_the_request_id_and_credentials(database_url: str) -> None:
    settings = _settings(database_url, credentials=True)
    async with client_for(create_app(settings)) as client:
        response = await client.get("/health", headers={"Origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    exposed = response.headers["access-control-expose-headers"]
    assert "X-Request-ID" in exposed and "Location" in exposed


@pytest.mark.parametrize(
    ("raw", "origins"),
    [
        ("https://a.example, https://b.example/", ["https://a.example", "https://b.example"]),
        ('["https://a.example", "https://b.example"]', ["https://a.example", "https://b.example"]),
        ("", []),
    ],
    ids=["comma-separated", "json-list", "empty"],
)
def test_cors_origins_are_read_as_a_list_or_json(
    monkeypatch: pytest.MonkeyPatch, raw: str, origins: list[str]
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", raw)
    assert Settings(_env_file=None).cors_origins == origins


@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_wildcard_origin_with_credentials_is_refused_everywhere(environment: str) -> None:
    with pytest.raises(ValueError, match="CORS_ORIGINS=\\* cannot be combined"):
        Settings(
            _env_file=None,
            environment=environment,
            database_url="postgresql://app@127.0.0.1/app",
            cors_origins=["*"],
            cors_allow_credentials=True,
        )
