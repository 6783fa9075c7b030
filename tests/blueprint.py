"""render.yaml as the tests read it, and the environment Render gives the web service."""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

# What the Blueprint's start command serves; tests swap in another app at this argument.
APP_PATH = "app.main:app"


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
