"""API keys: how they are made, stored and checked.

A key looks like `sk_3f9a1c2e5b7d_<43 characters>`. `3f9a1c2e5b7d` is its public prefix: it
names the key in lists and logs and finds its row. The rest is 32 random bytes (256 bits).
Only the SHA-256 of the whole key is stored: a slow password hash buys nothing for a secret
that random, and SHA-256 keeps a cache miss cheap. The stored and presented hashes are
compared in constant time.

Verified keys are cached in each process for API_KEY_CACHE_SECONDS, so a request with a known
key costs no database round trip; a revoked key keeps working in a process at most that long.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Caller, unauthorized
from app.api_keys.models import ApiKey
from app.database import Database

SCOPES = ("read", "write")
_MARKER = "sk"
# 48 bits: prefixes must be unique, and at this length a clash is vanishingly rare.
_PREFIX_BYTES = 6
# Unknown keys are cached too (so repeating one costs no query); a client sending endless
# distinct keys must not grow the cache without bound.
_MAX_CACHED = 10_000


class KeyNotFound(LookupError):
    pass


def generate_key() -> tuple[str, str]:
    """A new key and its public prefix."""
    prefix = secrets.token_hex(_PREFIX_BYTES)
    return f"{_MARKER}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str | None:
    """The public prefix of a well-formed key, else None."""
    marker, _, rest = key.partition("_")
    prefix, _, secret = rest.partition("_")
    if marker != _MARKER or len(prefix) != 2 * _PREFIX_BYTES or not secret:
        return None
    return prefix


def parse_scopes(text: str) -> frozenset[str]:
    """`read,write` (commas or spaces) as a set; unknown scopes are an error."""
    scopes = frozenset(text.replace(",", " ").split())
    unknown = scopes.difference(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of: {', '.join(SCOPES)}")
    return scopes


async def create_api_key(
    session: AsyncSession, name: str, scopes: Collection[str]
) -> tuple[ApiKey, str]:
    """Store a new key; returns its row and the key itself, which nothing can recover later."""
    key, prefix = generate_key()
    scope_text = " ".join(scope for scope in SCOPES if scope in scopes)
    row = ApiKey(prefix=prefix, key_hash=hash_key(key), name=name, scopes=scope_text)
    session.add(row)
    await session.flush()
    return row, key


async def list_api_keys(session: AsyncSession) -> Sequence[ApiKey]:
    return (await session.scalars(select(ApiKey).order_by(ApiKey.id))).all()


async def revoke_api_key(session: AsyncSession, prefix: str) -> ApiKey:
    row = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None:
        raise KeyNotFound(prefix)
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
    return row


class KeyVerifier:
    """Checks presented keys against the database, through a per-process cache.

    As the access dependency's authenticator it claims only credentials shaped like a key
    (`sk_<prefix>_<secret>`) and leaves any other to the next authenticator.
    """

    def __init__(self, database: Database, cache_seconds: float) -> None:
        self._database = database
        self._cache_seconds = cache_seconds
        # SHA-256 of the presented key -> (monotonic expiry, the caller or None if invalid).
        self._cache: dict[str, tuple[float, Caller | None]] = {}

    async def authenticate(self, credential: str) -> Caller | None:
        prefix = key_prefix(credential)
        if prefix is None:
            return None
        caller = await self.verify(prefix, credential)
        if caller is None:
            raise unauthorized("The API key is not valid")
        return caller

    async def verify(self, prefix: str, key: str) -> Caller | None:
        digest = hash_key(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        verified = await self._lookup(prefix, digest)
        if self._cache_seconds:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[digest] = (now + self._cache_seconds, verified)
        return verified

    async def _lookup(self, prefix: str, digest: str) -> Caller | None:
        async with self._database.session() as session:
            row = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            if row is None or row.revoked_at is not None:
                return None
            if not hmac.compare_digest(row.key_hash, digest):
                return None
            # Recorded on a cache miss only, so it is accurate to API_KEY_CACHE_SECONDS and
            # requests served from the cache never write.
            await session.execute(
                update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=func.now())
            )
            await session.commit()
            return Caller(f"key:{row.prefix}", frozenset(row.scopes.split()))
