"""Outbound webhooks: an event per changed row, enqueued in the write's transaction, and its
delivery, signed per Standard Webhooks (https://www.standardwebhooks.com).

The rows are seen through SQLAlchemy's mapper events on every model (`Base`), during the
flush and on the flush's own connection: the job that delivers the event is in the same
transaction as the change, and a write that is rolled back (a 409, say) sends nothing. Only
ORM writes are seen; a bulk `UPDATE`/`DELETE` statement is not.

Each delivery is a `POST` of the event's JSON with three headers: `webhook-id` (the same on
every retry of an event, so a receiver can drop duplicates), `webhook-timestamp` (of this
attempt) and `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`
under the secret). A 2xx answer delivers it; a timeout, a connection error, 429 or 5xx is
retried with backoff (app/jobs/); any other answer fails the job at once.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, object_session
from standardwebhooks.webhooks import Webhook

from app.database import Base, Database
from app.http_client import HTTPClient
from app.jobs import JobFailed, Jobs
from app.webhooks.settings import WebhookSettings

logger = logging.getLogger(__name__)

DELIVER = "webhooks.deliver"
_KINDS = {"after_insert": "created", "after_update": "updated", "after_delete": "deleted"}


class Webhooks:
    """Turns changed rows into delivery jobs, and delivers them."""

    def __init__(
        self, settings: WebhookSettings, database: Database, http: HTTPClient, jobs: Jobs
    ) -> None:
        self._url = settings.webhook_url
        self._signer = Webhook(settings.webhook_secret)
        self._tables = frozenset(settings.webhook_tables)
        self._database = database
        self._http = http
        self._jobs = jobs
        jobs.handle(DELIVER, self.deliver)
        self._listeners = [(name, self._listener(kind)) for name, kind in _KINDS.items()]

    def listen(self) -> None:
        for name, listener in self._listeners:
            event.listen(Base, name, listener, propagate=True)

    async def close(self) -> None:
        for name, listener in self._listeners:
            event.remove(Base, name, listener)

    def _listener(self, kind: str) -> Any:
        def changed(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
            table = mapper.local_table.name  # type: ignore[attr-defined]
            engine = self._database.engine
            # Mapper events are per model class, not per app: act on this app's writes only.
            # Sessions run on an option of the engine (app/database.py), which shares its pool.
            if (
                table not in self._tables
                or engine is None
                or connection.engine.pool is not engine.sync_engine.pool
            ):
                return
            session = object_session(target)
            assert session is not None
            # The columns' values the flush has: reading an unloaded one would be a query.
            loaded = inspect(target).dict
            data = {c.key: loaded[c.key] for c in mapper.column_attrs if c.key in loaded}
            body = {
                "type": f"{table}.{kind}",
                "timestamp": datetime.now(UTC).isoformat(),
                "data": data,
            }
            message = {"id": f"msg_{uuid.uuid4().hex}", "body": to_json(body).decode()}
            self._jobs.enqueue(session, DELIVER, json.dumps(message).encode())

        return changed

    async def deliver(self, payload: bytes) -> None:
        message = json.loads(payload)
        message_id, body = message["id"], message["body"]
        timestamp = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": self._signer.sign(message_id, timestamp, body),
        }
        response = await self._http.client().post(self._url, content=body, headers=headers)
        status = response.status_code
        if 200 <= status < 300:
            logger.info("webhook %s delivered (%d)", message_id, status)
            return
        if status == 429 or status >= 500:
            raise RuntimeError(f"webhook {message_id}: the receiver answered {status}")
        raise JobFailed(f"webhook {message_id}: the receiver answered {status}")
