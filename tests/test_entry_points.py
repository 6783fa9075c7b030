"""The commands a user runs, run as the user runs them: real processes, real sockets."""

from __future__ import annotations

import re
import shutil
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from app.migrate import alembic_config
from tests.servers import clean_environment, free_port, running, wait_until_answers


def readme_command(repo_root: Path, heading: str) -> str:
    """The first shell block under a README heading: the line users paste."""
    readme = (repo_root / "README.md").read_text()
    section = readme.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.+?)\n```", section, re.DOTALL)
    assert block, f"no shell block under '## {heading}'"
    return block.group(1).strip()


def test_ci_runs_the_readme_test_command(repo_root: Path) -> None:
    assert readme_command(repo_root, "Test it") in (repo_root / ".ci/run").read_text()


@pytest.mark.processes
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
        assert httpx.get(f"{base}/ready").json()["checks"] == {"database": "ok", "schema": "ok"}
        assert httpx.get(f"{base}/docs").status_code == 200
    # Created and migrated to every branch's head on start-up, as the README says.
    with closing(sqlite3.connect(tmp_path / "app.db")) as database:
        revisions = {row[0] for row in database.execute("SELECT version_num FROM alembic_version")}
    assert revisions == set(ScriptDirectory.from_config(alembic_config("unused")).get_heads())
