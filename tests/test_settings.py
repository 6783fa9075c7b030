"""Settings: production refuses an unsafe configuration, and derived values follow the fields."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.main import Settings
from app.settings import CoreSettings

POSTGRES = "postgresql://app:secret@db.internal:5432/app"


def test_production_refuses_debug() -> None:
    with pytest.raises(ValidationError, match="DEBUG must be false"):
        Settings(_env_file=None, environment="production", database_url=POSTGRES, debug=True)


def test_debug_is_allowed_in_development() -> None:
    assert Settings(_env_file=None, environment="development", debug=True).debug


def test_logs_are_json_in_production_and_readable_elsewhere() -> None:
    assert Settings(_env_file=None, environment="production", database_url=POSTGRES).json_logs
    assert not Settings(_env_file=None, environment="development").json_logs
    assert Settings(_env_file=None, environment="development", log_format="json").json_logs


def test_log_level_is_read_in_any_case() -> None:
    assert Settings(_env_file=None, log_level="debug").log_level == "DEBUG"


def test_a_copy_with_a_new_database_url_derives_its_values_from_it() -> None:
    settings = Settings(_env_file=None, database_url=POSTGRES)
    copy = settings.model_copy(update={"database_url": "sqlite+aiosqlite:///./other.db"})
    assert copy.database.is_sqlite and settings.database.is_postgres


def test_the_apps_settings_are_the_cores_and_each_features() -> None:
    # Each feature's settings class extends the core's; app/main.py combines them.
    assert issubclass(Settings, CoreSettings)
    assert set(CoreSettings.model_fields) <= set(Settings.model_fields)
