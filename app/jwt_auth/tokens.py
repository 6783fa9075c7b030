"""The authenticator for bearer JWTs, and the scheme that documents them in OpenAPI.

A credential shaped like a JWT (three base64url segments, the first a JSON header naming an
`alg`) is this authenticator's; any other is left to the others (API keys). Its signature is
checked by PyJWT with the provider's key named by its `kid`, then `exp`, `nbf`, `iat`, `iss` and
the audience. A refusal is a 401 whose `WWW-Authenticate` says why, in a few words that never
repeat the token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from fastapi import FastAPI, HTTPException, status
from jwt import exceptions
from jwt.types import Options

from app.access import Caller
from app.jwt_auth.keys import KeySet, KeySetUnavailable, UnknownKey
from app.jwt_auth.settings import JwtSettings
from app.services import Services

# The signature may be empty: an unsigned (`alg: none`) token is still a JWT, to be refused.
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Verified tokens remembered per process; past this, the least recently used is forgotten.
_REMEMBERED = 10_000


def install_tokens(app: FastAPI, services: Services, settings: JwtSettings) -> None:
    authenticator = JWTAuthenticator(KeySet(services.http, settings), settings)
    services.access.authenticators.append(services.provide(authenticator))
    document_scheme(app)


class JWTAuthenticator:
    def __init__(self, keys: KeySet, settings: JwtSettings) -> None:
        self._keys = keys
        self._algorithms = frozenset(settings.jwt_algorithms)
        self._issuer = settings.jwt_issuer or None
        self._audience = settings.jwt_audience or None
        self._audience_claim = settings.jwt_audience_claim
        self._leeway = settings.jwt_leeway_seconds
        self._scope_claims = tuple(settings.jwt_scope_claims)
        self._scope_map = {value: frozenset(s) for value, s in settings.jwt_scope_map.items()}
        checks_aud = self._audience is not None and self._audience_claim == "aud"
        required = ["exp", "iat", "sub"]
        required += ["iss"] if self._issuer else []
        required += ["aud"] if checks_aud else []
        self._options: Options = {"require": required, "verify_aud": checks_aud}
        # sha256(token) -> (valid until, key set generation, caller), least recently used first.
        self._verified: OrderedDict[bytes, tuple[float, int, Caller]] = OrderedDict()

    async def authenticate(
        self, credential: str, *, before_lookup: Callable[[], Awaitable[None]]
    ) -> Caller | None:
        if not _JWT_SHAPE.fullmatch(credential):
            return None
        # A front end sends the same token until it expires: once verified, it is answered
        # from memory until then, or until the key set changes (a key may have been withdrawn).
        digest = hashlib.sha256(credential.encode()).digest()
        remembered = self._verified.get(digest)
        if remembered is not None:
            until, generation, caller = remembered
            if time.time() < until and generation == self._keys.generation:
                self._verified.move_to_end(digest)
                return caller
            del self._verified[digest]
        header = _header(credential)
        if header is None:
            return None
        caller, until = await self._verify(credential, header, before_lookup)
        self._verified[digest] = (until, self._keys.generation, caller)
        if len(self._verified) > _REMEMBERED:
            self._verified.popitem(last=False)
        return caller

    async def _verify(
        self,
        credential: str,
        header: dict[str, Any],
        before_lookup: Callable[[], Awaitable[None]],
    ) -> tuple[Caller, float]:
        """The caller, and until when (epoch seconds) the token stays valid; 401 or 503."""
        algorithm = header["alg"]
        if algorithm not in self._algorithms:
            raise invalid_token("The token's algorithm is not accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise invalid_token("The token is not valid")
        try:
            key = await self._keys.key(kid, before_lookup)
        except UnknownKey:
            raise invalid_token("The token's signing key is not known") from None
        except KeySetUnavailable as error:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "The identity provider's keys are unavailable; try again shortly",
                headers={"Retry-After": str(max(1, math.ceil(error.retry_after)))},
            ) from None
        try:
            claims: dict[str, Any] = jwt.decode(
                credential,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience if self._options["verify_aud"] else None,
                leeway=self._leeway,
                options=self._options,
            )
        except exceptions.PyJWTError as error:
            raise invalid_token(_reason(error)) from None
        other_claim = self._audience_claim != "aud" and self._audience is not None
        if other_claim and claims.get(self._audience_claim) != self._audience:
            raise invalid_token("The token's audience is not accepted")
        caller = Caller(_caller_id(claims), self._scopes(claims))
        return caller, float(claims["exp"]) + self._leeway

    def _scopes(self, claims: dict[str, Any]) -> frozenset[str]:
        granted: set[str] = set()
        for claim in self._scope_claims:
            value = claims.get(claim)
            values = value.split() if isinstance(value, str) else value
            if isinstance(values, list):
                for item in values:
                    if isinstance(item, str):
                        granted |= self._scope_map.get(item, frozenset())
        return frozenset(granted)


def invalid_token(reason: str) -> HTTPException:
    """401 with RFC 6750's error code; `reason` is fixed text, never taken from the token."""
    challenge = f'Bearer error="invalid_token", error_description="{reason}"'
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, reason, headers={"WWW-Authenticate": challenge}
    )


def _header(credential: str) -> dict[str, Any] | None:
    """The header of a credential shaped like a JWT, or None if it has none."""
    # Read here rather than with jwt.get_unverified_header, which would decode and check every
    # segment once more before jwt.decode does it again.
    encoded = credential.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError:
        return None
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        return None
    return header


def _caller_id(claims: dict[str, Any]) -> str:
    # Per issuer and subject, so rate limits count each user; hashed, so that a `sub` (often an
    # email address or a user ID) never becomes a rate-limit key or a log field as it is.
    subject = f"{claims.get('iss', '')}\n{claims['sub']}"
    return f"sub:{hashlib.sha256(subject.encode()).hexdigest()[:16]}"


def _reason(error: exceptions.PyJWTError) -> str:
    if isinstance(error, exceptions.ExpiredSignatureError):
        return "The token has expired"
    if isinstance(error, exceptions.ImmatureSignatureError):
        return "The token is not valid yet"
    if isinstance(error, exceptions.InvalidIssuerError):
        return "The token's issuer is not accepted"
    if isinstance(error, exceptions.InvalidAudienceError):
        return "The token's audience is not accepted"
    if isinstance(error, exceptions.MissingRequiredClaimError):
        return f"The token lacks the '{error.claim}' claim"
    if isinstance(error, exceptions.InvalidSignatureError):
        return "The token's signature is not valid"
    if isinstance(error, exceptions.InvalidAlgorithmError):
        return "The token's algorithm does not match its key"
    return "The token is not valid"


def document_scheme(app: FastAPI) -> None:
    """Add a `JWT` scheme to the OpenAPI document, as an alternative wherever a route takes
    credentials, so that /docs offers it beside the core's `Bearer`."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()  # kept by FastAPI as app.openapi_schema, completed here once
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes["JWT"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "`Authorization: Bearer <token>`: an access token from the "
            "identity provider.",
        }
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                security = operation.get("security") if isinstance(operation, dict) else None
                if security and any(requirement for requirement in security):
                    security.insert(1, {"JWT": []})
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
