"""Measure the template against its ceilings, side by side in one run, and write BENCHMARKS.md.

    .venv/bin/python -m bench.run                           # the full run, about seven minutes
    .venv/bin/python -m bench.run --duration 1 --rounds 1   # a smoke run

Every server, the ceilings included, runs under the shipped gunicorn.conf.py (its garbage
collector settings too) with one worker, on a fresh PostgreSQL database; wrk runs in its own
process on 127.0.0.1. With two or more cores the servers are pinned to core 0 and wrk to core 1,
so they do not compete. The rows are measured in rounds, and each figure is the median of its
rounds, with the lowest and highest beside it: absolute numbers move with the machine, ratios
of figures taken side by side much less.

Memory is measured on two-worker servers after load, as the total PSS of the master and its
workers (shared pages counted once) and the USS of a worker (what one more worker costs). A
cold start is a fresh process answering its first `GET /ready` (bench/cold_start.py).
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
    # The lowest and highest requests per second of the rounds.
    spread: tuple[float, float] | None = None


@dataclass
class Figure:
    """A start-up or memory figure: ours, the rounds' spread, and the ceiling it is held to."""

    name: str
    ours: float
    spread: tuple[float, float]
    unit: str
    ceiling: str = ""
    base: float | None = None
    # At most this many times the ceiling.
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


def first_ready_seconds(module: str, runs: int, env: dict[str, str]) -> list[float]:
    """Seconds from a fresh process to its first `GET /ready` 200, once per run."""
    command = [sys.executable, "-m", "bench.cold_start", module]
    # The figure is the last line: the app's own log lines come before it.
    return [
        float(
            subprocess.run(
                command,
                cwd=ROOT,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=True,
            ).stdout.splitlines()[-1]
        )
        for _ in range(runs)
    ]


def _memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value)
    return fields


def memory_mb(server: Server) -> tuple[float, float]:
    """The total PSS of the master and its workers, and the mean USS of a worker, in MB."""
    master = _memory_kb(server.process.pid)
    workers = [_memory_kb(pid) for pid in server.worker_pids()]
    pss = master["Pss"] + sum(worker["Pss"] for worker in workers)
    uss = [worker["Private_Clean"] + worker["Private_Dirty"] for worker in workers]
    return pss / 1024, statistics.mean(uss) / 1024


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


def _spread(loads: list[Load]) -> tuple[float, float]:
    rates = [load.requests_per_second for load in loads]
    return min(rates), max(rates)


# The targets, as ratios to the ceiling named beside each.
HEALTH_TARGET = 0.9  # GET /health, at least, of the bare FastAPI route
READ_TARGET = 0.6  # GET one item, at least, of raw asyncpg
READ_ALCHEMY_TARGET = 0.9  # GET one item, at least, of the bare SQLAlchemy app
COLD_START_TARGET = 1.15  # first /ready, at most, of the bare SQLAlchemy app
PSS_TARGET = 1.05  # total PSS, at most, of the bare SQLAlchemy app's
USS_TARGET = 1.25  # a worker's USS, at most, of a bare FastAPI worker's


def run(
    admin_url: str, redis_url: str, duration: float, rounds: int, cold_runs: int
) -> tuple[list[Row], list[Figure]]:
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
            # Each opt-in layer on its own, one server each, read against the same item as
            # "GET one item" with every layer off. A new layer is one entry here and one label
            # below. The DSN's host is never reached, since nothing fails; every request's
            # spans are exported to a sink.
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
            _ratio("GET /health", load["health"], "bare FastAPI", load["bare"], HEALTH_TARGET),
            _ratio(
                "GET /health, client limits on (Docker image)",
                load["health limited"],
                "GET /health",
                load["health"],
            ),
            _ratio("GET /ready", load["ready"], "raw asyncpg", load["raw"]),
            _ratio("GET one item", load["get"], "raw asyncpg", load["raw"], READ_TARGET),
            _ratio(
                "GET one item",
                load["get"],
                "bare SQLAlchemy",
                load["sqlalchemy"],
                READ_ALCHEMY_TARGET,
            ),
            _ratio("GET first page (20 items)", load["list"], "raw asyncpg", load["raw"]),
            _ratio("POST create (with a key)", load["create"], "raw asyncpg", load["raw"]),
        ]
        # Which runs each row above was made from, for its spread.
        made_from = ["bare", "raw", "sqlalchemy", "health", "health limited", "ready", "get"]
        made_from += ["get", "list", "create"]
        for backend in backends:
            name = f"GET one item, with a key, rate-limited ({backend})"
            rows.append(_ratio(name, load[backend], "GET one item", load["get"]))
            made_from.append(backend)
        labels = (
            ("metrics", "Prometheus metrics"),
            ("sentry", "Sentry errors"),
            ("traces", "OpenTelemetry traces"),
        )
        for signal, label in labels:
            rows.append(
                _ratio(f"GET one item, {label} on", load[signal], "GET one item", load["get"])
            )
            made_from.append(signal)
        name = "GET one item, with a JWT (RS256, verified once, then remembered)"
        rows.append(_ratio(name, load["jwt"], "GET one item", load["get"]))
        made_from.append("jwt")
        for row, name in zip(rows, made_from, strict=True):
            row.spread = _spread(runs[name])

        # Memory after load, on two workers each, unpinned: the ceilings' and ours. Ours is
        # loaded with probes and reads, which are also its rows for two workers.
        memory: dict[str, list[tuple[float, float]]] = {"bare": [], "sqlalchemy": [], "ours": []}
        two_workers: dict[str, list[Load]] = {"/health": [], "one item": []}
        for _ in range(rounds):
            for name, module, path in (
                ("bare", "bench.bare_app:app", "/health"),
                ("sqlalchemy", "bench.sqlalchemy_app:app", item),
                ("ours", "app.main:app", item),
            ):
                with gunicorn(module, env, workers=2, pinned=False, probe=path) as server:
                    if name == "ours":
                        two_workers["/health"].append(wrk(f"{server.base}/health", duration))
                        two_workers["one item"].append(wrk(f"{server.base}{item}", duration))
                    else:
                        wrk(f"{server.base}{path}", duration)
                    memory[name].append(memory_mb(server))
        for what, loads in two_workers.items():
            rows.append(Row(f"GET {what}, 2 workers", _median(loads), spread=_spread(loads)))

        cold = {
            name: first_ready_seconds(module, cold_runs, env)
            for name, module in (("sqlalchemy", "bench.sqlalchemy_app"), ("ours", "api.index"))
        }

    def figure(
        name: str,
        values: list[float],
        unit: str,
        ceiling: str = "",
        base: list[float] | None = None,
        target: float | None = None,
    ) -> Figure:
        middle = statistics.median(values)
        return Figure(
            name,
            middle,
            (min(values), max(values)),
            unit,
            ceiling,
            statistics.median(base) if base else None,
            target,
        )

    ms = {name: [seconds * 1000 for seconds in values] for name, values in cold.items()}
    pss = {name: [total for total, _ in values] for name, values in memory.items()}
    uss = {name: [worker for _, worker in values] for name, values in memory.items()}
    fresh = f"fresh process to first GET /ready 200, {cold_runs} runs"
    figures = [
        figure(f"bare SQLAlchemy: {fresh}", ms["sqlalchemy"], "ms"),
        figure(fresh, ms["ours"], "ms", "bare SQLAlchemy", ms["sqlalchemy"], COLD_START_TARGET),
        figure("bare FastAPI: total PSS, master + 2 workers, after load", pss["bare"], "MB"),
        figure(
            "bare SQLAlchemy: total PSS, master + 2 workers, after load", pss["sqlalchemy"], "MB"
        ),
        figure(
            "total PSS, master + 2 workers, after load",
            pss["ours"],
            "MB",
            "bare SQLAlchemy",
            pss["sqlalchemy"],
            PSS_TARGET,
        ),
        figure("bare FastAPI: USS of a worker, after load", uss["bare"], "MB"),
        figure(
            "bare SQLAlchemy: USS of a worker, after load",
            uss["sqlalchemy"],
            "MB",
            "bare FastAPI",
            uss["bare"],
        ),
        figure(
            "USS of a worker, after load",
            uss["ours"],
            "MB",
            "bare FastAPI",
            uss["bare"],
            USS_TARGET,
        ),
    ]
    return rows, figures


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


def _span(low: float, high: float, digits: int = 0) -> str:
    return f"{low:,.{digits}f} to {high:,.{digits}f}"


def figure_line(figure: Figure) -> str:
    """One row of the start-up and memory table."""
    low, high = figure.spread
    digits = 1 if figure.unit == "MB" else 0
    ceiling = ratio = target = ""
    if figure.base is not None:
        ceiling = f"{figure.ceiling} {figure.base:,.{digits}f} {figure.unit}"
        ratio_value = figure.ours / figure.base
        ratio = f"{ratio_value:.2f}"
        if figure.target is not None:
            target = f"≤ {figure.target} {_verdict(ratio_value <= figure.target)}"
    return (
        f"| {figure.name} | {figure.ours:,.{digits}f} {figure.unit} | {_span(low, high, digits)} "
        f"| {ceiling} | {ratio} | {target} |"
    )


def render(
    rows: list[Row],
    figures: list[Figure],
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
        f"wrk -t1 -c64, {duration:g} s a run, the median of {rounds} rounds (spread: the lowest "
        f"and highest round), {pinning}; one Gunicorn worker from gunicorn.conf.py unless the "
        "row says otherwise.",
        "",
        "| request | req/s | spread | p50 ms | p99 ms | errors | ceiling | ratio | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        load = row.load
        spread = _span(*row.spread) if row.spread is not None else ""
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
        target = ""
        if row.target is not None and row.ratio is not None:
            target = f"≥ {row.target} {_verdict(row.ratio >= row.target)}"
        lines.append(
            f"| {row.name} | {load.requests_per_second:,.0f} | {spread} | {load.p50_ms:.1f} "
            f"| {load.p99_ms:.1f} | {load.errors} | {row.ceiling} | {ratio} | {target} |"
        )
    lines += [
        "",
        "| start-up and memory | ours | spread | ceiling | ratio | target |",
        "|---|---|---|---|---|---|",
        *(figure_line(figure) for figure in figures),
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
    parser.add_argument("--cold-runs", type=int, default=15, help="cold starts to time")
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
    rows, figures = run(
        args.database_url, args.redis_url, args.duration, args.rounds, args.cold_runs
    )
    table = render(rows, figures, args.duration, args.rounds)
    write(args.output, table)
    print(table)


if __name__ == "__main__":
    main()
