"""Who may call the API and how often: the one dependency the items routes declare.

    dependencies=[Depends(READ)]   public unless API_KEYS_REQUIRED_FOR_READS; RATE_LIMIT
    dependencies=[Depends(WRITE)]  a key with the `write` scope; RATE_LIMIT_WRITE

It is one dependency, not a chain of small ones, because FastAPI spends roughly 30 µs per
dependency per request and this one runs on every API request. As a security scheme it also
puts the bearer key into the OpenAPI document, so /docs offers "Authorize".
"""

from __future__ import annotations

from typing import Literal

from fastapi import HTTPException, Request, Response, status
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase

from app.api_keys import KeyVerifier, VerifiedKey
from app.rate_limit import LimiterUnavailable, RateLimiter
from app.settings import Settings


class Access(SecurityBase):
    """Checks the request's API key against `scope` and counts it against that scope's limit."""

    def __init__(self, scope: Literal["read", "write"]) -> None:
        self.scope = scope
        self.scheme_name = "APIKey"
        self.model = HTTPBearerModel(
            description="An API key, as `Authorization: Bearer <key>` or `X-API-Key: <key>`."
        )

    async def __call__(self, request: Request, response: Response) -> VerifiedKey | None:
        """The caller's key (None without one), once it may make this request now."""
        settings: Settings = request.app.state.settings
        key = await _verified_key(request)
        if self.scope == "write" or settings.api_keys_required_for_reads:
            _require_scope(key, self.scope)
        rate = settings.write_rate if self.scope == "write" else settings.read_rate
        if rate is None:
            return key
        who = f"key:{key.prefix}" if key else f"ip:{client_ip(request, settings)}"
        limiter: RateLimiter = request.app.state.rate_limiter
        try:
            usage = await limiter.hit(f"{self.scope}:{who}", rate)
        except LimiterUnavailable:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "Rate limiting is unavailable; try again shortly",
                headers={"Retry-After": "1"},
            ) from None
        if usage is None:  # the backend is down and RATE_LIMIT_FAIL_OPEN lets us through
            return key
        headers = usage.headers()
        if usage.exceeded:
            headers["Retry-After"] = headers["RateLimit-Reset"]
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"Rate limit exceeded: {rate.limit} requests per {rate.seconds} s",
                headers=headers,
            )
        for name, value in headers.items():
            response.headers.append(name, value)  # a fresh response: no header to replace
        return key


READ = Access("read")
WRITE = Access("write")


async def _verified_key(request: Request) -> VerifiedKey | None:
    """The key the request presents, verified; None if it presents none; 401 if it is invalid."""
    presented = request.headers.get("x-api-key")
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        presented = credentials.strip()
    if not presented:
        return None
    verifier: KeyVerifier = request.app.state.api_keys
    key = await verifier.verify(presented)
    if key is None:
        raise _unauthorized("The API key is not valid")
    return key


def _require_scope(key: VerifiedKey | None, scope: str) -> None:
    if key is None:
        raise _unauthorized("An API key is required: send Authorization: Bearer <key>")
    if scope not in key.scopes:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"The API key lacks the '{scope}' scope")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"}
    )


def client_ip(request: Request, settings: Settings) -> str:
    """The client's address as the server saw it, or from CLIENT_IP_HEADER when that is set.

    Uvicorn and Gunicorn already replace the connection's address with one from
    X-Forwarded-For when the connection comes from FORWARDED_ALLOW_IPS, so this never reads
    that header itself: any client can send one. CLIENT_IP_HEADER is for platforms that set a
    header of their own, overwriting whatever the client sent (Vercel: x-vercel-forwarded-for).
    """
    if settings.client_ip_header and (value := request.headers.get(settings.client_ip_header)):
        return value.split(",", 1)[0].strip()
    return request.client.host if request.client else "unknown"
