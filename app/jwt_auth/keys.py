"""The provider's public keys: fetched without blocking, cached, refetched for a new `kid`.

PyJWT's own `PyJWKClient` fetches with blocking urllib inside the event loop; this fetches
through the app's shared httpx client instead. The set is kept for its `Cache-Control:
max-age` (within bounds), and fetched again when it is stale or a token names a key it lacks,
which is how a key rotation at the provider arrives without a restart. Fetches are at least
`JWT_JWKS_MIN_REFRESH_SECONDS` apart and requests that need one at the same time share it, so
tokens with made-up `kid`s cannot turn into a fetch each. When the provider cannot be reached,
the keys already fetched keep verifying.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from app.http_client import HTTPClient
from app.jwt_auth.settings import JwtSettings

logger = logging.getLogger(__name__)

# A provider's max-age is followed within these bounds: below, every few requests would
# fetch; above, a key the provider withdrew would be trusted for too long.
MIN_CACHE_SECONDS = 60.0
MAX_CACHE_SECONDS = 86_400.0
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


class KeySetUnavailable(Exception):
    """The key set could not be fetched and no key for the token is cached."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("the key set could not be fetched")
        self.retry_after = retry_after


class UnknownKey(Exception):
    """The key set, freshly fetched, has no key for the token."""


class KeySet:
    def __init__(self, http: HTTPClient, settings: JwtSettings) -> None:
        self._http = http
        self._jwks_url = settings.jwt_jwks_url or None
        self._issuer = settings.jwt_issuer
        self._default_ttl = settings.jwt_jwks_cache_seconds
        self._min_refresh = settings.jwt_jwks_min_refresh_seconds
        self._keys: dict[str | None, PyJWK] = {}
        self._expires_at = -math.inf
        self._attempted_at = -math.inf
        self._failed = False
        self._fetch: asyncio.Task[None] | None = None
        # Counts the sets fetched: what was verified with an earlier one is verified again.
        self.generation = 0

    async def key(self, kid: str | None, before_fetch: Callable[[], Awaitable[None]]) -> PyJWK:
        """The key named `kid`; raises `UnknownKey` or `KeySetUnavailable`."""
        key = self._keys.get(kid)
        now = time.monotonic()
        if key is not None and now < self._expires_at:
            return key
        if self._fetch is None and now - self._attempted_at < self._min_refresh:
            # Fetched (or tried) a moment ago: answer from what that fetch left.
            if key is not None:
                return key
            if self._failed:
                raise KeySetUnavailable(self._attempted_at + self._min_refresh - now)
            raise UnknownKey
        await before_fetch()
        try:
            await self._refresh()
        except KeySetUnavailable:
            if key is not None:
                return key  # an outage at the provider: the cached key still verifies
            raise
        found = self._keys.get(kid)
        if found is None:
            raise UnknownKey
        return found

    async def _refresh(self) -> None:
        fetch = self._fetch
        # A task of an earlier event loop (AWS Lambda may start one per invocation) is dead.
        if fetch is None or fetch.get_loop() is not asyncio.get_running_loop():
            fetch = self._fetch = asyncio.get_running_loop().create_task(self._fetch_keys())
            fetch.add_done_callback(self._forget)
        # Shielded: a request that gives up must not cancel the fetch others are waiting for.
        await asyncio.shield(fetch)

    def _forget(self, fetch: asyncio.Task[None]) -> None:
        if self._fetch is fetch:
            self._fetch = None
        if not fetch.cancelled():
            fetch.exception()  # retrieved, even if every request waiting for it gave up

    async def _fetch_keys(self) -> None:
        self._attempted_at = time.monotonic()
        client = self._http.client()
        try:
            url = self._jwks_url or await self._discover(client)
            response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            keys = _usable_keys(response.json())
        except (httpx.HTTPError, ValueError, PyJWTError) as error:
            self._failed = True
            logger.warning("could not fetch the JWT key set: %s: %s", type(error).__name__, error)
            raise KeySetUnavailable(self._min_refresh or 1) from None
        self._keys, self._failed = keys, False
        self.generation += 1
        ttl = _max_age(response.headers.get("cache-control"), self._default_ttl)
        self._expires_at = time.monotonic() + ttl

    async def _discover(self, client: httpx.AsyncClient) -> str:
        """The `jwks_uri` of the issuer's OpenID Connect discovery document."""
        response = await client.get(f"{self._issuer.rstrip('/')}/.well-known/openid-configuration")
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict) or not isinstance(document.get("jwks_uri"), str):
            raise ValueError("the discovery document has no jwks_uri")
        if document.get("issuer") != self._issuer:
            # OpenID Connect Discovery 1.0, section 4.3: a document for another issuer is not
            # to be used.
            raise ValueError("the discovery document names another issuer")
        url: str = document["jwks_uri"]
        self._jwks_url = url
        return url


def _usable_keys(document: Any) -> dict[str | None, PyJWK]:
    """The signing keys of a JWKS document, by `kid`; keys of unknown types are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JSON Web Key Set")
    keys: dict[str | None, PyJWK] = {}
    for data in document["keys"]:
        if not isinstance(data, dict) or data.get("use", "sig") != "sig":
            continue
        try:
            key = PyJWK(data)
        except PyJWTError:
            continue
        if not isinstance(key.key, bytes):  # a symmetric (`oct`) key is never a public key
            keys[data.get("kid")] = key
    if not keys:
        raise ValueError("the key set has no usable signing key")
    if len(keys) == 1:
        # A token without `kid` may use the only key there is.
        keys.setdefault(None, next(iter(keys.values())))
    return keys


def _max_age(cache_control: str | None, default: float) -> float:
    match = _MAX_AGE.search(cache_control or "")
    if match is None:
        return default
    return min(max(float(match.group(1)), MIN_CACHE_SECONDS), MAX_CACHE_SECONDS)
