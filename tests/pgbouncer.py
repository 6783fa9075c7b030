"""Run a real PgBouncer in transaction mode on 127.0.0.1, in front of the test PostgreSQL server.

Debian's `pgbouncer` package provides the binary (CI installs it). It is configured the way
the transaction-mode poolers of Render, Supabase and Neon behave towards a client: server
connections shared between transactions, no support for prepared statements across them.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from tests.servers import free_port

# Few server connections, handed out in turn: consecutive transactions of one client land on
# different server connections, as they do behind a busy production pooler.
SERVER_CONNECTIONS = 4
_CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = trust
auth_file = {auth_file}
pool_mode = transaction
default_pool_size = {server_connections}
server_round_robin = 1
max_client_conn = 200
"""
# PgBouncer 1.21 learned to track protocol-level prepared statements in transaction mode, off
# unless this is set; say so explicitly, since Supavisor and older PgBouncers cannot do it.
_NO_PREPARED_STATEMENTS = "max_prepared_statements = 0\n"


def pgbouncer_binary() -> str:
    # Debian installs it to /usr/sbin, which is not on every user's PATH.
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    if found is None:
        raise AssertionError(
            "pgbouncer is not installed; the pooler tests need it: apt-get install -y pgbouncer"
        )
    return found


def _version(binary: str) -> tuple[int, ...]:
    output = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    match = re.search(r"PgBouncer (\d+)\.(\d+)", output.stdout)
    assert match, f"unexpected `pgbouncer --version` output: {output.stdout!r}"
    return tuple(int(part) for part in match.groups())


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"pgbouncer exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"pgbouncer did not listen on {port} within 15 s:\n{log.read_text()}")


@contextmanager
def running_pgbouncer(
    database_url: str, directory: Path, *, server_connections: int = SERVER_CONNECTIONS
) -> Iterator[str]:
    """Start PgBouncer in front of the server in `database_url`; yield the same URL through it.

    It opens at most `server_connections` connections to the server for all its clients.
    """
    binary = pgbouncer_binary()
    target = urlsplit(database_url)
    listen_port = free_port()
    auth_file = directory / "users.txt"
    auth_file.write_text(f'"{target.username}" ""\n')
    config = _CONFIG.format(
        host=target.hostname,
        port=target.port or 5432,
        listen_port=listen_port,
        auth_file=auth_file,
        server_connections=server_connections,
    )
    if _version(binary) >= (1, 21):
        config += _NO_PREPARED_STATEMENTS
    ini = directory / "pgbouncer.ini"
    ini.write_text(config)

    command = [binary, str(ini)]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root; it reads its files first, then drops to this user.
        command[1:1] = ["-u", _unprivileged_user()]
    log = directory / "pgbouncer.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_until_listening(listen_port, process, log)
            yield target._replace(netloc=f"{target.username}@127.0.0.1:{listen_port}").geturl()
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise AssertionError("no unprivileged user (postgres or nobody) to run pgbouncer as")
