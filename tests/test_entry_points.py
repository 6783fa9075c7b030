"""The commands a user runs, run as the user runs them: real processes, real sockets."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.servers import clean_environment, free_port, running, wait_until_answers


def readme_blocks(repo_root: Path, heading: str) -> list[str]:
    """The shell blocks under a README heading, in order: the lines users paste."""
    readme = (repo_root / "README.md").read_text()
    section = readme.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = [block.strip() for block in re.findall(r"```sh\n(.+?)\n```", section, re.DOTALL)]
    assert blocks, f"no shell block under '## {heading}'"
    return blocks


def readme_command(repo_root: Path, heading: str) -> str:
    return readme_blocks(repo_root, heading)[0]


def test_ci_runs_the_readme_test_command(repo_root: Path) -> None:
    assert readme_command(repo_root, "Test it") in (repo_root / ".ci/run").read_text()


def test_readme_run_command_serves_a_fresh_clone_on_sqlite(repo_root: Path, tmp_path: Path) -> None:
    # A fresh clone: the code and migrations, no database file, no .env.
    for name in ("app", "migrations"):
        shutil.copytree(repo_root / name, tmp_path / name)
    shutil.copy(repo_root / "alembic.ini", tmp_path)
    serve = readme_command(repo_root, "Run it").split("&&")[-1].split()
    assert serve[0] == ".venv/bin/uvicorn", "the run command should end by starting uvicorn"
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", *serve[1:], "--port", str(port)]
    base = f"http://127.0.0.1:{port}"

    with running(
        command, env=clean_environment(), cwd=tmp_path, log=tmp_path / "server.log"
    ) as server:
        wait_until_answers(f"{base}/health", server)
        assert httpx.get(f"{base}/ready").status_code == 200
        assert httpx.get(f"{base}/docs").status_code == 200
        assert httpx.post(f"{base}/api/v1/items", json={"name": "anon"}).status_code == 401

        key = _create_key_as_the_readme_does(repo_root, tmp_path)
        headers = {"Authorization": f"Bearer {key}"}
        created = httpx.post(f"{base}/api/v1/items", json={"name": "first"}, headers=headers)
        assert created.status_code == 201
        assert httpx.get(f"{base}/api/v1/items").json()["total"] == 1
    assert (tmp_path / "app.db").exists()


def _create_key_as_the_readme_does(repo_root: Path, clone: Path) -> str:
    """Run the README's `KEY=$(... create-api-key ... | tail -1)` and return the key."""
    block = readme_blocks(repo_root, "Run it")[1]
    line = next(line for line in block.splitlines() if "app.cli create-api-key" in line)
    command = line.split("$(", 1)[1].split("|", 1)[0].split()
    assert command[0] == ".venv/bin/python"
    result = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=clone,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]
