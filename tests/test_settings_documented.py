"""Every setting the app reads is documented where users look for it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.settings import Settings


def _variables() -> list[str]:
    return [
        field.validation_alias if isinstance(field.validation_alias, str) else name.upper()
        for name, field in Settings.model_fields.items()
    ]


@pytest.mark.parametrize("variable", _variables())
def test_every_setting_is_in_env_example(repo_root: Path, variable: str) -> None:
    assert re.search(rf"\b{variable}\b", (repo_root / ".env.example").read_text())


@pytest.mark.parametrize("variable", _variables())
def test_every_setting_is_in_the_readme_settings_table(repo_root: Path, variable: str) -> None:
    assert re.search(rf"^\|[^\n]*`{variable}`", (repo_root / "README.md").read_text(), re.M)
