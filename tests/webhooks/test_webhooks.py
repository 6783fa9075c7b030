"""Outbound webhooks: an event per item write, enqueued with the write, delivered signed as
Standard Webhooks receivers verify it, retried under the same webhook-id."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.access import READ, WRITE, Caller
from app.jobs import Jobs
from app.jobs.worker import drain
from app.main import Settings, create_app
from app.services import services_of
from app.settings_errors import SettingsError, load_settings
from tests.clients import asgi_client
from tests.conftest import FULL_ACCESS, empty_tables, make_settings
from tests.webhooks.receiver import Receiver, new_secret, webhook_receiver


def plain_url(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def queued_payloads(database_url: str) -> list[bytes]:
    connection = await asyncpg.connect(plain_url(database_url))
    try:
        return [row["payload"] for row in await connection.fetch("SELECT payload FROM pgqueuer")]
    finally:
        await connection.close()


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    options = getattr(request, "param", {})
    with webhook_receiver(**options) as receiver:
        yield receiver


@pytest.fixture
async def webhook_app(receiver: Receiver, database_url: str) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        database_url,
        webhook_url=receiver.url,
        webhook_secret=receiver.secret,
        jobs_retry_delay=0.05,
    )
    app = create_app(settings)

    async def full_access() -> Caller:
        return FULL_ACCESS

    app.dependency_overrides[READ] = full_access
    app.dependency_overrides[WRITE] = full_access
    async with app.router.lifespan_context(app):
        yield app
    await empty_tables(database_url)
    connection = await asyncpg.connect(plain_url(database_url))
    try:
        await connection.execute("TRUNCATE pgqueuer, pgqueuer_log")
    finally:
        await connection.close()


@pytest.fixture
async def webhook_client(webhook_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(webhook_app) as client:
        yield client


def test_a_webhook_url_without_a_secret_stops_start_up_naming_the_secret() -> None:
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        load_settings(Settings, _env_file=None, webhook_url="https://example.com/hooks")


@pytest.mark.parametrize("secret", ["not-whsec", "whsec_!!!"])
def test_a_secret_not_in_whsec_form_is_refused(secret: str) -> None:
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        load_settings(
            Settings, _env_file=None, webhook_url="https://example.com/h", webhook_secret=secret
        )


@pytest.mark.postgres
async def test_without_a_webhook_url_item_writes_enqueue_nothing(
    client: httpx.AsyncClient, database_url: str
) -> None:
    assert (await client.post("/api/v1/items", json={"name": "quiet"})).status_code == 201
    assert await queued_payloads(database_url) == []


@pytest.mark.postgres
async def test_each_item_write_is_delivered_as_a_signed_event(
    webhook_client: httpx.AsyncClient, webhook_app: FastAPI, receiver: Receiver
) -> None:
    item = (await webhook_client.post("/api/v1/items", json={"name": "book"})).json()
    await webhook_client.patch(f"/api/v1/items/{item['id']}", json={"description": "read"})
    await webhook_client.delete(f"/api/v1/items/{item['id']}")
    await drain(services_of(webhook_app).get(Jobs))
    events = receiver.wait_for(3)
    assert receiver.unverified == 0
    by_type = {event["type"]: event["data"] for event in events.values()}
    assert by_type.keys() == {"items.created", "items.updated", "items.deleted"}
    assert by_type["items.created"]["name"] == "book"
    assert by_type["items.updated"]["description"] == "read"
    assert by_type["items.deleted"]["id"] == item["id"]


@pytest.mark.postgres
async def test_a_conflicting_write_is_rolled_back_with_its_event(
    webhook_client: httpx.AsyncClient, database_url: str
) -> None:
    assert (await webhook_client.post("/api/v1/items", json={"name": "twin"})).status_code == 201
    assert (await webhook_client.post("/api/v1/items", json={"name": "twin"})).status_code == 409
    assert len(await queued_payloads(database_url)) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("receiver", [{"fail_first": True}], indirect=True)
async def test_a_failed_delivery_is_retried_with_the_same_webhook_id(
    webhook_client: httpx.AsyncClient, webhook_app: FastAPI, receiver: Receiver
) -> None:
    await webhook_client.post("/api/v1/items", json={"name": "retried"})
    result = await drain(services_of(webhook_app).get(Jobs))
    assert result["retried"] == 1 and result["done"] == 1
    (message_id,) = receiver.wait_for(1)
    assert receiver.attempts == [message_id, message_id]


@pytest.mark.postgres
@pytest.mark.parametrize("receiver", [{"status": 410}], indirect=True)
async def test_a_refusal_other_than_429_or_5xx_fails_the_event_at_once(
    webhook_client: httpx.AsyncClient, webhook_app: FastAPI, receiver: Receiver
) -> None:
    await webhook_client.post("/api/v1/items", json={"name": "gone"})
    result = await drain(services_of(webhook_app).get(Jobs))
    assert result["failed"] == 1 and result["retried"] == 0
    assert len(receiver.attempts) == 1


def test_new_secrets_are_accepted() -> None:
    settings = make_settings("", webhook_url="https://example.com/h", webhook_secret=new_secret())
    assert settings.webhook_secret.startswith("whsec_")
