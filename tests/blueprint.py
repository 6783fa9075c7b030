"""render.yaml as the tests read it, and the environment Render gives the web service."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

# What the Blueprint's start command serves; tests swap in another app at this argument.
APP_PATH = "app.main:app"


def load_blueprint(repo_root: Path) -> dict[str, Any]:
    blueprint: dict[str, Any] = yaml.safe_load((repo_root / "render.yaml").read_text())
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


def as_render_gives_it(postgresql_url: str) -> str:
    """A database URL in the postgres:// form of Render's connectionString."""
    return "postgres://" + postgresql_url.split("://", 1)[1]
