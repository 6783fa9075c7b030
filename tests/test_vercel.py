"""Vercel: it finds api/index.py, installs exactly the pinned dependencies, and the app it
loads from there serves the API whether or not its lifespan ever runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import clean_environment, free_port, running, wait_until_answers

# What importing the entry point must leave out to keep cold starts short: migrations, the
# test suite, and the servers and reloaders of the other platforms.
COLD_START_EXCLUDED = {"alembic", "mako", "app.migrate", "pytest", "_pytest", "watchfiles"}


def _pyproject(repo_root: Path) -> dict[str, Any]:
    with (repo_root / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def _vercel_entrypoint(repo_root: Path) -> str:
    entrypoint: str = _pyproject(repo_root)["tool"]["vercel"]["entrypoint"]
    return entrypoint


def _entrypoint_file(entrypoint: str) -> str:
    return entrypoint.split(":")[0].replace(".", "/") + ".py"


def test_vercel_entrypoint_is_the_app_in_api_index(repo_root: Path) -> None:
    # Without it Vercel's FastAPI preset would pick app/main.py, which it finds first.
    assert _vercel_entrypoint(repo_root) == "api.index:app"
    # Vercel reads [tool.vercel] only from a pyproject.toml that also has a [project] table.
    assert "project" in _pyproject(repo_root)


def test_vercel_json_configures_the_entrypoint_function_in_the_current_form(
    repo_root: Path,
) -> None:
    config = json.loads((repo_root / "vercel.json").read_text())
    assert not {"builds", "routes"} & config.keys(), "legacy keys; `functions` replaces them"
    # Settings keyed on any other file than the entrypoint's are silently dropped.
    assert list(config["functions"]) == [_entrypoint_file(_vercel_entrypoint(repo_root))]
    function = config["functions"]["api/index.py"]
    assert isinstance(function["maxDuration"], int)
    # The Python builder ignores anything but a single glob string here.
    assert isinstance(function["excludeFiles"], str)


def test_vercel_bundle_leaves_out_tests_and_migrations_but_not_the_app(repo_root: Path) -> None:
    config = json.loads((repo_root / "vercel.json").read_text())
    pattern = config["functions"]["api/index.py"]["excludeFiles"]
    match = re.fullmatch(r"\{([^{}]+)\}/\*\*", pattern)
    assert match, f"expected a '{{dir,dir,...}}/**' glob, got {pattern!r}"
    excluded = set(match.group(1).split(","))
    assert {"tests", "migrations"} <= excluded
    assert not {"app", "api"} & excluded


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        requirement = line.split(";")[0].strip()
        if requirement and not requirement.startswith("#"):
            name, version = requirement.split("==")
            pins[_normalize(name)] = version
    return pins


def _locked_runtime_packages(repo_root: Path) -> dict[str, str]:
    """The packages `uv sync --no-dev` installs from uv.lock, whatever the platform."""
    with (repo_root / "uv.lock").open("rb") as file:
        packages = {_normalize(p["name"]): p for p in tomllib.load(file)["package"]}
    project = packages[_normalize(_pyproject(repo_root)["project"]["name"])]
    found: dict[str, str] = {}
    pending = [(d["name"], tuple(d.get("extra", ()))) for d in project["dependencies"]]
    seen = set()
    while pending:
        name, extras = pending.pop()
        if (_normalize(name), extras) in seen:
            continue
        seen.add((_normalize(name), extras))
        package = packages[_normalize(name)]
        found[_normalize(name)] = package["version"]
        dependencies = list(package.get("dependencies", []))
        for extra in extras:
            dependencies += package["optional-dependencies"][extra]
        pending += [(d["name"], tuple(d.get("extra", ()))) for d in dependencies]
    return found


def test_vercel_installs_exactly_what_requirements_txt_pins(repo_root: Path) -> None:
    # Vercel installs from pyproject.toml and uv.lock, Render from requirements.txt.
    assert _locked_runtime_packages(repo_root) == _requirements(repo_root / "requirements.txt")


def test_every_runtime_dependency_is_pinned_exactly_and_locked_at_that_version(
    repo_root: Path,
) -> None:
    locked = _locked_runtime_packages(repo_root)
    for requirement in _pyproject(repo_root)["project"]["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9._-]+)(\[[\w,-]+\])?==([\w.+-]+)", requirement)
        assert match, f"{requirement!r} is not an exact == pin"
        name, _, version = match.groups()
        assert locked[_normalize(name)] == version, f"uv.lock is stale for {name}: run uv lock"


@pytest.mark.processes
def test_importing_the_entrypoint_leaves_migrations_and_dev_tools_out(
    repo_root: Path, tmp_path: Path
) -> None:
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(repo_root / 'tests')!r})\n"
        "from platforms import load_like_vercel\n"
        f"load_like_vercel({_vercel_entrypoint(repo_root)!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=clean_environment(VERCEL="1", DATABASE_URL="postgresql://app@db.internal/app"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    imported = set(json.loads(result.stdout.splitlines()[-1]))
    assert "api.index" in imported
    assert "mangum" not in imported, "Mangum is for Lambda only"
    loaded = {
        m for m in imported if m in COLD_START_EXCLUDED or m.split(".")[0] in COLD_START_EXCLUDED
    }
    assert not loaded, f"importing the entry point also imports {sorted(loaded)}"


@pytest.mark.processes
@pytest.mark.parametrize("lifespan", ["on", "off"], ids=["lifespan-run", "lifespan-never-run"])
def test_api_index_loaded_like_vercel_serves_the_probes_docs_and_api_errors(
    repo_root: Path, database_url: str, tmp_path: Path, lifespan: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        str(repo_root / "tests" / "platforms.py"),
        "vercel",
        _vercel_entrypoint(repo_root),
        str(port),
        lifespan,
    ]
    env = clean_environment(VERCEL="1", ENVIRONMENT="test", DATABASE_URL=database_url)
    with running(command, env=env, cwd=tmp_path, log=tmp_path / "server.log") as server:
        wait_until_answers(f"{base}/health", server)
        # /ready queries the database, whose engine a never-run lifespan did not start.
        ready = [httpx.get(f"{base}/ready") for _ in range(2)]
        docs = httpx.get(f"{base}/openapi.json")
        missing = httpx.get(f"{base}/no-such-page")
    assert [response.json() for response in ready] == [
        {"status": "ready", "checks": {"database": "ok", "schema": "ok"}}
    ] * 2
    assert docs.status_code == 200 and "/health" in docs.json()["paths"]
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
