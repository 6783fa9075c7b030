"""Measure the template against its ceilings, side by side in one run, and write BENCHMARKS.md.

    .venv/bin/python -m bench.run                           # the full run, about five minutes
    .venv/bin/python -m bench.run --duration 1 --rounds 1   # a smoke run

Every server runs under the shipped gunicorn.conf.py with one worker, on a fresh PostgreSQL
database; wrk runs in its own process on 127.0.0.1. With two or more cores the servers are
pinned to core 0 and wrk to core 1, so they do not compete. The rows are measured in rounds,
and each figure is the median of its rounds: absolute numbers move with the machine, ratios
of figures taken side by side much less.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.jwt_provider import jwt_provider

ROOT = Path(__file__).resolve().parent.parent
SEED_ITEMS = 1000
START = "<!-- bench:start -->"
END = "<!-- bench:end -->"


def post_script(key: str) -> str:
    """wrk's Lua: a POST with a new name each time, so every create succeeds."""
    return f"""
counter = 0
headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {key}"}}
request = function()
  counter = counter + 1
  local body = '{{"name": "bench-' .. tostring(os.time()) .. '-' .. counter .. '"}}'
  return wrk.format("POST", nil, headers, body)
end
"""


@dataclass
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Row:
    name: str
    load: Load
    ceiling: str = ""
    ratio: float | None = None
    target: float | None = None


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if _cores() >= 2 and shutil.which("taskset") else []


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is not installed: apt-get install wrk (Debian/Ubuntu) or brew install wrk")
    return found


# --- the database -------------------------------------------------------------------------


async def _admin(admin_url: str, statement: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _seed(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.executemany(
            "INSERT INTO items (name, description) VALUES ($1, $2)",
            [(f"seed-{n}", "an item to read") for n in range(SEED_ITEMS)],
        )
    finally:
        await connection.close()


@contextmanager
def bench_database(admin_url: str) -> Iterator[str]:
    from alembic import command

    from app.migrate import alembic_config
    from app.settings import CoreSettings

    name = f"bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    url = f"{admin_url.rsplit('/', 1)[0]}/{name}"
    try:
        settings = CoreSettings(_env_file=None, database_url=url)
        command.upgrade(alembic_config(settings.database.url), "heads")
        asyncio.run(_seed(url))
        yield url
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- servers and load ---------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


@contextmanager
def gunicorn(
    module: str, env: dict[str, str], *, workers: int, pinned: bool, probe: str = "/health"
) -> Iterator[Server]:
    port = _free_port()
    env = {**os.environ, **env, "PORT": str(port), "WEB_CONCURRENCY": str(workers)}
    command = [
        *(_pin(0) if pinned else []),
        str(Path(sys.executable).with_name("gunicorn")),
        "-c",
        "gunicorn.conf.py",
        module,
    ]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    sys.exit(f"{module} exited at start-up:\n{log.read().decode()[-3000:]}")
                try:
                    httpx.get(f"{base}{probe}")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        sys.exit(f"{module} did not start within 30 s")
                    time.sleep(0.1)
            # Every worker has to be up before load starts.
            while len(Server(process, base).worker_pids()) < workers:
                time.sleep(0.1)
            time.sleep(0.5)
            yield Server(process, base)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def otlp_sink() -> Iterator[str]:
    """An OTLP/HTTP collector that accepts every export and keeps nothing; yields its URL.
    The server under test still pays for encoding and sending its spans, as it would to a
    real collector."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    url: str,
    duration: float,
    *,
    pinned: bool = False,
    script: str | None = None,
    headers: dict[str, str] | None = None,
) -> Load:
    command = [*(_pin(1) if pinned else []), ensure_wrk(), "-t1", "-c64"]
    command += [f"-d{max(1, round(duration))}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        if script:
            lua.write(script)
            lua.flush()
            command += ["-s", lua.name]
        output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    return parse_wrk_output(output)


def parse_wrk_output(output: str) -> Load:
    """What `wrk --latency` printed; every failed request counts as an error, whatever failed."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1)  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.+)", output)
    count = int(errors.group(1)) if errors else 0
    if socket_errors:
        count += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Load(rps, _milliseconds(p50), _milliseconds(p99), count)


# --- cold start and memory ----------------------------------------------------------------


def import_seconds(module: str, runs: int, env: dict[str, str]) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    timings = [
        float(
            subprocess.run(
                [sys.executable, "-c", code],
                cwd=ROOT,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(timings)


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kilobytes = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
    return kilobytes / 1024


# --- the run ------------------------------------------------------------------------------


def _create_key(env: dict[str, str]) -> str:
    command = [sys.executable, "-m", "app.cli", "create-api-key", "--name", "bench"]
    command += ["--scopes", "read,write"]
    result = subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return result.stdout.strip().splitlines()[-1]


def _ratio(name: str, load: Load, ceiling: str, base: Load, target: float | None = None) -> Row:
    return Row(name, load, ceiling, load.requests_per_second / base.requests_per_second, target)


def _median(loads: list[Load]) -> Load:
    return sorted(loads, key=lambda load: load.requests_per_second)[len(loads) // 2]


def run(
    admin_url: str, redis_url: str, duration: float, rounds: int, cold_runs: int
) -> tuple[list[Row], list[str]]:
    pinned = _cores() >= 2
    item = "/api/v1/items/500"
    with bench_database(admin_url) as url:
        # The public read path as shipped, but with rate limits off: what FastAPI, SQLAlchemy
        # and the middleware cost. The rate-limited rows below add the limiter.
        env = {
            "DATABASE_URL": url,
            "ENVIRONMENT": "production",
            "RATE_LIMIT": "off",
            "RATE_LIMIT_WRITE": "off",
            # At these rates the shipped max_requests would restart the worker every few
            # seconds, inside the runs; in service that happens a few times a day.
            "GUNICORN_MAX_REQUESTS": "0",
            # As on Render; one row below turns them on, as the Docker image does.
            "GUNICORN_CLIENT_LIMITS": "false",
        }
        key = _create_key(env)
        auth = {"Authorization": f"Bearer {key}"}

        # A request with a key, counted against a limit it never reaches, per backend.
        limited = {**env, "RATE_LIMIT": "1000000000/minute"}
        backends = {"postgres": {**limited, "RATE_LIMIT_BACKEND": "postgres"}}
        if redis_url:
            prefix = f"bench-{uuid.uuid4().hex[:8]}"
            backends["redis"] = {**limited, "REDIS_URL": redis_url, "RATE_LIMIT_KEY_PREFIX": prefix}

        with ExitStack() as servers:
            # All up at once on the server core (an idle one costs nothing), so that each
            # round measures every row within a minute and a slow spell of the machine hits
            # ours and its ceiling alike; each figure is the median of the rounds.
            def start(module: str, server_env: dict[str, str], probe: str = "/health") -> Server:
                server = gunicorn(module, server_env, workers=1, pinned=pinned, probe=probe)
                return servers.enter_context(server)

            bare = start("bench.bare_app:app", env)
            raw = start("bench.raw_asyncpg_app:app", env, probe=item)
            alchemy = start("bench.sqlalchemy_app:app", env, probe=item)
            ours = start("app.main:app", env)
            client_limits = start("app.main:app", {**env, "GUNICORN_CLIENT_LIMITS": "true"})
            limiters = {backend: start("app.main:app", e) for backend, e in backends.items()}
            # Each observability signal on its own; the DSN's host is never reached, since
            # nothing fails; every request's spans are exported to a sink.
            sink = servers.enter_context(otlp_sink())
            signals = {
                "metrics": {**env, "METRICS_ENABLED": "true", "METRICS_TOKEN": "bench"},
                "sentry": {**env, "SENTRY_DSN": "http://public@127.0.0.1:9/1"},
                "traces": {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": sink},
            }
            observed = {signal: start("app.main:app", e) for signal, e in signals.items()}
            # Requests with a provider's token, as a signed-in front end sends them: the same
            # token each time, verified with the key set fetched once, then remembered.
            jwt_env, token = servers.enter_context(jwt_provider())
            signed_in = start("app.main:app", {**env, **jwt_env})
            with_token = {"headers": {"Authorization": f"Bearer {token}"}}
            rss = {
                name: rss_mb(server.worker_pids()[0])
                for name, server in (("bare", bare), ("sqlalchemy", alchemy), ("ours", ours))
            }

            plan: dict[str, tuple[str, dict[str, Any]]] = {
                "bare": (f"{bare.base}/health", {}),
                "raw": (f"{raw.base}{item}", {}),
                "sqlalchemy": (f"{alchemy.base}{item}", {}),
                "health": (f"{ours.base}/health", {}),
                "health limited": (f"{client_limits.base}/health", {}),
                "ready": (f"{ours.base}/ready", {}),
                "get": (f"{ours.base}{item}", {}),
                "list": (f"{ours.base}/api/v1/items", {}),
                "create": (f"{ours.base}/api/v1/items", {"script": post_script(key)}),
                **{
                    backend: (f"{server.base}{item}", {"headers": auth})
                    for backend, server in limiters.items()
                },
                **{signal: (f"{server.base}{item}", {}) for signal, server in observed.items()},
                "jwt": (f"{signed_in.base}{item}", with_token),
            }
            runs: dict[str, list[Load]] = {name: [] for name in plan}
            for _ in range(rounds):
                for name, (target, options) in plan.items():
                    runs[name].append(wrk(target, duration, pinned=pinned, **options))
        load = {name: _median(loads) for name, loads in runs.items()}

        rows = [
            Row("bare FastAPI: GET /health", load["bare"]),
            Row("raw asyncpg: GET one item", load["raw"]),
            _ratio("bare SQLAlchemy: GET one item", load["sqlalchemy"], "raw asyncpg", load["raw"]),
            _ratio("GET /health", load["health"], "bare FastAPI", load["bare"], 0.85),
            _ratio(
                "GET /health, client limits on (Docker image)",
                load["health limited"],
                "GET /health",
                load["health"],
            ),
            _ratio("GET /ready", load["ready"], "raw asyncpg", load["raw"]),
            _ratio("GET one item", load["get"], "raw asyncpg", load["raw"], 0.6),
            _ratio("GET one item", load["get"], "bare SQLAlchemy", load["sqlalchemy"]),
            _ratio("GET first page (20 items)", load["list"], "raw asyncpg", load["raw"]),
            _ratio("POST create (with a key)", load["create"], "raw asyncpg", load["raw"]),
        ]
        for backend in backends:
            name = f"GET one item, with a key, rate-limited ({backend})"
            rows.append(_ratio(name, load[backend], "GET one item", load["get"]))
        labels = (
            ("metrics", "Prometheus metrics"),
            ("sentry", "Sentry errors"),
            ("traces", "OpenTelemetry traces"),
        )
        for signal, label in labels:
            rows.append(
                _ratio(f"GET one item, {label} on", load[signal], "GET one item", load["get"])
            )

        name = "GET one item, with a JWT (RS256, verified once, then remembered)"
        rows.append(_ratio(name, load["jwt"], "GET one item", load["get"]))

        cores = _cores()
        with gunicorn("app.main:app", env, workers=cores, pinned=False) as ours:
            rows.append(Row(f"GET /health, {cores} workers", wrk(f"{ours.base}/health", duration)))
            rows.append(Row(f"GET one item, {cores} workers", wrk(f"{ours.base}{item}", duration)))

        imports = {
            name: import_seconds(module, cold_runs, env)
            for name, module in (
                ("bare", "bench.bare_app"),
                ("sqlalchemy", "bench.sqlalchemy_app"),
                ("ours", "api.index"),
            )
        }

    def start_up(name: str, ours: float, bare: float, unit: str, target: float | None) -> str:
        ratio = ours / bare
        verdict = f"≤ {target} {_verdict(ratio <= target)}" if target else ""
        ceiling = f"bare FastAPI {bare:.0f} {unit}"
        return f"| {name} | {ours:.0f} {unit} | {ceiling} | {ratio:.2f} | {verdict} |"

    fresh = f"median of {cold_runs} fresh processes"
    ms = {name: seconds * 1000 for name, seconds in imports.items()}
    notes = [
        start_up(
            f"cold import of bench.sqlalchemy_app, {fresh}",
            ms["sqlalchemy"],
            ms["bare"],
            "ms",
            None,
        ),
        start_up(f"cold import of api.index, {fresh}", ms["ours"], ms["bare"], "ms", 1.3),
        start_up("idle worker RSS, bare SQLAlchemy", rss["sqlalchemy"], rss["bare"], "MB", None),
        start_up("idle worker RSS", rss["ours"], rss["bare"], "MB", 1.2),
    ]
    return rows, notes


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _versions() -> str:
    names = ["fastapi", "starlette", "uvicorn", "gunicorn", "sqlalchemy", "asyncpg", "pydantic"]
    return ", ".join(f"{name} {metadata.version(name)}" for name in names)


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


@dataclass(frozen=True)
class Machine:
    """What the table's first line says the figures were measured on."""

    date: datetime.date
    cpu: str
    cores: int
    python: str
    versions: str

    @classmethod
    def this_one(cls) -> Machine:
        return cls(datetime.date.today(), _cpu(), _cores(), platform.python_version(), _versions())


def render(
    rows: list[Row],
    notes: list[str],
    duration: float,
    rounds: int,
    machine: Machine | None = None,
) -> str:
    machine = machine or Machine.this_one()
    pinning = "server on core 0, wrk on core 1" if machine.cores >= 2 else "no pinning (one core)"
    lines = [
        START,
        f"Run on {machine.date.isoformat()}: {machine.cpu}, {machine.cores} cores, "
        f"Python {machine.python}, PostgreSQL on 127.0.0.1; {machine.versions}.",
        f"wrk -t1 -c64, {duration:g} s a run, the median of {rounds} rounds, {pinning}; one "
        "Gunicorn worker from gunicorn.conf.py unless the row says otherwise.",
        "",
        "| request | req/s | p50 ms | p99 ms | errors | ceiling | ratio | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        load = row.load
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
        target = ""
        if row.target is not None and row.ratio is not None:
            target = f"≥ {row.target} {_verdict(row.ratio >= row.target)}"
        lines.append(
            f"| {row.name} | {load.requests_per_second:,.0f} | {load.p50_ms:.1f} "
            f"| {load.p99_ms:.1f} | {load.errors} | {row.ceiling} | {ratio} | {target} |"
        )
    lines += [
        "",
        "| start-up | ours | ceiling | ratio | target |",
        "|---|---|---|---|---|",
        *notes,
        END,
    ]
    return "\n".join(lines)


def write(output: Path, table: str) -> None:
    text = output.read_text() if output.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + table + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + table + "\n"
    output.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5, help="seconds per load run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each row; the median counts")
    parser.add_argument("--cold-runs", type=int, default=15, help="fresh imports to time")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL server where the benchmark may create and drop a database",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="a Redis server for the Redis rate-limit row (empty: leave that row out)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    ensure_wrk()
    rows, notes = run(args.database_url, args.redis_url, args.duration, args.rounds, args.cold_runs)
    table = render(rows, notes, args.duration, args.rounds)
    write(args.output, table)
    print(table)


if __name__ == "__main__":
    main()
