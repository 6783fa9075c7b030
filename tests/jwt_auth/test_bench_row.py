"""The benchmark's JWT row: its provider's settings and token make a request the app accepts."""

from __future__ import annotations

from app.main import create_app
from bench.jwt_provider import jwt_provider
from tests.clients import asgi_client
from tests.conftest import make_settings
from tests.served_app import with_test_routes


async def test_the_benchmarks_token_is_accepted_with_the_benchmarks_settings(
    database_url: str,
) -> None:
    with jwt_provider() as (env, token):
        settings = make_settings(database_url, **{name.lower(): v for name, v in env.items()})
        app = with_test_routes(create_app(settings))
        async with app.router.lifespan_context(app), asgi_client(app) as client:
            response = await client.get("/test/read", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["caller"].startswith("sub:")
