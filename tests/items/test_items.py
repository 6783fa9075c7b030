"""The items API: its happy paths, its 4xx answers, and one error shape for all of them."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, HTTPException

from app.database import SessionDep
from app.items.models import Item

ITEMS = "/api/v1/items"


async def _create(client: httpx.AsyncClient, name: str, **fields: Any) -> dict[str, Any]:
    response = await client.post(ITEMS, json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return error


async def test_create_returns_201_with_location_of_the_new_item(client: httpx.AsyncClient) -> None:
    response = await client.post(ITEMS, json={"name": "widget", "description": "blue"})
    assert response.status_code == 201
    item = response.json()
    assert item["name"] == "widget" and item["description"] == "blue"
    assert response.headers["Location"] == f"{ITEMS}/{item['id']}"
    assert (await client.get(response.headers["Location"])).json() == item


async def test_create_with_a_taken_name_is_409(client: httpx.AsyncClient) -> None:
    await _create(client, "widget")
    _assert_error(await client.post(ITEMS, json={"name": "widget"}), 409, "conflict")


async def test_get_missing_item_is_404(client: httpx.AsyncClient) -> None:
    error = _assert_error(await client.get(f"{ITEMS}/999999"), 404, "not_found")
    assert "999999" in error["message"]


async def test_list_pages_with_limit_offset_and_total(client: httpx.AsyncClient) -> None:
    for n in range(5):
        await _create(client, f"item-{n}")
    page = (await client.get(ITEMS, params={"limit": 2, "offset": 2})).json()
    assert page["total"] == 5
    assert (page["limit"], page["offset"]) == (2, 2)
    assert [item["name"] for item in page["items"]] == ["item-2", "item-3"]


async def test_list_refuses_a_page_larger_than_the_maximum(client: httpx.AsyncClient) -> None:
    error = _assert_error(await client.get(ITEMS, params={"limit": 101}), 422, "validation_error")
    assert error["details"][0]["loc"] == ["query", "limit"]


async def test_patch_changes_only_the_fields_sent(client: httpx.AsyncClient) -> None:
    item = await _create(client, "widget", description="blue")
    response = await client.patch(f"{ITEMS}/{item['id']}", json={"description": "red"})
    assert response.status_code == 200
    assert response.json()["name"] == "widget"
    assert response.json()["description"] == "red"


async def test_patch_with_null_name_is_422(client: httpx.AsyncClient) -> None:
    item = await _create(client, "widget")
    response = await client.patch(f"{ITEMS}/{item['id']}", json={"name": None})
    error = _assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["body", "name"]


async def test_patch_to_a_taken_name_is_409(client: httpx.AsyncClient) -> None:
    await _create(client, "first")
    second = await _create(client, "second")
    response = await client.patch(f"{ITEMS}/{second['id']}", json={"name": "first"})
    _assert_error(response, 409, "conflict")


async def test_delete_is_204_and_the_item_is_gone(client: httpx.AsyncClient) -> None:
    item = await _create(client, "widget")
    response = await client.delete(f"{ITEMS}/{item['id']}")
    assert response.status_code == 204 and response.content == b""
    _assert_error(await client.get(f"{ITEMS}/{item['id']}"), 404, "not_found")


async def test_invalid_body_is_422_with_field_locations(client: httpx.AsyncClient) -> None:
    response = await client.post(ITEMS, json={"name": "", "colour": "red"})
    error = _assert_error(response, 422, "validation_error")
    assert {tuple(detail["loc"]) for detail in error["details"]} == {
        ("body", "name"),
        ("body", "colour"),
    }


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        ITEMS, content=b"{not json", headers={"content-type": "application/json"}
    )
    _assert_error(response, 422, "validation_error")


async def test_out_of_range_id_is_422_not_a_database_error(client: httpx.AsyncClient) -> None:
    _assert_error(await client.get(f"{ITEMS}/{2**40}"), 422, "validation_error")


async def test_unknown_route_is_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    _assert_error(await client.get("/no/such/route"), 404, "not_found")


async def test_wrong_method_is_405_in_the_error_shape(client: httpx.AsyncClient) -> None:
    _assert_error(await client.put(ITEMS, json={}), 405, "method_not_allowed")


async def test_a_request_that_fails_after_writing_is_rolled_back(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def write_then_fail(session: SessionDep) -> None:
        session.add(Item(name="half-done"))
        await session.flush()
        raise HTTPException(400, "changed my mind")

    app.add_api_route("/test/write-then-fail", write_then_fail, methods=["POST"])
    assert (await client.post("/test/write-then-fail")).status_code == 400
    assert (await client.get(ITEMS)).json()["total"] == 0


async def test_reads_are_public_and_writes_need_credentials(
    anonymous_client: httpx.AsyncClient,
) -> None:
    assert (await anonymous_client.get(ITEMS)).status_code == 200
    _assert_error(await anonymous_client.post(ITEMS, json={"name": "w"}), 401, "unauthorized")
