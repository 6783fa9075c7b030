"""`python -m app.cli`, run as a user runs it, against the same database as the app under test."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from tests.api_keys.conftest import bearer, prefix_of
from tests.servers import clean_environment

pytestmark = pytest.mark.processes


class Cli(Protocol):
    async def __call__(self, *arguments: str) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture
def cli(database_url: str, repo_root: Path, tmp_path: Path) -> Cli:
    """Runs the CLI on the test's database, in a directory without a .env."""

    async def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        # Off the event loop: the app under test must keep answering meanwhile.
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "app.cli", *arguments],
            cwd=tmp_path,
            env=clean_environment(
                DATABASE_URL=database_url, ENVIRONMENT="test", PYTHONPATH=str(repo_root)
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


async def test_create_prints_the_key_last_and_the_key_can_write(
    anonymous_client: httpx.AsyncClient, cli: Cli
) -> None:
    created = await cli("create-api-key", "--name", "ci", "--scopes", "read,write")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    response = await anonymous_client.post("/test/write", headers=bearer(key))
    assert response.status_code == 200
    assert response.json() == {"caller": f"key:{prefix_of(key)}"}


async def test_list_shows_prefixes_names_and_scopes_never_secrets(
    stored_api_key: str, cli: Cli
) -> None:
    listed = await cli("list-api-keys")
    assert listed.returncode == 0, listed.stderr
    prefix, secret = stored_api_key.split("_", 2)[1:]
    row = next(line for line in listed.stdout.splitlines() if line.startswith(prefix))
    assert row.split()[:4] == [prefix, "test", "read", "write"]
    assert secret not in listed.stdout


@pytest.mark.settings(api_key_cache_seconds=0.5)
async def test_revoke_stops_the_key_within_the_cache_time(
    anonymous_client: httpx.AsyncClient, api_key: str, cli: Cli
) -> None:
    assert (await anonymous_client.post("/test/write", headers=bearer(api_key))).status_code == 200
    revoked = await cli("revoke-api-key", prefix_of(api_key))
    assert revoked.returncode == 0, revoked.stderr
    await asyncio.sleep(0.6)
    response = await anonymous_client.post("/test/write", headers=bearer(api_key))
    assert response.status_code == 401


async def test_revoking_an_unknown_prefix_fails_and_says_so(cli: Cli) -> None:
    revoked = await cli("revoke-api-key", "000000000000")
    assert revoked.returncode == 1
    assert "No API key has the prefix 000000000000" in revoked.stderr
