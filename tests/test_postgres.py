"""Behaviour that only a real PostgreSQL server can show."""

from __future__ import annotations

import httpx
import pytest

from app.main import Settings, create_app

pytestmark = pytest.mark.postgres


async def test_render_postgres_scheme_connects_to_the_real_server(database_url: str) -> None:
    render_form = "postgres://" + database_url.split("://", 1)[1]
    settings = Settings(_env_file=None, environment="production", database_url=render_form)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            assert (await c.get("/ready")).status_code == 200
