"""Outbound webhooks: an event per row written through the ORM, enqueued with the write,
delivered signed as Standard Webhooks receivers verify it, retried under the same webhook-id.

The rows are of a table of the tests' own (`webhook_test_notes`, made here and not by any
migration), so these tests hold whatever features the app has.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from app.database import Base
from app.jobs import Jobs
from app.jobs.worker import drain
from app.main import Settings, create_app
from app.services import services_of
from app.settings_errors import SettingsError, load_settings
from tests.conftest import make_settings
from tests.webhooks.receiver import Receiver, new_secret, webhook_receiver

# Its own MetaData: not among the models' tables that migrations and the other tests see.
notes = Table(
    "webhook_test_notes",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("text", String(50), unique=True),
)


class Note(Base):
    __table__ = notes

    id: Mapped[int]
    text: Mapped[str]


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


async def execute(database_url: str, statement: str) -> None:
    connection = await asyncpg.connect(plain_url(database_url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
async def notes_table(database_url: str) -> AsyncIterator[None]:
    """The notes table for the test's length, and an empty queue afterwards."""
    await execute(
        database_url,
        "CREATE TABLE webhook_test_notes (id serial PRIMARY KEY, text varchar(50) UNIQUE)",
    )
    yield
    await execute(database_url, "DROP TABLE webhook_test_notes; TRUNCATE pgqueuer, pgqueuer_log")


@pytest.fixture
async def webhook_app(
    receiver: Receiver, database_url: str, notes_table: None
) -> AsyncIterator[FastAPI]:
    """The app, sending the notes table's changes to the receiver."""
    settings = make_settings(
        database_url,
        webhook_url=receiver.url,
        webhook_secret=receiver.secret,
        webhook_tables="webhook_test_notes",
        jobs_retry_delay=0.05,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def session(webhook_app: FastAPI) -> AsyncIterator[AsyncSession]:
    async with services_of(webhook_app).database.session() as session:
        yield session


async def add_note(session: AsyncSession, text: str) -> Note:
    note = Note(text=text)
    session.add(note)
    await session.commit()
    return note


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
async def test_without_a_webhook_url_writes_enqueue_nothing(
    database_url: str, notes_table: None
) -> None:
    app = create_app(make_settings(database_url, webhook_tables="webhook_test_notes"))
    async with app.router.lifespan_context(app), services_of(app).database.session() as session:
        await add_note(session, "quiet")
    assert await queued_payloads(database_url) == []


@pytest.mark.postgres
async def test_each_created_updated_and_deleted_row_is_delivered_as_a_signed_event(
    session: AsyncSession, webhook_app: FastAPI, receiver: Receiver
) -> None:
    note = await add_note(session, "draft")
    note.text = "final"
    await session.commit()
    await session.delete(note)
    await session.commit()
    await drain(services_of(webhook_app).get(Jobs))
    events = receiver.wait_for(3)
    assert receiver.unverified == 0
    by_type = {event["type"]: event["data"] for event in events.values()}
    assert by_type == {
        "webhook_test_notes.created": {"id": note.id, "text": "draft"},
        "webhook_test_notes.updated": {"id": note.id, "text": "final"},
        "webhook_test_notes.deleted": {"id": note.id, "text": "final"},
    }


@pytest.mark.postgres
async def test_a_write_rolled_back_on_a_conflict_sends_nothing(
    session: AsyncSession, database_url: str
) -> None:
    await add_note(session, "twin")
    session.add(Note(text="twin"))
    with pytest.raises(IntegrityError):
        await session.flush()
    await session.rollback()
    assert len(await queued_payloads(database_url)) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("receiver", [{"fail_first": True}], indirect=True)
async def test_a_failed_delivery_is_retried_with_the_same_webhook_id(
    session: AsyncSession, webhook_app: FastAPI, receiver: Receiver
) -> None:
    await add_note(session, "retried")
    result = await drain(services_of(webhook_app).get(Jobs))
    assert result["retried"] == 1 and result["done"] == 1
    (message_id,) = receiver.wait_for(1)
    assert receiver.attempts == [message_id, message_id]


@pytest.mark.postgres
@pytest.mark.parametrize("receiver", [{"status": 410}], indirect=True)
async def test_a_refusal_other_than_429_or_5xx_fails_the_event_at_once(
    session: AsyncSession, webhook_app: FastAPI, receiver: Receiver
) -> None:
    await add_note(session, "gone")
    result = await drain(services_of(webhook_app).get(Jobs))
    assert result["failed"] == 1 and result["retried"] == 0
    assert len(receiver.attempts) == 1


def test_new_secrets_are_accepted() -> None:
    settings = make_settings("", webhook_url="https://example.com/h", webhook_secret=new_secret())
    assert settings.webhook_secret.startswith("whsec_")
