"""DATABASE_DIRECT_URL: migrations run over it, or over DATABASE_URL when it is empty, and never
through a transaction-mode pooler, whose connections cannot hold the migration lock.

Through a real PgBouncer: tests/test_render_deploy.py and tests/test_pooler.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.main import Settings
from app.migrate import MigrationRefused, main, migration_url
from app.settings_errors import SettingsError, load_settings

POOLER = "postgres://app:secret@pooler.internal:6432/app"
DIRECT = "postgres://app:secret@db.internal:5432/app"
SUPABASE_POOLER = "postgresql://app:secret@aws-0-eu.pooler.supabase.com:6543/postgres"
NEON_POOLER = "postgresql://app:secret@ep-cool-1-pooler.eu-central-1.aws.neon.tech/app"


def settings(**fields: Any) -> Settings:
    return Settings(_env_file=None, **fields)


def test_migrations_use_database_url_when_no_direct_url_is_set() -> None:
    configured = settings(database_url=DIRECT)
    assert configured.migration_database == configured.database


def test_migrations_use_the_direct_url_when_it_is_set() -> None:
    configured = settings(database_url=POOLER, database_direct_url=DIRECT)
    assert configured.migration_database.url.startswith("postgresql+asyncpg://app:secret@db.")
    assert configured.database.url.startswith("postgresql+asyncpg://app:secret@pooler.")


def test_the_direct_url_takes_the_same_forms_as_database_url() -> None:
    configured = settings(database_url=POOLER, database_direct_url=f"{DIRECT}?sslmode=require")
    assert configured.migration_database.url.endswith("/app?ssl=require")


def test_a_copy_derives_its_migration_database_from_its_own_fields() -> None:
    configured = settings(database_url=POOLER, database_direct_url=DIRECT)
    copy = configured.model_copy(update={"database_direct_url": ""})
    assert copy.migration_database == copy.database
    assert configured.migration_database != configured.database


def test_development_without_any_url_migrates_the_local_sqlite_file() -> None:
    configured = settings(environment="development")
    assert configured.migration_database.is_sqlite
    assert migration_url(configured) == configured.database


@pytest.mark.parametrize("environment", ["development", "production"])
def test_a_direct_url_that_is_not_postgresql_is_refused(environment: str) -> None:
    with pytest.raises(ValidationError, match="DATABASE_DIRECT_URL must be a PostgreSQL URL"):
        settings(environment=environment, database_url=POOLER, database_direct_url="sqlite:///x.db")


def test_a_direct_url_for_a_sqlite_database_url_is_refused() -> None:
    # Migrations would change the PostgreSQL database while the app reads the SQLite file.
    with pytest.raises(ValidationError, match="DATABASE_URL must be a PostgreSQL URL too"):
        settings(environment="development", database_direct_url=DIRECT)


def test_a_malformed_direct_url_is_named_without_its_value() -> None:
    with pytest.raises(ValidationError) as error:
        settings(database_url=POOLER, database_direct_url="mysql://u:hunter2@h/d")
    assert "DATABASE_DIRECT_URL must start with postgres://" in str(error.value)
    assert "hunter2" not in str(error.value)


def test_the_direct_url_is_hidden_in_start_up_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", POOLER)
    monkeypatch.setenv("DATABASE_DIRECT_URL", "mysql://u:hunter2@h/d")
    with pytest.raises(SettingsError) as error:
        load_settings(Settings)
    assert "DATABASE_DIRECT_URL" in str(error.value)
    assert "hunter2" not in str(error.value)


def test_migrations_refuse_a_transaction_pooler_without_a_direct_url() -> None:
    configured = settings(database_url=POOLER, db_pooler="transaction")
    with pytest.raises(MigrationRefused, match="Set DATABASE_DIRECT_URL") as refused:
        migration_url(configured)
    assert "\n" not in str(refused.value)
    assert "secret" not in str(refused.value)


def test_migrations_refuse_a_pooler_recognised_by_its_host_without_a_direct_url() -> None:
    with pytest.raises(MigrationRefused, match="Set DATABASE_DIRECT_URL"):
        migration_url(settings(database_url=SUPABASE_POOLER))


def test_migrations_behind_a_pooler_run_over_the_direct_url() -> None:
    configured = settings(database_url=POOLER, db_pooler="transaction", database_direct_url=DIRECT)
    assert migration_url(configured) == configured.migration_database


def test_migrations_refuse_a_direct_url_that_names_a_known_pooler() -> None:
    configured = settings(database_url=NEON_POOLER, database_direct_url=NEON_POOLER)
    with pytest.raises(MigrationRefused, match="DATABASE_DIRECT_URL names a transaction-mode"):
        migration_url(configured)


def test_migrations_through_postgresql_itself_need_no_direct_url() -> None:
    configured = settings(database_url=DIRECT, db_pooler="none")
    assert migration_url(configured) == configured.database


@pytest.mark.parametrize("command", [[], ["stamp"], ["drop", "items"]])
def test_every_migration_command_refuses_before_connecting(
    command: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, closed_port: int
) -> None:
    monkeypatch.chdir(tmp_path)
    # Nothing listens there: a command that tried to connect would fail otherwise.
    monkeypatch.setenv("DATABASE_URL", f"postgresql://app@127.0.0.1:{closed_port}/app")
    monkeypatch.setenv("DB_POOLER", "transaction")
    with pytest.raises(MigrationRefused, match="Set DATABASE_DIRECT_URL"):
        main(command)
