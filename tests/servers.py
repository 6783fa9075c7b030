"""Start real server processes on 127.0.0.1 for the entry-point tests, and stop them."""

from __future__ import annotations

import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

# Variables of the developer's shell that would change what a server under test does, besides
# the app's own settings: those of the servers and platforms.
_SERVER_VARIABLES = {
    "PORT",
    "WEB_CONCURRENCY",
    "FORWARDED_ALLOW_IPS",
    "TEST_DATABASE_URL",
    "PROMETHEUS_MULTIPROC_DIR",
}
_SERVER_PREFIXES = ("GUNICORN_",)
# What a deployed server reads from a clone of the repository (no .env, no local database).
_DEPLOYED_PATHS = ("app", "api", "migrations", "alembic.ini", "gunicorn.conf.py")


def settings_variables() -> set[str]:
    """Every environment variable the app's settings read, as the environment spells it."""
    from app.main import Settings

    return {
        (field.validation_alias if isinstance(field.validation_alias, str) else name).upper()
        for name, field in Settings.model_fields.items()
    }


def free_port() -> int:
    """A port nothing is bound to on any interface, below the range the kernel hands out to
    outgoing connections (32768 and up on Linux, 49152 and up elsewhere): a port from that range
    can be taken by any process's new connection (to the shared PostgreSQL, say) between this
    check and the server's bind, and the server then fails with "address already in use"."""
    while True:
        port = random.randrange(20_000, 32_768)
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
        return port


def client_from(address: str, **transport: Any) -> httpx.Client:
    """A client whose connections come from `address` (any of 127.0.0.0/8 on Linux), so a
    server on 127.0.0.1 sees a peer that is not itself."""
    return httpx.Client(
        transport=httpx.HTTPTransport(local_address=address, **transport), timeout=30
    )


def async_client_from(address: str, **transport: Any) -> httpx.AsyncClient:
    """`client_from`, for async tests."""
    return httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(local_address=address, **transport), timeout=30
    )


def clean_environment(**overrides: str) -> dict[str, str]:
    unwanted = settings_variables() | _SERVER_VARIABLES
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in unwanted and not k.startswith(_SERVER_PREFIXES)
    }
    env.update(overrides)
    return env


def run_python(code: str, repo_root: Path, cwd: Path, **env: str) -> bytes:
    """What `code` prints, run by a fresh interpreter with the repository on its path and a
    clean environment (plus `env`), as a server's process would start; it must exit 0."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=clean_environment(PYTHONPATH=str(repo_root), **env),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.strip()


def shell_environment(**overrides: str) -> dict[str, str]:
    """A clean environment whose PATH finds this interpreter's `python` and `gunicorn` first,
    as a platform's shell finds those of the environment its build installed."""
    env = clean_environment(**overrides)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return env


def checkout(repo_root: Path, destination: Path) -> Path:
    """Copy what a deployed server reads from the repository, as a fresh clone has it, and
    the app with test routes beside it (`served_app:app`)."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy(repo_root / "tests" / "served_app.py", destination / "served_app.py")
    for name in _DEPLOYED_PATHS:
        source = repo_root / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy(source, destination / name)
    return destination


def wait_until_answers(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode} before answering")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200 within {timeout} s")


def wait_until_refused(port: int, timeout: float = 10) -> None:
    """Return once nothing accepts connections on the port any more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.05)
    raise AssertionError(f"port {port} still accepted connections after {timeout} s")


@contextmanager
def running(
    command: list[str] | str, *, env: Mapping[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server in its own process group; stop the whole group on the way out.

    A command given as one string (a start command from render.yaml) is split as a shell
    would split it and executed directly, never through /bin/sh: the process is then the
    server itself, so its pid is the one to signal and to wait for.
    """
    argv = shlex.split(command) if isinstance(command, str) else command
    with log.open("wb") as output:
        process = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM to the process group, then wait for the process itself (SIGKILL if it hangs)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
