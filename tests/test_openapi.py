"""The OpenAPI document tells clients the truth: every error they can get, in one shape, and
operation IDs that generated clients can use as method names."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Route

import app.main
from app.main import create_app
from app.routing import include_routes
from tests.conftest import assert_errors_documented, make_settings


async def test_the_probes_document_their_errors_in_the_error_shape(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    expected = {("get", "/ready"): {"500", "503"}, ("get", "/health"): {"500"}}
    assert_errors_documented(schema, expected)


async def test_operation_ids_are_the_endpoints_names(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operations = [op for path in schema["paths"].values() for op in path.values()]
    ids = [operation["operationId"] for operation in operations]
    assert {"health", "ready"} <= set(ids)
    assert len(ids) == len(set(ids)), "operation IDs must be unique"
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", id_) for id_ in ids), ids


def test_routes_on_the_app_give_the_document_included_routers_would(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = create_app(make_settings(database_url)).openapi()
    monkeypatch.setattr(app.main, "include_routes", FastAPI.include_router)
    included = create_app(make_settings(database_url)).openapi()
    assert json.dumps(ours) == json.dumps(included)


def test_requests_reach_every_route_without_walking_an_included_router(
    database_url: str,
) -> None:
    routes = create_app(make_settings(database_url)).routes
    assert all(isinstance(route, APIRoute | Route) for route in routes), routes


def test_only_plain_http_routes_are_copied_onto_the_app(database_url: str) -> None:
    router = APIRouter()
    router.include_router(APIRouter())
    with pytest.raises(TypeError, match="only HTTP routes"):
        include_routes(FastAPI(), router)
