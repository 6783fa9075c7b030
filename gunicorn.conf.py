"""Gunicorn settings for long-running hosts such as Render.

    gunicorn -c gunicorn.conf.py app.main:app

Every value a deployment may want to change comes from an environment variable (listed in
.env.example). Gunicorn reads them from the process environment only, never from `.env`.
"""

import asyncio
import os
import shutil
import socket
import sys
import tempfile
from typing import Any

import h11
from gunicorn.arbiter import Arbiter
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from app import garbage_collector


def _int_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


def _bool_from_env(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"true", "1"}:
        return True
    if raw in {"false", "0"}:
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def _cpu_count() -> int:
    # The CPUs this process may run on, which can be fewer than the machine has. Neither this
    # nor os.cpu_count() sees a container's CPU quota: set WEB_CONCURRENCY on shared hosts.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity API
        return os.cpu_count() or 1


# Render sets PORT (10000 by default) and expects the server on every interface.
bind = f"0.0.0.0:{_int_from_env('PORT', 8000)}"

# Each worker runs an event loop that keeps one core busy on its own, so one worker per core;
# the 2n+1 rule is for blocking workers that sit idle while waiting on I/O.
workers = _int_from_env("WEB_CONCURRENCY", _cpu_count())

# The app is imported once in the master and forked, so workers share its memory and a
# replacement worker skips the import. Safe because importing app.main opens nothing: the
# engine, its connections and every event loop are created in each worker's lifespan.
preload_app = True

# Seconds a worker's event loop may stay blocked before the master kills and replaces it.
# It bounds a stuck process, not a slow request: a request awaiting I/O keeps the loop free.
timeout = _int_from_env("GUNICORN_TIMEOUT", 30)
# Seconds in-flight requests get to finish after SIGTERM. Render sends SIGKILL 30 s after
# SIGTERM (maxShutdownDelaySeconds in render.yaml), so this leaves the master time to exit.
graceful_timeout = _int_from_env("GUNICORN_GRACEFUL_TIMEOUT", 25)
# Seconds an idle connection stays open. Longer than the idle timeout of the proxy in front
# (60 s is common), so the proxy closes first and never reuses a connection as we close it.
keepalive = _int_from_env("GUNICORN_KEEPALIVE", 75)
# Replace each worker after about this many requests, bounding the growth of any slow leak;
# the jitter keeps workers from retiring together. 0 turns recycling off.
max_requests = _int_from_env("GUNICORN_MAX_REQUESTS", 10_000)
max_requests_jitter = _int_from_env("GUNICORN_MAX_REQUESTS_JITTER", 1_000)

# Peers whose X-Forwarded-For and X-Forwarded-Proto uvicorn believes. The default is uvicorn's
# and Gunicorn's own, this machine, so a container whose port clients reach directly believes
# no header a client sends. render.yaml sets `*`, for https URLs behind Render's proxy; with `*`
# uvicorn takes the leftmost X-Forwarded-For entry, which the client wrote, so the app settles
# the client's address itself (TRUSTED_PROXY_HOPS, app/client_address.py).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Errors go to stderr. The access log is off: the app logs each request itself, and a second
# line per request from the server would double the log volume and cost per-request time.
# GUNICORN_ACCESS_LOG=- turns it on (to stdout), e.g. while the app's log is not enough.
errorlog = "-"
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None

# Limits for clients that reach the port directly, as the Docker image's clients may. uvicorn's
# default parser (httptools) buffers request headers of any size, for as long as they take to
# arrive; a proxy in front (Render's, Vercel's) bounds both before a request gets here, so there
# the limits would only cost throughput (docs/docker.md has the figures). With them on, a
# request line and headers of more than _MAX_HEADER_BYTES together get 400 (32 KiB, about what
# common proxies allow); a connection is closed that has not sent a request's headers within
# _HEADER_TIMEOUT seconds of opening, or of the request's first byte; and a worker answers 503
# while it has worker_connections connections open (Gunicorn's setting, which uvicorn's worker
# otherwise ignores).
_CLIENT_LIMITS = _bool_from_env("GUNICORN_CLIENT_LIMITS", False)
_MAX_HEADER_BYTES = 32 * 1024
_HEADER_TIMEOUT = _int_from_env("GUNICORN_HEADER_TIMEOUT", 10)
worker_connections = _int_from_env("GUNICORN_WORKER_CONNECTIONS", 1000)

# Gunicorn otherwise opens a control socket in $HOME for `gunicornc`; nothing here uses it, and
# several masters on one machine (tests, two services) would contend for the same path.
control_socket_disable = True


# The worker class comes from the uvicorn-worker package (uvicorn.workers is deprecated),
# with one change.
class DrainingUvicornWorker(UvicornWorker):
    """uvicorn-worker's worker, except that it reads what was already sent before it stops.

    On shutdown (SIGTERM, or after max_requests) uvicorn stops listening and, in the same
    instant, closes every connection without a parsed request, including one it accepted a
    moment ago whose request is already on the wire: the client gets no response, and a proxy
    answers 502 (https://github.com/Kludex/uvicorn/issues/2757). Pausing between the two lets
    those requests be read; uvicorn then serves them like any other request in flight.
    """

    async def _serve(self) -> None:
        # uvicorn_worker.UvicornWorker._serve, with the server below.
        self.config.app = self.wsgi
        server = _DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


class _DrainingServer(Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        # Ample for a request sent along with the connection; idle connections still close.
        await asyncio.sleep(0.1)
        await super().shutdown()  # closing the listeners again is a no-op


class _HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, except that a request's headers have to arrive in time.

    Written here because uvicorn has no such setting: its only timer is the keep-alive one,
    which runs between requests and stops at the first byte of the next. So a client that
    sends half its headers, or connects and sends nothing, holds the connection open forever.
    """

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer = self.loop.call_later(_HEADER_TIMEOUT, self._headers_overdue)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # h11 leaves the client's state IDLE until a request's headers are complete.
        if self.conn.their_state is h11.IDLE:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(_HEADER_TIMEOUT, self._headers_overdue)
        else:
            self._cancel_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_overdue(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE:
            self.transport.close()


class ClientLimitsUvicornWorker(DrainingUvicornWorker):
    """The worker above, with the limits for clients that reach the port directly.

    h11 is the parser with a bound on header size; the header timeout is added to it above.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.http = _HeaderTimeoutH11Protocol
        self.config.h11_max_incomplete_event_size = _MAX_HEADER_BYTES
        self.config.limit_concurrency = self.cfg.worker_connections


worker_class = ClientLimitsUvicornWorker if _CLIENT_LIMITS else DrainingUvicornWorker


# Prometheus metrics (METRICS_ENABLED): each worker writes its counts to files in this
# directory, and a scrape answered by any worker sums them. Set here, while the configuration
# is read, because preload_app imports the app (and prometheus_client, which reads it once at
# import) before any hook runs.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), f"prometheus-{os.getpid()}")
)


def on_starting(server: Arbiter) -> None:
    # Fresh at every start: counts left by an earlier run would be added to this one's.
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)


def pre_fork(server: Arbiter, worker: Any) -> None:
    # Whatever app this serves (a preloaded app.main has done it already): each worker starts
    # with what the master made frozen, so the collector neither scans it nor copies its pages.
    garbage_collector.settle_after_start_up()


def child_exit(server: Arbiter, worker: Any) -> None:
    # Loaded in the master only when the preloaded app counts metrics. The worker's counters
    # stay, so totals survive recycling; its in-flight gauge goes.
    if "prometheus_client" in sys.modules:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Arbiter) -> None:
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
