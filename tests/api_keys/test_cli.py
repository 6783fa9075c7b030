"""`python -m app.cli`, run as a user runs it, against the same database as the app under test."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_api_key
from tests.servers import clean_environment

ITEMS = "/api/v1/items"


def cli(*arguments: str, database_url: str, repo_root: Path, cwd: Path) -> str:
    """Run the CLI in a directory without a .env; returns its standard output."""
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", *arguments],
        cwd=cwd,
        env=clean_environment(
            DATABASE_URL=database_url, ENVIRONMENT="test", PYTHONPATH=str(repo_root)
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_create_prints_the_key_last_and_the_key_can_write(
    anonymous_client: httpx.AsyncClient, database_url: str, repo_root: Path, tmp_path: Path
) -> None:
    output = await asyncio.to_thread(
        cli,
        *("create-api-key", "--name", "ci", "--scopes", "read,write"),
        database_url=database_url,
        repo_root=repo_root,
        cwd=tmp_path,
    )
    key = output.strip().splitlines()[-1]
    response = await anonymous_client.post(
        ITEMS, json={"name": "from-cli"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 201


async def test_list_shows_prefixes_and_names_never_secrets(
    app: FastAPI, database_url: str, repo_root: Path, tmp_path: Path
) -> None:
    key = await make_api_key(app, "read", name="reporting")
    output = await asyncio.to_thread(
        cli, "list-api-keys", database_url=database_url, repo_root=repo_root, cwd=tmp_path
    )
    prefix, secret = key.split("_", 2)[1:]
    assert prefix in output and "reporting" in output
    assert secret not in output


@pytest.mark.settings(api_key_cache_seconds=0.5)
async def test_revoke_stops_the_key_within_the_cache_time(
    app: FastAPI,
    anonymous_client: httpx.AsyncClient,
    database_url: str,
    repo_root: Path,
    tmp_path: Path,
) -> None:
    key = await make_api_key(app, "read", "write")
    headers = {"X-API-Key": key}
    assert (
        await anonymous_client.post(ITEMS, json={"name": "a"}, headers=headers)
    ).status_code == 201
    await asyncio.to_thread(
        cli,
        *("revoke-api-key", key.split("_")[1]),
        database_url=database_url,
        repo_root=repo_root,
        cwd=tmp_path,
    )
    await asyncio.sleep(0.6)
    response = await anonymous_client.post(ITEMS, json={"name": "b"}, headers=headers)
    assert response.status_code == 401
