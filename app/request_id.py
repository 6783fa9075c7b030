"""The current request's ID: chosen once per request, read by log lines and error bodies."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from contextvars import ContextVar

# Set by RequestMiddleware for the duration of one request; None outside a request.
current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# An inbound ID is echoed into headers and logs, so it must be short and harmless: no spaces,
# quotes or control characters that could forge a log line or split a header. Vercel's
# `x-vercel-id` ("fra1::iad1::abcde-1700000000000-0123456789ab") passes.
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def choose_request_id(headers: Iterable[tuple[bytes, bytes]], *, vercel: bool = False) -> str:
    """The client's `X-Request-ID` when sane, else (on Vercel) `x-vercel-id`, else a new one.

    Only Vercel's edge sets `x-vercel-id`; anywhere else it is just a header the client chose.
    """
    inbound = platform = None
    for name, value in headers:
        if name == b"x-request-id":
            inbound = value
        elif vercel and name == b"x-vercel-id":
            platform = value
    for candidate in (inbound, platform):
        if candidate is not None and _SAFE_ID.fullmatch(candidate):
            return candidate.decode("ascii")
    # 32 random hex digits, like a UUID's hex but without building a UUID object per request.
    return secrets.token_hex(16)
