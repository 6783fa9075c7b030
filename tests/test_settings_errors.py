"""Start-up errors for invalid settings: short, named by variable, secrets hidden."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Literal, Self

import pytest
from pydantic import Field, PositiveInt, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.settings_errors import SettingsError, describe, load_settings
from tests.servers import clean_environment


class Config(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    db_pool_size: PositiveInt = 10
    database_url: str = ""
    environment: Literal["development", "production"] = "development"
    vercel: str = Field("", validation_alias="VERCEL")
    api_token: SecretStr = SecretStr("")
    signing_material: str = Field("not-set-yet", min_length=8, json_schema_extra={"secret": True})
    workers: PositiveInt | Literal["auto"] = "auto"

    @model_validator(mode="after")
    def _database_url_in_production(self) -> Self:
        if self.environment == "production" and not self.database_url:
            raise ValueError("DATABASE_URL is required when ENVIRONMENT=production")
        return self


VARIABLES = (
    "DB_POOL_SIZE",
    "DATABASE_URL",
    "ENVIRONMENT",
    "VERCEL",
    "API_TOKEN",
    "SIGNING_MATERIAL",
    "WORKERS",
)


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.chdir(tmp_path)


def error_for(**overrides: Any) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(Config, **overrides)
    return str(caught.value)


def test_environment_value_is_named_shown_and_attributed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "ten")
    message = error_for()
    assert message.splitlines() == [
        "Configuration error: 1 setting is invalid.",
        "  DB_POOL_SIZE = 'ten' (from the environment): "
        "Input should be a valid integer, unable to parse string as an integer",
    ]


def test_lower_case_environment_variable_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("db_pool_size", "-1")
    assert "DB_POOL_SIZE = '-1' (from the environment): Input should be greater than 0" in (
        error_for()
    )


def test_env_file_value_is_attributed_to_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DB_POOL_SIZE=0\nVERCEL=1\n")
    assert "  DB_POOL_SIZE = '0' (from .env): Input should be greater than 0" in error_for()


def test_environment_wins_over_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DB_POOL_SIZE=0\n")
    monkeypatch.setenv("DB_POOL_SIZE", "zero")
    assert "DB_POOL_SIZE = 'zero' (from the environment)" in error_for()


def test_env_file_override_replaces_model_config(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DB_POOL_SIZE=0\n")
    (tmp_path / "other.env").write_text("DB_POOL_SIZE=-5\n")
    assert "DB_POOL_SIZE = '-5' (from .env)" in error_for(_env_file="other.env")
    assert load_settings(Config, _env_file=None).db_pool_size == 10


def test_keyword_argument_is_attributed_and_shown_as_repr() -> None:
    assert "DB_POOL_SIZE = 'x' (from a keyword argument)" in error_for(db_pool_size="x")


def test_secret_values_are_hidden_everywhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("SIGNING_MATERIAL=hunter2\n")
    monkeypatch.setenv("API_TOKEN", "tok-123456")  # SecretStr: valid, but must not leak
    monkeypatch.setenv("DATABASE_URL", "postgres://user:pa55word@db/app")
    monkeypatch.setenv("DB_POOL_SIZE", "0")
    with pytest.raises(SettingsError) as caught:
        load_settings(Config, api_token=["not", "a", "string"])
    message = str(caught.value)
    assert "  SIGNING_MATERIAL (from .env, value hidden): " in message
    assert "  API_TOKEN (from a keyword argument, value hidden): " in message
    for secret in ("hunter2", "tok-123456", "pa55word", "not"):
        assert secret not in message
    assert "DB_POOL_SIZE = '0'" in message  # only secrets are hidden


def test_url_variables_are_hidden_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    class Urls(BaseSettings):
        model_config = SettingsConfigDict(hide_input_in_errors=True)
        redis_url: PositiveInt = 1

    monkeypatch.setenv("REDIS_URL", "redis://:s3cret@cache")
    with pytest.raises(SettingsError) as caught:
        load_settings(Urls)
    assert "  REDIS_URL (from the environment, value hidden): " in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_model_validator_message_is_bare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    assert error_for().splitlines() == [
        "Configuration error: 1 setting is invalid.",
        "  DATABASE_URL is required when ENVIRONMENT=production",
    ]


def test_alias_prefix_union_and_no_field_names(monkeypatch: pytest.MonkeyPatch) -> None:
    class Prefixed(Config):
        model_config = SettingsConfigDict(env_prefix="app_")

    monkeypatch.setenv("APP_DB_POOL_SIZE", "many")
    monkeypatch.setenv("APP_WORKERS", "lots")
    monkeypatch.setenv("VERCEL", "1")
    with pytest.raises(SettingsError) as caught:
        load_settings(Prefixed)
    message = str(caught.value)
    lines = message.splitlines()
    assert lines[0] == "Configuration error: 2 settings are invalid."
    assert lines[1].startswith("  APP_DB_POOL_SIZE = 'many' (from the environment): ")
    # A union reports one error per member: all under one line, each once.
    assert lines[2].startswith("  APP_WORKERS = 'lots' (from the environment): ")
    assert lines[2].count(";") == 1
    assert "Traceback" not in message
    assert "db_pool_size" not in message and "workers" not in message
    assert "Value error, " not in message


def test_default_factory_not_called_errors_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    class Derived(BaseSettings):
        model_config = SettingsConfigDict(hide_input_in_errors=True)
        environment: Literal["development", "production"] = "development"
        log_format: str = Field(default_factory=lambda data: "json")

    monkeypatch.setenv("ENVIRONMENT", "staging")
    with pytest.raises(SettingsError) as caught:
        load_settings(Derived)
    message = str(caught.value)
    assert message.splitlines()[0] == "Configuration error: 1 setting is invalid."
    assert "LOG_FORMAT" not in message


def test_settings_error_is_a_system_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "ten")
    with pytest.raises(SystemExit) as caught:
        load_settings(Config)
    assert isinstance(caught.value, SettingsError)
    assert caught.value.code == str(caught.value)
    assert isinstance(caught.value.__cause__, ValidationError)
    assert str(caught.value) == describe(caught.value.__cause__, Config)


@pytest.mark.processes
@pytest.mark.parametrize(
    "command",
    [["uvicorn", "app.main:app"], ["gunicorn", "-c", "gunicorn.conf.py", "app.main:app"]],
    ids=["uvicorn", "gunicorn"],
)
def test_a_server_with_a_bad_setting_stops_with_a_few_lines(
    repo_root: Path, command: list[str]
) -> None:
    executable = str(Path(sys.executable).with_name(command[0]))
    result = subprocess.run(
        [executable, *command[1:]],
        cwd=repo_root,
        env=clean_environment(DB_POOL_SIZE="ten", PORT="0"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "DB_POOL_SIZE = 'ten' (from the environment)" in result.stderr


def test_valid_settings_are_returned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DB_POOL_SIZE=3\n")
    monkeypatch.setenv("API_TOKEN", "t")
    settings = load_settings(Config, environment="production", database_url="postgres://db")
    assert isinstance(settings, Config)
    assert settings.db_pool_size == 3
    assert settings.api_token.get_secret_value() == "t"
