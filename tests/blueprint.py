"""render.yaml as the tests read it, the environment Render gives the web service, and its
start command run as a test's server."""

from __future__ import annotations

import copy
import json
import re
import shlex
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.servers import checkout, free_port, running, shell_environment, wait_until_answers

# What the Blueprint's start command serves; tests swap in another app at this argument.
APP_PATH = "app.main:app"
# The app with the routes of tests/served_app.py, as a checkout serves it.
SERVED_APP = "served_app:app"


def load_blueprint(repo_root: Path) -> dict[str, Any]:
    blueprint: dict[str, Any] = yaml.safe_load((repo_root / "render.yaml").read_text())
    return blueprint


def with_pgbouncer(repo_root: Path) -> dict[str, Any]:
    """render.yaml as docs/render.md changes it for Render's PgBouncer.

    The documented block is a part of a Blueprint: its database keys join the database of the
    same name, and its web service's envVars replace the file's of the same key or join them.
    """
    text = (repo_root / "docs" / "render.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "connectionPool:" in b]
    assert len(blocks) == 1, "docs/render.md should show one Blueprint block for PgBouncer"
    change: dict[str, Any] = yaml.safe_load(blocks[0])
    blueprint = copy.deepcopy(load_blueprint(repo_root))
    databases = {database["name"]: database for database in blueprint["databases"]}
    for database in change["databases"]:
        databases[database["name"]].update(database)
    service = web_service(blueprint)
    changed = web_service(change)
    assert changed["name"] == service["name"], "the block should change the Blueprint's service"
    env_vars = {v["key"]: v for v in service["envVars"]}
    env_vars.update({v["key"]: v for v in changed["envVars"]})
    service.update({**changed, "envVars": list(env_vars.values())})
    return blueprint


def web_service(blueprint: dict[str, Any]) -> dict[str, Any]:
    services = [s for s in blueprint.get("services", []) if s.get("type") == "web"]
    assert len(services) == 1, "render.yaml should declare exactly one web service"
    service: dict[str, Any] = services[0]
    return service


def start_command(service: dict[str, Any], *, app: str = APP_PATH) -> list[str]:
    """The service's startCommand as arguments, serving `app` instead of app.main:app."""
    arguments = shlex.split(service["startCommand"])
    assert arguments.count(APP_PATH) == 1, f"startCommand should serve {APP_PATH} once"
    return [app if argument == APP_PATH else argument for argument in arguments]


def pre_deploy_command(service: dict[str, Any]) -> list[str]:
    return shlex.split(service["preDeployCommand"])


def literal_env_vars(service: dict[str, Any]) -> dict[str, str]:
    """The service's envVars that carry a value in the file, as the process sees them."""
    return {v["key"]: str(v["value"]) for v in service.get("envVars", []) if "value" in v}


def database_env_vars(service: dict[str, Any], urls: Mapping[str, str]) -> dict[str, str]:
    """The service's envVars that come from the database, given each property's URL."""
    return {
        v["key"]: urls[v["fromDatabase"]["property"]]
        for v in service.get("envVars", [])
        if "fromDatabase" in v
    }


def as_render_gives_it(postgresql_url: str) -> str:
    """A database URL in the postgres:// form of Render's connectionString."""
    return "postgres://" + postgresql_url.split("://", 1)[1]


@dataclass(frozen=True)
class Gunicorn:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def worker_pid(self) -> int:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        (pid,) = children.read_text().split()
        return int(pid)


@contextmanager
def gunicorn(
    repo_root: Path,
    tmp_path: Path,
    *,
    app: str = SERVED_APP,
    command: list[str] | str | None = None,
    **env: str,
) -> Iterator[Gunicorn]:
    """The Blueprint's start command (or `command`) serving `app` from a checkout, once it
    answers /health.

    One worker and an SQLite database it never needs, unless `env` says otherwise.
    """
    port = free_port()
    environment = shell_environment(
        PORT=str(port),
        ENVIRONMENT="test",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        WEB_CONCURRENCY="1",
    )
    environment.update(env)
    command = command or start_command(web_service(load_blueprint(repo_root)), app=app)
    app_dir = checkout(repo_root, tmp_path / "app")
    log = tmp_path / "gunicorn.log"
    with running(command, env=environment, cwd=app_dir, log=log) as process:
        server = Gunicorn(port, process, log)
        wait_until_answers(f"{server.base}/health", process)
        yield server
