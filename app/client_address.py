"""Who a request comes from: the address in the access log and the one per-address limits count.

The server puts the address of the connection's peer in the ASGI scope's `client`; behind a
proxy that is the proxy. The proxy passes the client's address on in a header, but a client can
send that header too, so which value to believe depends on the deployment:

    CLIENT_IP_HEADER=<name>   a header the platform sets, replacing any the client sent
                              (`x-vercel-forwarded-for`, the default on Vercel)
    TRUSTED_PROXY_HOPS=N      the Nth X-Forwarded-For entry from the right: each proxy appends
                              the address it was called from, so the rightmost N were written
                              by the N proxies in front of the app (1 behind Render's), and
                              everything to their left by whoever called the outermost one
    neither                   the address the server reports

RequestMiddleware (app/middleware.py) applies the choice to `scope["client"]` before anything
else runs, so `request.client` is the same trusted address for the log, the limits and routes.

Uvicorn, which Gunicorn's workers run, has already replaced the peer's address with an
X-Forwarded-For entry when the peer is in FORWARDED_ALLOW_IPS: the rightmost entry not itself
in that list (the leftmost when all are), or, with `*`, always the leftmost entry, which is the
client's own. So with TRUSTED_PROXY_HOPS the header is read here, from the raw headers, which
uvicorn leaves alone; when it has fewer than N entries the server's address stands.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Scope

# The client's address from a request's scope, or None to keep the one the server reported.
AddressReader = Callable[[Scope], str | None]

_FORWARDED_FOR = b"x-forwarded-for"


def client_address_reader(header: str, trusted_proxy_hops: int) -> AddressReader | None:
    """How to read the client's address; None when the server's address is the client's."""
    if header:
        return _from_header(header.lower().encode("latin-1"))
    if trusted_proxy_hops:
        return _from_forwarded_for(trusted_proxy_hops)
    return None


def _from_header(name: bytes) -> AddressReader:
    def read(scope: Scope) -> str | None:
        for header, value in scope["headers"]:
            if header == name:
                # A platform's own header holds one address; the first is the client's anyway.
                address = value.split(b",", 1)[0].strip()
                return address.decode("latin-1") if address else None
        return None

    return read


def _from_forwarded_for(hops: int) -> AddressReader:
    def read(scope: Scope) -> str | None:
        values = [value for header, value in scope["headers"] if header == _FORWARDED_FOR]
        if not values:
            return None
        # Several X-Forwarded-For lines are one list, in order (RFC 9110, 5.3). At most
        # hops + 1 pieces, however long the part the client wrote.
        entries = b",".join(values).rsplit(b",", hops)
        if len(entries) < hops:
            return None
        address = entries[-hops].strip()
        return address.decode("latin-1") if address else None

    return read
