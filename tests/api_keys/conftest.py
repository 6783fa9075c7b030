"""API keys in the test's database, and an app with routes that need nothing but access."""

from __future__ import annotations

from collections.abc import Collection

import pytest
from fastapi import FastAPI

from app.api_keys.keys import create_api_key
from app.database import Database
from app.services import services_of
from tests.conftest import make_settings
from tests.served_app import with_test_routes


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    """The app with `GET /test/read` (READ) and `POST /test/write` (WRITE), which answer with
    the caller's id: API keys are tested without any other feature's routes."""
    return with_test_routes(app)


async def _create(database: Database, scopes: Collection[str]) -> str:
    async with database.session() as session, session.begin():
        _, key = await create_api_key(session, "test", scopes)
    return key


async def make_api_key(app: FastAPI, *scopes: str) -> str:
    """A new key named `test` with `scopes` in the app's database; returns the key itself."""
    return await _create(services_of(app).database, scopes)


async def store_api_key(database_url: str, *scopes: str) -> str:
    """A new key named `test` in the database at `database_url`, for another process's use."""
    database = Database(make_settings(database_url))
    try:
        return await _create(database, scopes)
    finally:
        await database.dispose()


@pytest.fixture
async def api_key(app: FastAPI) -> str:
    """A key with the `read` and `write` scopes."""
    return await make_api_key(app, "read", "write")


@pytest.fixture
async def stored_api_key(database_url: str, empty_tables_after: None) -> str:
    """A key with both scopes, stored without the test's app."""
    return await store_api_key(database_url, "read", "write")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def prefix_of(key: str) -> str:
    return key.split("_")[1]
