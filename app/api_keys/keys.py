"""API keys: how they are made, stored and checked.

A key looks like `sk_3f9a1c2e5b7d_<43 characters>`. `3f9a1c2e5b7d` is its public prefix: it
names the key in lists and logs and finds its row. The rest is 32 random bytes (256 bits).
Only the SHA-256 of the whole key is stored: a slow password hash buys nothing for a secret
that random, and SHA-256 keeps a cache miss cheap. The stored and presented hashes are
compared in constant time.

Verified keys are cached in each process for API_KEY_CACHE_SECONDS, so a request with a known
key costs no database round trip; a revoked key keeps working in a process at most that long.
A key the cache cannot answer for is looked up once however many requests bring it at once,
and each of those requests is first counted against its client address (app/access.py): made-up
keys cost a client its address's limit, then 429s, never a lookup each.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Caller, unauthorized
from app.api_keys.models import ApiKey
from app.database import Database

SCOPES = ("read", "write")
_MARKER = "sk"
# 48 bits: prefixes must be unique, and at this length a clash is vanishingly rare.
_PREFIX_BYTES = 6
# Per cache, valid keys and unknown ones: unknown keys are cached too (so repeating one costs
# no query), and apart, so that no number of made-up keys pushes a valid one out.
_MAX_CACHED = 10_000


_Entry = TypeVar("_Entry")


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

    def __init__(
        self, database: Database, cache_seconds: float, *, max_cached: int = _MAX_CACHED
    ) -> None:
        self._database = database
        self._cache_seconds = cache_seconds
        self._max_cached = max_cached
        # SHA-256 of the presented key -> (monotonic expiry, the caller), least recently used
        # first; the same for keys found invalid, with None for the caller.
        self._valid: OrderedDict[str, tuple[float, Caller]] = OrderedDict()
        self._invalid: OrderedDict[str, tuple[float, None]] = OrderedDict()
        # Lookups under way, by digest: a request for the same key awaits the one in flight.
        self._lookups: dict[str, asyncio.Task[Caller | None]] = {}

    async def authenticate(
        self, credential: str, *, before_lookup: Callable[[], Awaitable[None]]
    ) -> Caller | None:
        prefix = key_prefix(credential)
        if prefix is None:
            return None
        caller = await self._verify(prefix, credential, before_lookup)
        if caller is None:
            raise unauthorized("The API key is not valid")
        return caller

    async def _verify(
        self, prefix: str, key: str, before_lookup: Callable[[], Awaitable[None]]
    ) -> Caller | None:
        digest = hash_key(key)
        now = time.monotonic()
        valid = self._valid.get(digest)
        if valid is not None and valid[0] > now:
            self._valid.move_to_end(digest)
            return valid[1]
        invalid = self._invalid.get(digest)
        if invalid is not None and invalid[0] > now:
            self._invalid.move_to_end(digest)
            return None
        await before_lookup()
        lookup = self._lookups.get(digest)
        if lookup is None:
            lookup = asyncio.ensure_future(self._lookup(prefix, digest))
            self._lookups[digest] = lookup
            lookup.add_done_callback(partial(self._looked_up, digest))
        # Shielded: a request that goes away does not cancel the lookup others await.
        return await asyncio.shield(lookup)

    def _looked_up(self, digest: str, lookup: asyncio.Task[Caller | None]) -> None:
        del self._lookups[digest]
        if lookup.cancelled() or lookup.exception() is not None:
            return  # every request awaiting it has the error; nothing is cached
        caller = lookup.result()
        if not self._cache_seconds:
            return
        expires = time.monotonic() + self._cache_seconds
        if caller is None:
            self._valid.pop(digest, None)
            _remember(self._invalid, digest, (expires, None), self._max_cached)
        else:
            self._invalid.pop(digest, None)
            _remember(self._valid, digest, (expires, caller), self._max_cached)

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


def _remember(cache: OrderedDict[str, _Entry], digest: str, entry: _Entry, most: int) -> None:
    """Add or refresh an entry as the most recently used; past `most` entries, drop the least
    recently used one."""
    cache[digest] = entry
    cache.move_to_end(digest)
    if len(cache) > most:
        cache.popitem(last=False)
