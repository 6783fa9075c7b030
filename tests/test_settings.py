"""Production refuses an unsafe configuration at start-up, naming the variable to fix."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from app.settings import LogFormat, Settings

POSTGRES = "postgresql://app:secret@db.internal:5432/app"


def test_production_refuses_debug() -> None:
    with pytest.raises(ValidationError, match="DEBUG must be false"):
        Settings(_env_file=None, environment="production", database_url=POSTGRES, debug=True)


def test_debug_is_allowed_in_development() -> None:
    assert Settings(_env_file=None, environment="development", debug=True).debug


class _SettingsWithASecret(Settings):
    # The template has no secret of its own yet; any SecretStr setting gets the same check.
    signing_key: SecretStr = SecretStr("change-me")


@pytest.mark.parametrize("placeholder", ["change-me", "CHANGEME", "please-changethis-now"])
def test_production_refuses_a_placeholder_secret_naming_it(placeholder: str) -> None:
    with pytest.raises(ValidationError, match="SIGNING_KEY still has a placeholder") as error:
        _SettingsWithASecret(
            _env_file=None,
            environment="production",
            database_url=POSTGRES,
            signing_key=placeholder,
        )
    assert placeholder not in str(error.value)


def test_production_accepts_a_real_secret() -> None:
    settings = _SettingsWithASecret(
        _env_file=None, environment="production", database_url=POSTGRES, signing_key="9f2c1e7a"
    )
    assert settings.signing_key.get_secret_value() == "9f2c1e7a"


def test_placeholder_secrets_are_fine_outside_production() -> None:
    assert _SettingsWithASecret(_env_file=None, environment="development").signing_key


def test_logs_are_json_in_production_and_readable_elsewhere() -> None:
    production = Settings(_env_file=None, environment="production", database_url=POSTGRES)
    assert production.log_format is LogFormat.JSON
    assert Settings(_env_file=None, environment="development").log_format is LogFormat.CONSOLE
    explicit = Settings(_env_file=None, environment="development", log_format="json")
    assert explicit.log_format is LogFormat.JSON
