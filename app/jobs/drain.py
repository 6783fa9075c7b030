"""The drain on serverless platforms: an internal route, and the Lambda event that calls it.

Vercel's cron (vercel.json) requests `GET /internal/jobs/drain` with
`Authorization: Bearer $CRON_SECRET`. On AWS Lambda an EventBridge schedule invokes the same
handler as the API; `ScheduledEvent` (passed to Mangum in api/index.py) turns that event into
the same request, marked in its ASGI scope, which no HTTP request can be.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, status

from app.jobs.queue import Jobs
from app.services import services

if TYPE_CHECKING:
    from mangum.types import LambdaConfig, LambdaContext, LambdaEvent, Response, Scope

DRAIN_PATH = "/internal/jobs/drain"
# Set in the scope of a request made from an EventBridge scheduled event.
SCHEDULED_EVENT = "app.jobs.scheduled_event"

router = APIRouter(include_in_schema=False)


def _authorized(request: Request, authorization: str | None, secret: str) -> bool:
    if request.scope.get(SCHEDULED_EVENT) is True:
        return True
    if not secret or authorization is None:
        return False
    # Constant time: how much of the secret matched must not show in the response time.
    return hmac.compare_digest(authorization.encode(), f"Bearer {secret}".encode())


@router.get(DRAIN_PATH)
async def drain_jobs(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> dict[str, int]:
    owned = services(request)
    jobs = owned.get(Jobs)
    if not _authorized(request, authorization, jobs.settings.cron_secret):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Missing or wrong CRON_SECRET")
    if jobs.settings.database.is_sqlite:
        return {"done": 0, "retried": 0, "failed": 0, "scheduled": 0}
    from app.jobs.worker import drain

    return await drain(jobs)


class ScheduledEvent:
    """Mangum's handler for EventBridge's `Scheduled Event`: a request to DRAIN_PATH."""

    def __init__(self, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> None:
        self.event = event
        self.context = context

    @classmethod
    def infer(cls, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> bool:
        return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"

    @property
    def body(self) -> bytes:
        return b""

    @property
    def scope(self) -> Scope:
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "https",
            "path": DRAIN_PATH,
            "raw_path": DRAIN_PATH.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [],
            "server": None,
            "client": None,
            "aws.event": self.event,
            "aws.context": self.context,
            SCHEDULED_EVENT: True,
        }

    def __call__(self, response: Response) -> dict[str, Any]:
        return {"statusCode": response["status"], "body": response["body"].decode()}
