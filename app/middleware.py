"""What every request passes through before routing, as pure ASGI middleware.

Outermost first:

    RequestMiddleware     client address, request ID, security headers, one access-log line,
                          500 on a crash
    CORSMiddleware        only when CORS_ORIGINS is set
    BodyLimitMiddleware   413 for request bodies over MAX_BODY_BYTES

Pure ASGI rather than BaseHTTPMiddleware, which costs a large share of throughput per layer,
and as few layers as stay readable.
"""

from __future__ import annotations

import logging
import time

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.client_address import AddressReader, client_address_reader
from app.errors import error_response
from app.request_id import choose_request_id, current_request_id
from app.settings import CoreSettings

access_logger = logging.getLogger("app.access")

# Safe for the API and for /docs and /redoc, which load Swagger UI and ReDoc from a CDN: no
# Content-Security-Policy here, since one strict enough to matter would block those assets.
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
# Health checks of load balancers and platforms (Render's healthCheckPath).
PROBE_PATHS = frozenset({"/health", "/ready"})
# Production only: browsers remember it for a year, and local development is plain HTTP.
HSTS_HEADER = (b"strict-transport-security", b"max-age=31536000")


def middleware_stack(settings: CoreSettings) -> list[Middleware]:
    stack = [
        Middleware(
            RequestMiddleware,
            hsts=settings.is_production,
            debug=settings.debug,
            vercel=bool(settings.vercel),
            client_address=client_address_reader(
                settings.client_address_header, settings.trusted_proxy_hops
            ),
        )
    ]
    if settings.cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_credentials=settings.cors_allow_credentials,
                allow_methods=["*"],
                allow_headers=["*"],
                # Readable by browser code: the ID to quote in a bug report, the new item's URL.
                expose_headers=["X-Request-ID", "Location"],
            )
        )
    stack.append(Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes))
    return stack


class RequestMiddleware:
    """Per request: settle the client's address (app/client_address.py), pick its ID, add the
    ID and security headers to the response, write one access-log line, and answer an
    unhandled exception with a 500 in the error shape.

    The 500 is made here rather than in an `Exception` handler: Starlette runs that handler
    outside all middleware, so its response would miss these headers. The exception is then
    re-raised, as Starlette's ServerErrorMiddleware does, so that whatever wraps the app (an
    error tracker, a tracer, the server) sees it. The server logs it, once, with its stack
    trace: the request's ID is still set in the task that logs it, so the line carries it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        hsts: bool = False,
        debug: bool = False,
        vercel: bool = False,
        client_address: AddressReader | None = None,
    ) -> None:
        self.app = app
        self.headers = (*SECURITY_HEADERS, HSTS_HEADER) if hsts else SECURITY_HEADERS
        self.debug = debug
        self.vercel = vercel
        self.client_address = client_address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        if self.client_address is not None:
            address = self.client_address(scope)
            if address is not None:
                scope["client"] = (address, 0)
        request_id = choose_request_id(scope["headers"], vercel=self.vercel)
        token = current_request_id.set(request_id)
        response_headers = [(b"x-request-id", request_id.encode()), *self.headers]
        status: int | None = None
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status, token
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *response_headers]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # The last body message: sending it makes uvicorn arm the connection's
                # keep-alive timer, which keeps a copy of the current context until the next
                # request. Without the ID in it, that copy holds nothing of this request.
                current_request_id.reset(token)
                try:
                    await send(message)
                finally:
                    token = current_request_id.set(request_id)
                return
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if status is None:
                message = "Internal server error"
                if self.debug:  # development only: production refuses DEBUG
                    message = f"{message}: {exc!r}"
                await error_response(500, message)(scope, receive, send_with_headers)
            # After a started response there is nothing to send; the server closes it.
            self._log_access(scope, status, started)
            raise
        self._log_access(scope, status, started)
        current_request_id.reset(token)

    @staticmethod
    def _log_access(scope: Scope, status: int | None, started: float) -> None:
        # A probe that succeeds is not logged: platforms call it every few seconds, and
        # those lines would bury the requests worth reading. A failing one is logged.
        probe = scope["path"] in PROBE_PATHS and status is not None and status < 400
        if probe or not access_logger.isEnabledFor(logging.INFO):
            return
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        method, path = scope["method"], scope["path"]  # path: never the query string
        client = scope["client"][0] if scope.get("client") else None
        access_logger.info(
            "%s %s %s %.1fms",
            method,
            path,
            status,
            duration_ms,
            extra={
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "client": client,
            },
        )


class BodyLimitMiddleware:
    """413 for a request body larger than `max_bytes`, never read into memory whole.

    A too-large Content-Length is refused before the app runs. A body without one (chunked) is
    counted as it streams in, and reading stops with a 413 as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.message = f"Request body is larger than {max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_bytes:
                    await error_response(413, self.message)(scope, receive, send)
                    return
                break

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI hands an HTTPException raised while reading the body to the
                    # exception handlers, which answer in the error shape.
                    raise HTTPException(413, self.message)
            return message

        await self.app(scope, counting_receive, send)
