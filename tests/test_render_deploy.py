"""What Render runs, run as render.yaml writes it: real processes, a real PostgreSQL server.

Each command is split into arguments and executed directly, with the environment the
Blueprint gives the service: its literal envVars, DATABASE_URL in Render's postgres:// form,
and PORT. With Render's PgBouncer (the change docs/render.md shows), a real PgBouncer in
transaction mode stands in for Render's.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from alembic.script import ScriptDirectory

from app.migrate import MIGRATION_LOCK_KEY, alembic_config
from tests.blueprint import (
    as_render_gives_it,
    database_env_vars,
    literal_env_vars,
    load_blueprint,
    pre_deploy_command,
    web_service,
    with_pgbouncer,
)
from tests.pgbouncer import running_pgbouncer
from tests.servers import checkout, free_port, running, shell_environment, wait_until_answers

pytestmark = [pytest.mark.postgres, pytest.mark.processes]


@pytest.fixture
def service(repo_root: Path) -> dict[str, Any]:
    return web_service(load_blueprint(repo_root))


@pytest.fixture
def app_dir(repo_root: Path, tmp_path: Path) -> Path:
    return checkout(repo_root, tmp_path / "app")


@pytest.fixture
def pooled_service(repo_root: Path) -> dict[str, Any]:
    """The web service as docs/render.md changes it for Render's PgBouncer."""
    return web_service(with_pgbouncer(repo_root))


@pytest.fixture
def pool_url(fresh_postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """The test's database through PgBouncer in transaction mode, as Render's pool runs."""
    directory = tmp_path / "pgbouncer"
    directory.mkdir()
    with running_pgbouncer(fresh_postgres_url, directory) as url:
        yield url


def render_environment(service: dict[str, Any], database_url: str, **extra: str) -> dict[str, str]:
    return shell_environment(
        **literal_env_vars(service), DATABASE_URL=as_render_gives_it(database_url), **extra
    )


def pooled_environment(service: dict[str, Any], database_url: str, pool_url: str) -> dict[str, str]:
    """The environment of the service with Render's PgBouncer: each URL from its property."""
    urls = {"connectionString": database_url, "connectionPoolString": pool_url}
    from_database = {k: as_render_gives_it(v) for k, v in database_env_vars(service, urls).items()}
    return shell_environment(**literal_env_vars(service), **from_database)


def head_revisions() -> set[str]:
    """One head per feature's branch."""
    return set(ScriptDirectory.from_config(alembic_config("unused")).get_heads())


async def recorded_revisions(url: str) -> set[str] | None:
    """The revisions in alembic_version (one per branch), or None when it has no such table."""
    connection = await asyncpg.connect(url)
    try:
        if not await connection.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
            return None
        return {row[0] for row in await connection.fetch("SELECT version_num FROM alembic_version")}
    finally:
        await connection.close()


def test_pre_deploy_command_migrates_a_fresh_database_to_every_head(
    service: dict[str, Any], app_dir: Path, fresh_postgres_url: str
) -> None:
    assert asyncio.run(recorded_revisions(fresh_postgres_url)) is None
    result = subprocess.run(
        pre_deploy_command(service),
        cwd=app_dir,
        env=render_environment(service, fresh_postgres_url),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert asyncio.run(recorded_revisions(fresh_postgres_url)) == head_revisions()


async def _wait_until_all_wait_for_the_lock(
    connection: asyncpg.Connection, copies: list[asyncio.subprocess.Process]
) -> None:
    # pg_locks lists the whole server's locks: other tests' copies wait in other databases.
    query = """
        SELECT count(*) FROM pg_locks
        WHERE locktype = 'advisory' AND NOT granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    """
    deadline = time.monotonic() + 30
    while await connection.fetchval(query) < len(copies):
        assert all(copy.returncode is None for copy in copies), "a copy ended without waiting"
        assert time.monotonic() < deadline, "the copies did not all wait for the lock"
        await asyncio.sleep(0.05)


async def _two_copies_behind_the_held_lock(
    command: list[str], app_dir: Path, env: dict[str, str], database_url: str
) -> list[tuple[int | None, str]]:
    """Start two copies of `command` while the migration lock is held directly on the
    database, release it once both wait for it; each copy's exit status and stderr."""
    # Holding the lock first makes the overlap certain: both copies are started and waiting
    # before either may migrate. Without the lock they would race on CREATE TABLE.
    holder = await asyncpg.connect(database_url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        copies = [
            await asyncio.create_subprocess_exec(
                *command, cwd=app_dir, env=env, stderr=subprocess.PIPE
            )
            for _ in range(2)
        ]
        try:
            await _wait_until_all_wait_for_the_lock(holder, copies)
            await holder.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
            async with asyncio.timeout(60):
                errors = [(await copy.communicate())[1].decode() for copy in copies]
        finally:
            for copy in copies:
                if copy.returncode is None:
                    copy.kill()
                    await copy.wait()
    finally:
        await holder.close()
    return [(copy.returncode, error) for copy, error in zip(copies, errors, strict=True)]


async def test_two_pre_deploy_commands_at_once_take_turns_and_migrate_once(
    service: dict[str, Any], app_dir: Path, fresh_postgres_url: str
) -> None:
    env = render_environment(service, fresh_postgres_url)
    results = await _two_copies_behind_the_held_lock(
        pre_deploy_command(service), app_dir, env, fresh_postgres_url
    )
    assert [status for status, _ in results] == [0, 0], results
    assert await recorded_revisions(fresh_postgres_url) == head_revisions()


async def test_with_pgbouncer_two_pre_deploy_commands_take_turns_over_the_direct_url(
    pooled_service: dict[str, Any], app_dir: Path, fresh_postgres_url: str, pool_url: str
) -> None:
    env = pooled_environment(pooled_service, fresh_postgres_url, pool_url)
    assert env["DATABASE_URL"] == as_render_gives_it(pool_url)
    assert env["DATABASE_DIRECT_URL"] == as_render_gives_it(fresh_postgres_url)
    results = await _two_copies_behind_the_held_lock(
        pre_deploy_command(pooled_service), app_dir, env, fresh_postgres_url
    )
    assert [status for status, _ in results] == [0, 0], results
    assert await recorded_revisions(fresh_postgres_url) == head_revisions()


def test_with_pgbouncer_but_no_direct_url_the_pre_deploy_command_refuses(
    pooled_service: dict[str, Any], app_dir: Path, fresh_postgres_url: str, pool_url: str
) -> None:
    env = pooled_environment(pooled_service, fresh_postgres_url, pool_url)
    del env["DATABASE_DIRECT_URL"]
    result = subprocess.run(
        pre_deploy_command(pooled_service),
        cwd=app_dir,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and "Set DATABASE_DIRECT_URL" in lines[0], lines
    assert asyncio.run(recorded_revisions(fresh_postgres_url)) is None


def test_start_command_serves_the_health_check_the_probes_and_api_errors(
    service: dict[str, Any], app_dir: Path, tmp_path: Path, migrated_postgres_url: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = render_environment(service, migrated_postgres_url, PORT=str(port))
    with running(service["startCommand"], env=env, cwd=app_dir, log=tmp_path / "server.log") as s:
        wait_until_answers(base + service["healthCheckPath"], s)

        assert httpx.get(f"{base}/health").json()["status"] == "ok"
        assert httpx.get(f"{base}/ready").json()["checks"] == {"database": "ok", "schema": "ok"}
        missing = httpx.get(f"{base}/no-such-page")
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == "not_found"
    assert error["request_id"] == missing.headers["X-Request-ID"]
