"""The items API's OpenAPI document: errors in the error shape, values as they are sent."""

from __future__ import annotations

from datetime import datetime

import httpx

from tests.conftest import assert_errors_documented

ITEMS = "/api/v1/items"


async def test_every_items_operation_documents_its_errors_in_the_error_shape(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    expected = {
        ("post", ITEMS): {"400", "409", "413", "422", "500"},
        ("patch", ITEMS + "/{item_id}"): {"400", "404", "409", "413", "422", "500"},
        ("get", ITEMS + "/{item_id}"): {"404", "422", "500"},
    }
    assert_errors_documented(schema, expected)


async def test_items_operations_have_short_ids(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["paths"][ITEMS + "/{item_id}"]["get"]["operationId"] == "get_item"
    assert schema["paths"][ITEMS]["post"]["operationId"] == "create_item"


async def test_a_nul_character_is_422_not_a_database_error(client: httpx.AsyncClient) -> None:
    response = await client.post(ITEMS, json={"name": "a\x00b"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["body", "name"]


async def test_timestamps_always_carry_a_time_zone(client: httpx.AsyncClient) -> None:
    item = (await client.post(ITEMS, json={"name": "widget"})).json()
    for field in ("created_at", "updated_at"):
        assert datetime.fromisoformat(item[field]).tzinfo is not None


async def test_patch_documents_name_as_a_string_that_may_be_left_out(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    name = schema["components"]["schemas"]["ItemUpdate"]["properties"]["name"]
    assert name["type"] == "string" and "anyOf" not in name
    assert "name" not in schema["components"]["schemas"]["ItemUpdate"].get("required", [])
