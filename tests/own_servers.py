"""A PostgreSQL server and a Redis server of a test's own, to freeze, thaw, stop and restart.

The shared servers (TEST_DATABASE_URL, TEST_REDIS_URL) are never touched: each server here
listens on 127.0.0.1 on a free port and lives in a temporary directory that is removed when
the test ends, whatever state the test left the server in.

    def test_something(own_postgres: OwnPostgres) -> None:
        own_postgres.freeze()    # SIGSTOP: TCP connections are accepted, nothing answers
        own_postgres.thaw()      # SIGCONT
        own_postgres.stop()      # connections are refused
        own_postgres.start()     # same port, same url, same data

The fixtures are `own_postgres` and `own_redis` (function scope, a started server each). A
module that uses them without a conftest exposing them imports their functions, which are
named differently so that a test's `own_postgres` argument shadows nothing:

    from tests.own_servers import own_postgres_fixture, own_redis_fixture  # noqa: F401

A conftest exposes them to a whole directory with `pytest_plugins = ["tests.own_servers"]`.
Outside fixtures, `own_postgres(directory)` and `own_redis(directory)` are context managers.

PostgreSQL runs as the `postgres` user when the tests run as root (initdb refuses root), in a
directory owned by that user under /dev/shm (or the temporary directory where there is no
/dev/shm). initdb runs once per process (per pytest-xdist worker): every server starts from
a copy of that pristine cluster, in about 0.2 s.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import pytest

from tests.servers import free_port

TIMEOUT = 30.0
_POSTGRES_SETTINGS = """
# Throwaway test server: speed over durability.
fsync = off
full_page_writes = off
max_connections = 50
shared_buffers = 16MB
"""
_PORT_TAKEN = "Address already in use"
_PORT_ATTEMPTS = 3


def _log_tail(log: Path, lines: int = 40) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return f"(no log at {log})"
    return "\n".join(text.splitlines()[-lines:])


def _children(pid: int) -> list[int]:
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except (FileNotFoundError, ProcessLookupError):
        return []


def _state(pid: int) -> str | None:
    """The process's state letter (`T` when stopped), None once it has gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rpartition(")")[2].split()[0]


def _signal(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signum)


def _wait_stopped(pids: list[int], what: str, log: Path) -> None:
    """Return once every process has taken SIGSTOP (or gone)."""
    deadline = time.monotonic() + TIMEOUT
    while any(_state(pid) not in ("T", "t", "Z", None) for pid in pids):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not stop within {TIMEOUT} s:\n{_log_tail(log)}")
        time.sleep(0.005)


def _end(process: subprocess.Popen[bytes], signum: signal.Signals, what: str, log: Path) -> None:
    """Send the signal, wait for the process; SIGKILL it (and its children) if it hangs."""
    if process.poll() is not None:
        return
    children = _children(process.pid)
    _signal([*children, process.pid], signal.SIGCONT)
    _signal([process.pid], signum)
    try:
        process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        _signal([process.pid, *children, *_children(process.pid)], signal.SIGKILL)
        process.wait()
        raise AssertionError(
            f"{what} did not exit within {TIMEOUT} s of {signum.name}; killed:\n{_log_tail(log)}"
        ) from None


def _identity(user: pwd.struct_passwd | None) -> tuple[int | None, int | None, list[int] | None]:
    """Popen's user, group and extra_groups to run a command as `user` (None: as this one)."""
    if user is None:
        return None, None, None
    return user.pw_uid, user.pw_gid, []


def _postgres_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise AssertionError("running as root needs a `postgres` user to run PostgreSQL") from None


def _chown_tree(root: Path, user: pwd.struct_passwd | None) -> None:
    if user is None:
        return
    os.chown(root, user.pw_uid, user.pw_gid)
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(directory, name), user.pw_uid, user.pw_gid, follow_symlinks=False)


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's binaries."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("postgres")
    if on_path is None:
        raise AssertionError("PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/postgres")
    return Path(on_path).resolve().parent


def _environment() -> dict[str, str]:
    """No PG* variables of the developer's shell; a locale every system has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


def _temporary_root() -> Path:
    """Memory-backed /dev/shm where there is one: copying a cluster's thousand files there
    takes a tenth of the time it takes on a disk."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return Path(tempfile.gettempdir())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_abandoned(root: Path) -> None:
    """Remove the directories of processes that died without removing them (killed runs),
    unless a server still runs in one."""
    for directory in root.glob("own-postgres-*-*"):
        owner = directory.name.split("-")[2]
        if not owner.isdigit() or _alive(int(owner)):
            continue
        try:
            postmaster = int((directory / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            postmaster = 0
        if not (postmaster and _alive(postmaster)):
            shutil.rmtree(directory, ignore_errors=True)


def _private_directory(kind: str, user: pwd.struct_passwd | None) -> Path:
    """A new directory named after this process, owned by `user`."""
    prefix = f"own-postgres-{os.getpid()}-{kind}-"
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=_temporary_root()))
    _chown_tree(directory, user)
    return directory


_template_lock = threading.Lock()
_template: Path | None = None


def postgres_template() -> Path:
    """A pristine initialised data directory, made once per process and removed at exit."""
    global _template
    with _template_lock:
        if _template is None:
            user = _postgres_user()
            _remove_abandoned(_temporary_root())
            directory = _private_directory("template", user)
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            data = directory / "data"
            uid, gid, groups = _identity(user)
            command = [
                str(postgres_bin() / "initdb"),
                *("-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"),
                *("--locale=C", "--no-sync", "--no-instructions"),
            ]
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=_environment(),
                cwd=directory,
                timeout=TIMEOUT * 4,
                check=False,
                user=uid,
                group=gid,
                extra_groups=groups,
            )
            if result.returncode != 0:
                raise AssertionError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
            with (data / "postgresql.conf").open("a") as conf:
                conf.write(_POSTGRES_SETTINGS)
            _template = data
        return _template


class OwnPostgres:
    """A PostgreSQL server on 127.0.0.1:`port` that a test may freeze, thaw, stop and start."""

    def __init__(self, directory: Path, log: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.log = log
        self.port = free_port()
        self._user = _postgres_user()
        self._bin = postgres_bin()
        self._process: subprocess.Popen[bytes] | None = None
        self._frozen: list[int] = []
        self._started_before = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def pid(self) -> int:
        """The postmaster's pid."""
        assert self._process is not None and self._process.poll() is None, "not running"
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and return once it accepts connections."""
        assert not self.running, "PostgreSQL is already running"
        for _attempt in range(_PORT_ATTEMPTS):
            if self._start():
                self._started_before = True
                return
            # Another process took the free port before the server bound it: the url has
            # not been handed out yet, so take another.
            self.port = free_port()
        raise AssertionError(f"no free port for PostgreSQL:\n{_log_tail(self.log)}")

    def _start(self) -> bool:
        logged = self.log.stat().st_size if self.log.exists() else 0
        command = [
            str(self._bin / "postgres"),
            *("-D", str(self.data), "-p", str(self.port), "-k", str(self.directory)),
            *("-c", "listen_addresses=127.0.0.1"),
        ]
        uid, gid, groups = _identity(self._user)
        with self.log.open("ab") as output:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=_environment(),
                cwd=self.directory,
                start_new_session=True,
                user=uid,
                group=gid,
                extra_groups=groups,
            )
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                with self.log.open("rb") as written:
                    written.seek(logged)
                    new = written.read().decode(errors="replace")
                if _PORT_TAKEN in new and not self._started_before:
                    return False
                raise AssertionError(
                    f"PostgreSQL exited with {self._process.returncode}:\n{_log_tail(self.log)}"
                )
            if self._ready():
                return True
            time.sleep(0.01)
        _end(self._process, signal.SIGQUIT, "PostgreSQL", self.log)
        raise AssertionError(f"PostgreSQL was not ready within {TIMEOUT} s:\n{_log_tail(self.log)}")

    def _ready(self) -> bool:
        """The postmaster wrote `ready` in postmaster.pid, as `pg_ctl -w` waits for."""
        assert self._process is not None
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return False
        return (
            len(lines) >= 8
            and lines[0].strip() == str(self._process.pid)
            and lines[7].strip() == "ready"
        )

    def stop(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """Stop the server (thawing it first); nothing if it is not running.

        `fast` disconnects clients and shuts down cleanly; `immediate` is a crash, from which
        the next start recovers.
        """
        if self._process is None:
            return
        signum = signal.SIGINT if mode == "fast" else signal.SIGQUIT
        # A stopped process never handles the shutdown signal: wake every one of them first.
        if self._process.poll() is None:
            _signal(
                [*self._frozen, *_children(self._process.pid), self._process.pid], signal.SIGCONT
            )
        self._frozen = []
        _end(self._process, signum, "PostgreSQL", self.log)

    def restart(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        self.stop(mode)
        self.start()

    def freeze(self) -> None:
        """SIGSTOP the postmaster and every process it has started: the port still accepts
        TCP connections, but nothing answers until `thaw()`."""
        postmaster = self.pid
        os.kill(postmaster, signal.SIGSTOP)
        _wait_stopped([postmaster], "PostgreSQL", self.log)
        # Stopped, the postmaster starts no more processes: its children are all there.
        stopped = [postmaster]
        while new := [pid for pid in _children(postmaster) if pid not in stopped]:
            _signal(new, signal.SIGSTOP)
            _wait_stopped(new, "PostgreSQL", self.log)
            stopped += new
        self._frozen = stopped

    def thaw(self) -> None:
        """SIGCONT every process `freeze()` stopped."""
        if not self.running:
            self._frozen = []
            return
        postmaster = self.pid
        children = {pid for pid in self._frozen if pid != postmaster} | set(_children(postmaster))
        _signal(sorted(children), signal.SIGCONT)
        _signal([postmaster], signal.SIGCONT)
        self._frozen = []

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with psql and return its unaligned, tuples-only output."""
        conninfo = (
            f"host=127.0.0.1 port={self.port} user=postgres dbname='{database}' connect_timeout=5"
        )
        command = [str(self._bin / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        try:
            result = subprocess.run(
                [*command, "-d", conninfo, "-c", sql],
                capture_output=True,
                text=True,
                env=_environment(),
                timeout=TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise AssertionError(f"psql did not finish within {TIMEOUT} s: {sql}") from None
        if result.returncode != 0:
            raise AssertionError(f"psql failed: {sql}\n{result.stderr}")
        return result.stdout

    def create_database(self, name: str) -> str:
        """Create a database; return its url."""
        identifier = '"' + name.replace('"', '""') + '"'
        self.psql(f"CREATE DATABASE {identifier}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{quote(name, safe='')}"

    def backend_pids(self) -> list[int]:
        """The pids of the server processes serving clients (except the one asking)."""
        output = self.psql(
            "SELECT pid FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() ORDER BY pid"
        )
        return [int(line) for line in output.split()]


@contextmanager
def own_postgres(directory: Path) -> Iterator[OwnPostgres]:
    """A started PostgreSQL server with a copy of the pristine cluster; its log goes to
    `directory`. On the way out it is thawed, stopped and removed."""
    template = postgres_template()
    user = _postgres_user()
    home = _private_directory("server", user)
    try:
        shutil.copytree(template, home / "data")
        _chown_tree(home / "data", user)
        server = OwnPostgres(home, directory / "own-postgres.log")
        try:
            server.start()
            yield server
        finally:
            # Immediate: the data is thrown away, and a client left hanging cannot delay it.
            server.stop("immediate")
    finally:
        shutil.rmtree(home, ignore_errors=True)


class OwnRedis:
    """A Redis server on 127.0.0.1:`port` that a test may freeze, thaw, stop and start."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.log = directory / "own-redis.log"
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._started_before = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self._process is not None and self._process.poll() is None, "not running"
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        assert not self.running, "Redis is already running"
        binary = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin")
        if binary is None:
            raise AssertionError("redis-server is not installed")
        for _attempt in range(_PORT_ATTEMPTS):
            if self._start(binary):
                self._started_before = True
                return
            self.port = free_port()
        raise AssertionError(f"no free port for Redis:\n{_log_tail(self.log)}")

    def _start(self, binary: str) -> bool:
        logged = self.log.stat().st_size if self.log.exists() else 0
        command = [
            binary,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", str(self.directory), "--logfile", ""),
        ]
        with self.log.open("ab") as output:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,
            )
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                with self.log.open("rb") as written:
                    written.seek(logged)
                    new = written.read().decode(errors="replace")
                if _PORT_TAKEN in new and not self._started_before:
                    return False
                raise AssertionError(
                    f"Redis exited with {self._process.returncode}:\n{_log_tail(self.log)}"
                )
            if self._pong():
                return True
            time.sleep(0.01)
        _end(self._process, signal.SIGKILL, "Redis", self.log)
        raise AssertionError(
            f"Redis did not answer PING within {TIMEOUT} s:\n{_log_tail(self.log)}"
        )

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(7).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM (after SIGCONT) and wait; nothing if it is not running."""
        if self._process is not None:
            _end(self._process, signal.SIGTERM, "Redis", self.log)

    def restart(self) -> None:
        self.stop()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts TCP connections, but nothing answers."""
        os.kill(self.pid, signal.SIGSTOP)
        _wait_stopped([self.pid], "Redis", self.log)

    def thaw(self) -> None:
        if self.running:
            os.kill(self.pid, signal.SIGCONT)


@contextmanager
def own_redis(directory: Path) -> Iterator[OwnRedis]:
    """A started Redis server keeping its files and log in `directory`; stopped on the way out."""
    server = OwnRedis(directory)
    try:
        server.start()
        yield server
    finally:
        server.thaw()
        server.stop()


@pytest.fixture(name="own_postgres")
def own_postgres_fixture(tmp_path: Path) -> Iterator[OwnPostgres]:
    with own_postgres(tmp_path) as server:
        yield server


@pytest.fixture(name="own_redis")
def own_redis_fixture(tmp_path: Path) -> Iterator[OwnRedis]:
    with own_redis(tmp_path) as server:
        yield server
