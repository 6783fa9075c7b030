"""One cold start as a serverless platform sees it: a fresh process imports the app, runs its
lifespan's start-up, and answers its first `GET /ready`. Prints the seconds that took.

    python -m bench.cold_start api.index          the template's serverless entry point
    python -m bench.cold_start bench.sqlalchemy_app

The request is made in process, through the ASGI interface, so the figure holds no server and
no client: only the import, the start-up and the first request (the engine, its first
connection and the query).
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import asyncio  # noqa: E402  (the clock starts before any import)
import importlib  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


async def first_ready(app: Any) -> tuple[int, float]:
    """The status of the first `GET /ready`, and the seconds since the process started."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise SystemExit(f"start-up failed: {started}")

    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/ready",
        "raw_path": b"/ready",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
        "state": {},
    }
    await app(scope, receive, send)
    elapsed = time.perf_counter() - STARTED
    await inbox.put({"type": "lifespan.shutdown"})
    await outbox.get()
    await lifespan
    return statuses[0], elapsed


def main() -> None:
    app = importlib.import_module(sys.argv[1]).app
    status, elapsed = asyncio.run(first_ready(app))
    if status != 200:
        raise SystemExit(f"GET /ready answered {status}")
    print(elapsed)


if __name__ == "__main__":
    main()
