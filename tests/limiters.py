"""A limiter of the tests' own, for the access dependency (app/access.py)."""

from __future__ import annotations

from collections import Counter

from fastapi import HTTPException, Request, Response

from app.access import Caller, Scope


class AddressLimiter:
    """Counts what the access dependency charges to client addresses and refuses, with 429,
    any charge past `allowed` for one address; requests it is asked to `limit` go through."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.charged: Counter[str] = Counter()

    async def limit(
        self, request: Request, response: Response, caller: Caller | None, scope: Scope
    ) -> None:
        pass

    async def limit_address(self, request: Request, scope: Scope) -> None:
        address = request.client.host if request.client else "unknown"
        self.charged[address] += 1
        if self.charged[address] > self.allowed:
            raise HTTPException(429, "Too many requests from this address")
