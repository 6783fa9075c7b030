"""Who may call the API and how often: the one dependency API routes declare.

    @router.get("", dependencies=[Depends(READ)], openapi_extra=PUBLIC)   public unless
                                                                           API_KEYS_REQUIRED_FOR_READS
    @router.post("", dependencies=[Depends(WRITE)])                        credentials with `write`

The core knows no kind of credential itself. Features provide them at start-up: API keys
(`app/api_keys/`) add an `Authenticator`, rate limits (`app/rate_limits/`) a `Limiter`, each
through `services.access`. Without any authenticator every request is anonymous: reads are
public, and writes are refused with 401 (so removing every credential feature never opens the
API for writing). It is one dependency, not a chain, because FastAPI spends tens of
microseconds per dependency per request, and as a security scheme it puts the bearer
credential into the OpenAPI document, so /docs offers "Authorize".

Credentials nobody has checked yet are counted against the client's address: an authenticator
awaits `before_lookup()` before a costly check (a database query), and a request refused with
401 is counted if it was not already. So made-up credentials cost a client its address's limit
(then 429, with no check at all), while a credential answered from memory costs nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from fastapi import HTTPException, Request, Response, status
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase

from app.services import services

Scope = Literal["read", "write"]

# For read routes: credentials are optional unless API_KEYS_REQUIRED_FOR_READS. The empty
# requirement added to the route's scheme says so in the OpenAPI document.
PUBLIC: dict[str, Any] = {"security": [{}]}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request's credentials name, e.g. `key:3f9a1c2e5b7d`, and what they may do."""

    id: str
    scopes: frozenset[str]


class Authenticator(Protocol):
    async def authenticate(
        self, credential: str, *, before_lookup: Callable[[], Awaitable[None]]
    ) -> Caller | None:
        """The caller, or None if the credential is not of this kind; 401 if it is invalid.

        Await `before_lookup()` before checking the credential anywhere but in memory: it
        counts the request against its client address and raises 429 when that is spent.
        """
        ...


class Limiter(Protocol):
    async def limit(
        self, request: Request, response: Response, caller: Caller | None, scope: Scope
    ) -> None:
        """Count the request; raise 429 (or 503) when it must not go on."""
        ...

    async def limit_address(self, request: Request, scope: Scope) -> None:
        """Count the request against its client address, as if it had no credentials; raise
        429 (or 503) when it must not go on. Adds no headers to a response that goes on."""
        ...


@dataclass(eq=False)
class AccessPolicy:
    reads_need_credentials: bool = False
    authenticators: list[Authenticator] = field(default_factory=list)
    limiters: list[Limiter] = field(default_factory=list)


class Access(SecurityBase):
    """Checks the request's credentials against `scope`, then the limits for that scope."""

    def __init__(self, scope: Scope) -> None:
        self.scope: Scope = scope
        self.scheme_name = "Bearer"
        self.model = HTTPBearerModel(
            description="`Authorization: Bearer <credential>`: an API key (also accepted as "
            "`X-API-Key: <key>`) or another credential the service accepts."
        )

    async def __call__(self, request: Request, response: Response) -> Caller | None:
        """The caller (None when anonymous), once it may make this request now."""
        policy = services(request).access
        credential = presented_credential(request)
        needed = self.scope == "write" or policy.reads_need_credentials
        if credential is None:
            caller = None
            if needed:
                await _limit_address(request, policy, self.scope)
                raise unauthorized("Credentials are required: send Authorization: Bearer <key>")
        else:
            caller = await _caller(request, policy, self.scope, credential)
            if needed and self.scope not in caller.scopes:
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN, f"The credentials lack the '{self.scope}' scope"
                )
        for limiter in policy.limiters:
            await limiter.limit(request, response, caller, self.scope)
        return caller


READ = Access("read")
WRITE = Access("write")


def presented_credential(request: Request) -> str | None:
    """`Authorization: Bearer <credential>`, else `X-API-Key`; None when neither is sent."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return request.headers.get("x-api-key") or None


async def _caller(request: Request, policy: AccessPolicy, scope: Scope, credential: str) -> Caller:
    limited = False

    async def before_lookup() -> None:
        nonlocal limited
        if not limited:
            limited = True
            await _limit_address(request, policy, scope)

    try:
        for authenticator in policy.authenticators:
            caller = await authenticator.authenticate(credential, before_lookup=before_lookup)
            if caller is not None:
                return caller
        raise unauthorized("The credentials are not valid")
    except HTTPException as exc:
        # A refusal from memory (a key already known to be wrong, a malformed token) counts
        # too: over the address's limit it becomes a 429.
        if exc.status_code == status.HTTP_401_UNAUTHORIZED and not limited:
            await _limit_address(request, policy, scope)
        raise


async def _limit_address(request: Request, policy: AccessPolicy, scope: Scope) -> None:
    for limiter in policy.limiters:
        await limiter.limit_address(request, scope)


def unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"}
    )
