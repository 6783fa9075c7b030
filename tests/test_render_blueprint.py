"""render.yaml says only what Render's Blueprint spec defines, and says it consistently; so does
render.yaml as docs/render.md changes it for Render's PgBouncer.

The key sets below follow Render's Blueprint reference (https://render.com/docs/blueprint-spec)
and its JSON schema (https://render.com/schema/render.yaml.json). Render ignores or rejects a
key it does not know, so a typo would otherwise surface only when a Blueprint is synced.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.blueprint import literal_env_vars, load_blueprint, web_service, with_pgbouncer
from tests.servers import settings_variables

ROOT_KEYS = {
    "services", "databases", "envVarGroups", "previews", "projects", "ungrouped", "version",
}  # fmt: skip
# Web services, private services (pserv) and background workers share one set of keys.
SERVER_SERVICE_KEYS = {
    "type", "name", "runtime", "region", "plan", "repo", "branch", "rootDir", "image",
    "dockerCommand", "dockerContext", "dockerfilePath", "registryCredential",
    "buildCommand", "preDeployCommand", "startCommand", "initialDeployHook",
    "healthCheckPath", "numInstances", "scaling", "maxShutdownDelaySeconds",
    "autoDeployTrigger", "buildFilter", "envVars", "disk", "domain", "domains",
    "previews", "maintenanceMode", "ipAllowList", "renderSubdomainPolicy",
}  # fmt: skip
DATABASE_KEYS = {
    "name", "databaseName", "user", "region", "plan", "postgresMajorVersion", "diskSizeGB",
    "storageAutoscalingEnabled", "connectionPool", "highAvailability", "ipAllowList",
    "readReplicas", "previewPlan", "previewDiskSizeGB",
}  # fmt: skip
ENV_VAR_SHAPES = (
    {"key", "value", "generateValue", "sync", "previewValue"},
    {"key", "fromDatabase"},
    {"key", "fromService"},
    {"fromGroup"},
)
# Still accepted, or once accepted, with a replacement the spec names.
DEPRECATED_KEYS = {
    "env": "runtime",
    "autoDeploy": "autoDeployTrigger",
    "pullRequestPreviewsEnabled": "previews.generation",
    "previewsEnabled": "previews.generation",
    "previewsExpireAfterDays": "previews.expireAfterDays",
}
REGIONS = {"oregon", "ohio", "virginia", "frankfurt", "singapore"}
RUNTIMES = {"docker", "elixir", "go", "image", "node", "python", "ruby", "rust", "static"}
AUTO_DEPLOY_TRIGGERS = {"commit", "checksPass", "off"}
DATABASE_PROPERTIES = {
    "connectionString", "connectionPoolString", "host", "port", "user", "password", "database",
}  # fmt: skip


@pytest.fixture
def blueprint(repo_root: Path) -> dict[str, Any]:
    return load_blueprint(repo_root)


@pytest.fixture(params=["as shipped", "with PgBouncer"])
def any_blueprint(request: pytest.FixtureRequest, repo_root: Path) -> dict[str, Any]:
    """render.yaml, and render.yaml as docs/render.md changes it for Render's PgBouncer."""
    if request.param == "with PgBouncer":
        return with_pgbouncer(repo_root)
    return load_blueprint(repo_root)


def _keys_everywhere(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for value in node.values() for k in _keys_everywhere(value)}
    if isinstance(node, list):
        return {k for item in node for k in _keys_everywhere(item)}
    return set()


def test_blueprint_uses_only_keys_the_spec_defines(any_blueprint: dict[str, Any]) -> None:
    assert set(any_blueprint) <= ROOT_KEYS
    for service in any_blueprint.get("services", []):
        assert service["type"] in {"web", "pserv", "worker"}, "add this type's keys from the spec"
        assert set(service) - SERVER_SERVICE_KEYS == set(), service["name"]
        for env_var in service.get("envVars", []):
            assert any(set(env_var) <= shape for shape in ENV_VAR_SHAPES), env_var
            assert len(set(env_var) & {"value", "generateValue", "sync"}) <= 1, env_var
    for database in any_blueprint.get("databases", []):
        assert set(database) - DATABASE_KEYS == set(), database["name"]


def test_blueprint_uses_no_deprecated_keys(any_blueprint: dict[str, Any]) -> None:
    used = _keys_everywhere(any_blueprint) & set(DEPRECATED_KEYS)
    assert not used, {key: f"use {DEPRECATED_KEYS[key]}" for key in used}


def test_enumerated_values_are_ones_the_spec_lists(any_blueprint: dict[str, Any]) -> None:
    for resource in [*any_blueprint.get("services", []), *any_blueprint.get("databases", [])]:
        assert resource.get("region", "oregon") in REGIONS
    for service in any_blueprint.get("services", []):
        assert service["runtime"] in RUNTIMES
        assert service.get("autoDeployTrigger", "commit") in AUTO_DEPLOY_TRIGGERS
        shutdown_delay = service.get("maxShutdownDelaySeconds", 30)
        assert isinstance(shutdown_delay, int) and 1 <= shutdown_delay <= 300


def test_every_from_database_names_a_declared_database(any_blueprint: dict[str, Any]) -> None:
    declared = {database["name"] for database in any_blueprint.get("databases", [])}
    references = [
        env_var["fromDatabase"]
        for service in any_blueprint.get("services", [])
        for env_var in service.get("envVars", [])
        if "fromDatabase" in env_var
    ]
    assert references, "DATABASE_URL should come from the Blueprint's database"
    for reference in references:
        assert reference["name"] in declared
        assert reference["property"] in DATABASE_PROPERTIES


def test_database_url_is_the_databases_connection_string(blueprint: dict[str, Any]) -> None:
    # Render's PgBouncer is not on by default: free databases cannot have it, and the default
    # connection counts fit the smallest paid database.
    env_vars = {v["key"]: v for v in web_service(blueprint)["envVars"]}
    assert env_vars["DATABASE_URL"]["fromDatabase"]["property"] == "connectionString"
    assert all("connectionPool" not in database for database in blueprint["databases"])


def test_with_pgbouncer_requests_are_pooled_and_migrations_run_over_the_direct_url(
    repo_root: Path,
) -> None:
    blueprint = with_pgbouncer(repo_root)
    assert [database["connectionPool"] for database in blueprint["databases"]] == ["pgbouncer"]
    service = web_service(blueprint)
    sources = {
        v["key"]: v["fromDatabase"]["property"] for v in service["envVars"] if "fromDatabase" in v
    }
    assert sources == {
        "DATABASE_URL": "connectionPoolString",
        "DATABASE_DIRECT_URL": "connectionString",
    }
    assert literal_env_vars(service)["DB_POOLER"] == "transaction"
    assert {"DATABASE_URL", "DATABASE_DIRECT_URL", "DB_POOLER"} <= settings_variables()
    assert service["preDeployCommand"] == web_service(load_blueprint(repo_root))["preDeployCommand"]


def test_service_runs_in_production_with_explicit_workers(blueprint: dict[str, Any]) -> None:
    env = literal_env_vars(web_service(blueprint))
    assert env["ENVIRONMENT"] == "production"
    assert int(env["WEB_CONCURRENCY"]) >= 1


def test_python_version_is_fully_qualified_and_matches_the_version_file(
    blueprint: dict[str, Any], repo_root: Path
) -> None:
    version = literal_env_vars(web_service(blueprint))["PYTHON_VERSION"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "Render wants major.minor.patch"
    major_minor = (repo_root / ".python-version").read_text().strip()
    assert version.startswith(f"{major_minor}.")


def test_service_builds_migrates_and_starts_with_the_repositorys_files(
    blueprint: dict[str, Any], repo_root: Path
) -> None:
    service = web_service(blueprint)
    assert service["buildCommand"] == "pip install -r requirements.txt"
    requirements = (repo_root / "requirements.txt").read_text()
    assert "\ngunicorn==" in requirements and "\nuvicorn-worker==" in requirements
    assert service["preDeployCommand"] == "python -m app.migrate"
    assert service["startCommand"].split()[:3] == ["gunicorn", "-c", "gunicorn.conf.py"]


def test_database_is_private_and_pinned_to_a_major_version(any_blueprint: dict[str, Any]) -> None:
    for database in any_blueprint["databases"]:
        assert database["ipAllowList"] == []
        assert isinstance(database["postgresMajorVersion"], str)
        assert database["plan"]


async def test_health_check_path_answers_200(
    blueprint: dict[str, Any], client: httpx.AsyncClient
) -> None:
    response = await client.get(web_service(blueprint)["healthCheckPath"])
    assert response.status_code == 200
