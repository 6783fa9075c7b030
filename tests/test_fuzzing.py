"""Generated requests against the app's own OpenAPI schema, on the session's real database.

Schemathesis reads /openapi.json and sends valid and invalid requests to every operation: no
answer may be a server error, and every answer must be one the schema documents, in the shape
it documents. Bounded in examples per operation, so the run stays within seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy import NullPool, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.main import create_app
from app.settings import Settings


async def _empty_tables(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM items"))
    finally:
        await engine.dispose()


@pytest.fixture
def fuzzed_app(settings: Settings) -> Iterator[FastAPI]:
    # Schemathesis calls the app from an event loop of its own and runs the lifespan there.
    app = create_app(settings)
    yield app
    shutdown_lifespans()
    asyncio.run(_empty_tables(settings.database.url))


# The schema depends on the code, not on settings, so it is read at collection time and the
# requests go to `fuzzed_app` on the session's database. (schemathesis.pytest.from_fixture, the
# lazy alternative, fails on pytest 9 in this schemathesis version.)
schema = schemathesis.openapi.from_dict(create_app(Settings(_env_file=None)).openapi())


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    database=None,  # no saved examples: every run starts fresh
    suppress_health_check=list(HealthCheck),
)
def test_generated_requests_get_no_server_error_and_match_the_schema(
    case: schemathesis.Case[Any], fuzzed_app: FastAPI
) -> None:
    case.call_and_validate(app=fuzzed_app)
