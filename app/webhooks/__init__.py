"""Outbound webhooks: every change to the chosen tables, delivered signed to WEBHOOK_URL.

What it adds to the app (`install`), when WEBHOOK_URL is set: the listener that enqueues an
event for each created, updated or deleted row, and the job that delivers it. It needs the
jobs feature (app/jobs/). Its README.md describes it; deleting this folder, tests/webhooks/
and its lines in app/main.py removes it.
"""

from __future__ import annotations

from app.jobs import Jobs
from app.services import Services
from app.webhooks.settings import WebhookSettings


def install(services: Services, settings: WebhookSettings) -> None:
    if not settings.webhook_url:
        return
    from app.webhooks.delivery import Webhooks

    webhooks = Webhooks(settings, services.database, services.http, services.get(Jobs))
    webhooks.listen()
    services.provide(webhooks, close=webhooks.close)


__all__ = ["WebhookSettings", "install"]
