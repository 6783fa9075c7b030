"""The OpenAPI document tells clients the truth: every error they can get, in one shape, and
operation IDs that generated clients can use as method names."""

from __future__ import annotations

import re

import httpx

from tests.conftest import assert_errors_documented


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
