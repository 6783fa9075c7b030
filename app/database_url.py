"""DATABASE_URL as hosting platforms hand it out, made into what SQLAlchemy's drivers accept.

Render gives `postgres://…` (a scheme SQLAlchemy has no dialect for), external and Neon URLs
carry libpq options such as `sslmode` and `channel_binding` that asyncpg rejects as keyword
arguments. This module only does string work, so settings can validate a URL without
importing SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg"}
_SQLITE_SCHEMES = {"sqlite", "sqlite+aiosqlite"}

# Query parameters asyncpg.connect() takes as keyword arguments, passed through as given.
_ASYNCPG_PARAMETERS = {"ssl", "target_session_attrs", "prepared_statement_cache_size"}
# libpq's `sslmode` values are also valid values of asyncpg's `ssl` argument.
_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


class InvalidDatabaseURL(ValueError):
    """Raised with a message that names the URL's variable and never repeats the URL itself."""


@dataclass(frozen=True)
class DatabaseURL:
    """A normalized URL; `str()` and `repr()` hide the password."""

    url: str = field(repr=False)
    is_postgres: bool
    # libpq-only query parameters that were removed because asyncpg would reject them.
    dropped_parameters: tuple[str, ...] = ()

    @property
    def is_sqlite(self) -> bool:
        return not self.is_postgres

    @property
    def is_transaction_pooler(self) -> bool:
        """Whether the host is a pooler that runs in transaction mode by the provider's design.

        Only names that are unambiguous count: Supabase's poolers take transaction-mode
        connections on port 6543 (5432 on the same host is session mode), and Neon's pooled
        endpoint is the compute's host name with `-pooler` appended to its first label.
        """
        parts = urlsplit(self.url)
        host = (parts.hostname or "").lower()
        if host.endswith((".supabase.com", ".supabase.co")):
            return parts.port == 6543
        return host.endswith(".neon.tech") and host.split(".", 1)[0].endswith("-pooler")

    def __str__(self) -> str:
        return redact(self.url)


def parse_database_url(raw: str, variable: str = "DATABASE_URL") -> DatabaseURL:
    """`raw` normalized; an error names `variable`, the setting the URL came from."""
    raw = raw.strip()
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme in _SQLITE_SCHEMES:
        # Textual swap: urlunsplit() would turn `sqlite:///./x.db` into `sqlite:/./x.db`.
        return DatabaseURL("sqlite+aiosqlite" + raw[len(scheme) :], False)
    if scheme not in _POSTGRES_SCHEMES:
        raise InvalidDatabaseURL(
            f"{variable} must start with postgres://, postgresql://, postgresql+asyncpg:// "
            "or sqlite+aiosqlite://"
        )
    if not parts.hostname:
        raise InvalidDatabaseURL(f"{variable} has no host name")

    query: list[tuple[str, str]] = []
    dropped: list[str] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "sslmode" and value in _SSL_MODES:
            query.append(("ssl", value))
        elif name in _ASYNCPG_PARAMETERS:
            query.append((name, value))
        else:
            dropped.append(name)
    normalized = parts._replace(scheme="postgresql+asyncpg", query=urlencode(query))
    return DatabaseURL(urlunsplit(normalized), True, tuple(dropped))


def redact(url: str) -> str:
    """The URL with its password replaced, safe for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = quote(parts.username or "", safe="")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
