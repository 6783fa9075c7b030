"""Sending what a signal queued before a serverless instance can be frozen.

Vercel and AWS Lambda may freeze an instance as soon as the response's last part is out, with
background threads (Sentry's transport, the span exporter) still holding events. So on those
platforms the last part is held back until the queue is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def flush_before_last_message(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, *, flush: Callable[[], object]
) -> None:
    """Run `app`, then `flush` (blocking: run in a thread), then send the held last part."""
    held: list[Message] = []

    async def holding_send(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            held.append(message)
            return
        await send(message)

    try:
        await app(scope, receive, holding_send)
    finally:
        await asyncio.to_thread(flush)
        for message in held:
            await send(message)
