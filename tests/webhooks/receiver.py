"""A webhook receiver on 127.0.0.1 that verifies every request as receivers should: with the
`standardwebhooks` package, against the secret the app signs with."""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

from tests.servers import free_port


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass
class Receiver:
    port: int
    secret: str
    # The webhook-id of every request, in the order they came, whatever the answer.
    attempts: list[str] = field(default_factory=list)
    # Each event answered 2xx, verified and parsed, by webhook-id (a repeat overwrites).
    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)
    # How many times an event was answered 2xx: more than once is a duplicate delivery.
    deliveries: list[str] = field(default_factory=list)
    unverified: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def wait_for(self, count: int, timeout: float = 30) -> dict[str, dict[str, Any]]:
        """The delivered events once there are `count` of them (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while len(self.delivered) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return dict(self.delivered)

    def wait_for_attempts(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.attempts) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.attempts) >= count, f"{len(self.attempts)} attempts, not {count}"


@contextmanager
def webhook_receiver(
    *, fail_first: bool = False, status: int = 204, seconds: float = 0.0
) -> Iterator[Receiver]:
    """`fail_first`: answer 503 to the first attempt of each event. `status`: the answer
    otherwise. `seconds`: how long each answer takes."""
    secret = new_secret()
    verifier = Webhook(secret)
    lock = threading.Lock()
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = self.rfile.read(length)
            if len(body) < length:
                return  # the sender died mid-request (a killed worker): nothing was sent
            message_id = self.headers.get("webhook-id", "")
            try:
                event = verifier.verify(body, dict(self.headers))
            except Exception:
                with lock:
                    receiver.unverified += 1
                self._answer(400)
                return
            with lock:
                first = message_id not in receiver.attempts
                receiver.attempts.append(message_id)
            time.sleep(seconds)
            if fail_first and first:
                self._answer(503)
                return
            if 200 <= status < 300:
                with lock:
                    receiver.delivered[message_id] = event
                    receiver.deliveries.append(message_id)
            self._answer(status)

        def _answer(self, code: int) -> None:
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    receiver = Receiver(server.server_address[1], secret)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
