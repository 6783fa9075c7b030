"""Start real server processes on 127.0.0.1 for the entry-point tests, and stop them."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

# Variables of the developer's shell that would change what the server under test does.
_APP_VARIABLES = {
    "DATABASE_URL",
    "ENVIRONMENT",
    "TEST_DATABASE_URL",
    "PORT",
    "WEB_CONCURRENCY",
    "FORWARDED_ALLOW_IPS",
}
# ...and those that tell the app it runs on a serverless platform, or behind a pooler.
_APP_VARIABLES |= {"DB_POOL_MODE", "DB_POOLER", "VERCEL", "AWS_LAMBDA_FUNCTION_NAME"}
_APP_PREFIXES = ("GUNICORN_",)
# What a deployed server reads from a clone of the repository (no .env, no local database).
_DEPLOYED_PATHS = ("app", "migrations", "alembic.ini", "gunicorn.conf.py")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def clean_environment(**overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _APP_VARIABLES and not k.startswith(_APP_PREFIXES)
    }
    env.update(overrides)
    return env


def shell_environment(**overrides: str) -> dict[str, str]:
    """A clean environment whose PATH finds this interpreter's `python` and `gunicorn` first,
    as a platform's shell finds those of the environment its build installed."""
    env = clean_environment(**overrides)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return env


def checkout(repo_root: Path, destination: Path) -> Path:
    """Copy what a deployed server reads from the repository, as a fresh clone has it."""
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
    """Run a server in its own process group; stop the whole group on the way out."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            env=dict(env),
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            shell=isinstance(command, str),
            start_new_session=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
