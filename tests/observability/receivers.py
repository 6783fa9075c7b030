"""Receivers on 127.0.0.1 for what the SDKs really send: Sentry envelopes, OTLP/HTTP traces."""

from __future__ import annotations

import gzip
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span


@dataclass
class SentryReceiver:
    port: int
    envelopes: list[bytes] = field(default_factory=list)

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.port}/1"

    def events(self) -> list[dict[str, Any]]:
        """The error events in every envelope received so far."""
        found = []
        for envelope in list(self.envelopes):
            lines = envelope.split(b"\n")
            for header, payload in itertools.pairwise(lines[1:]):
                try:
                    kind = json.loads(header).get("type")
                except (ValueError, AttributeError):
                    continue
                if kind == "event":
                    found.append(json.loads(payload))
        return found

    def wait_for_events(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.events()


@contextmanager
def sentry_receiver(delay: float = 0) -> Iterator[SentryReceiver]:
    """`delay`: seconds each envelope takes to be accepted, as over a slow network.
    GET answers how many have been accepted so far."""
    envelopes: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            time.sleep(delay)
            envelopes.append(body)
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def do_GET(self) -> None:
            count = str(len(envelopes)).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(count)))
            self.end_headers()
            self.wfile.write(count)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SentryReceiver(server.server_address[1], envelopes)
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class OtlpReceiver:
    """An OTLP/HTTP collector that keeps what it is sent. A GET is an upstream service: it keeps
    the request's headers and answers how many exports have been received so far."""

    port: int
    bodies: list[bytes] = field(default_factory=list)
    upstream_headers: list[dict[str, str]] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spans(self) -> list[Span]:
        found = []
        for body in list(self.bodies):
            export = ExportTraceServiceRequest.FromString(body)
            for resource in export.resource_spans:
                for scope in resource.scope_spans:
                    found.extend(scope.spans)
        return found

    def wait_for_spans(self, count: int, timeout: float = 30) -> list[Span]:
        deadline = time.monotonic() + timeout
        while len(self.spans()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.spans()


@contextmanager
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver(0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/v1/traces":
                receiver.bodies.append(body)
            self._answer(b"")

        def do_GET(self) -> None:
            receiver.upstream_headers.append({k.lower(): v for k, v in self.headers.items()})
            self._answer(str(len(receiver.bodies)).encode())

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
