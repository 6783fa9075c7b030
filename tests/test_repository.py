"""The files other tools read (CI workflow, Dockerfile, Makefile) agree with the repository."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from tests import dockerfile


def _make_targets(repo_root: Path) -> set[str]:
    makefile = (repo_root / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.MULTILINE))


def _workflow(repo_root: Path) -> dict[Any, Any]:
    workflow: dict[Any, Any] = yaml.safe_load((repo_root / ".github/workflows/ci.yml").read_text())
    return workflow


def test_workflow_runs_on_push_and_pull_request(repo_root: Path) -> None:
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    triggers = _workflow(repo_root)[True]
    assert {"push", "pull_request"} <= set(triggers)


def test_every_workflow_job_has_a_runner_and_steps(repo_root: Path) -> None:
    jobs = _workflow(repo_root)["jobs"]
    assert jobs
    for name, job in jobs.items():
        assert job.get("runs-on"), f"job {name} has no runs-on"
        assert job.get("steps"), f"job {name} has no steps"
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"job {name}: step needs uses or run"


def test_workflow_tests_python_312_and_313_against_postgres(repo_root: Path) -> None:
    job = _workflow(repo_root)["jobs"]["test"]
    assert job["strategy"]["matrix"]["python-version"] == ["3.12", "3.13"]
    assert "postgres" in job["services"]


def test_workflow_runs_only_make_targets_that_exist(repo_root: Path) -> None:
    targets = _make_targets(repo_root)
    commands = [
        step["run"] for step in _workflow(repo_root)["jobs"]["test"]["steps"] if "run" in step
    ]
    used = {shlex.split(command)[1] for command in commands if command.startswith("make ")}
    assert used >= {"install", "lint", "test", "test-postgres"}
    assert used <= targets


def test_ci_script_runs_the_same_lint_as_the_workflow(repo_root: Path) -> None:
    assert "make lint" in (repo_root / ".ci/run").read_text()


def test_dockerfile_python_matches_python_version_file(repo_root: Path) -> None:
    version = (repo_root / ".python-version").read_text().strip()
    text = (repo_root / "Dockerfile").read_text()
    assert f"ARG PYTHON_VERSION={version}\n" in text
    froms = [arg for op, arg in dockerfile.instructions(repo_root) if op == "FROM"]
    assert len(froms) >= 2, "multi-stage: a build stage and a final stage"
    assert all(arg.startswith("python:${PYTHON_VERSION}-slim") for arg in froms)


def test_dockerfile_starts_what_render_starts(repo_root: Path) -> None:
    render = yaml.safe_load((repo_root / "render.yaml").read_text())
    start_command = render["services"][0]["startCommand"]
    assert dockerfile.start_command(repo_root) == shlex.split(start_command)


def test_dockerfile_runs_as_a_non_root_user(repo_root: Path) -> None:
    users = [arg for op, arg in dockerfile.instructions(repo_root) if op == "USER"]
    assert users and users[-1] not in {"root", "0"}


def test_dockerfile_healthcheck_uses_only_the_standard_library(repo_root: Path) -> None:
    healthcheck = [arg for op, arg in dockerfile.instructions(repo_root) if op == "HEALTHCHECK"]
    assert len(healthcheck) == 1
    assert "urllib.request" in healthcheck[0] and "/health" in healthcheck[0]
    assert "curl" not in healthcheck[0] and "wget" not in healthcheck[0]


def test_dockerfile_copies_only_files_that_exist(repo_root: Path) -> None:
    for op, arg in dockerfile.instructions(repo_root):
        if op == "COPY" and not arg.startswith("--from"):
            *sources, _destination = arg.split()
            for source in sources:
                assert (repo_root / source).exists(), f"COPY {source}: no such file"


def test_dependabot_watches_python_dependencies_and_actions(repo_root: Path) -> None:
    config = yaml.safe_load((repo_root / ".github/dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert ecosystems == {"uv", "github-actions"}
