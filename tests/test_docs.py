"""The documentation stays true: the generated settings reference, and every link in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.settings_reference import current, targets


@pytest.mark.parametrize("target", targets(), ids=lambda target: str(target[0].parent.name))
def test_the_generated_settings_reference_is_current(target: tuple[Path, str, str, str]) -> None:
    path, start, end, generated = target
    text, wanted = current(path, start, end, generated)
    assert text == wanted, f"{path.name} is out of date: run `make settings-docs`"


def _markdown_files(repo_root: Path) -> list[Path]:
    docs = sorted((repo_root / "docs").glob("*.md"))
    return [repo_root / "README.md", *docs, *sorted((repo_root / "app").glob("*/README.md"))]


def test_every_relative_link_in_the_docs_names_a_file_that_exists(repo_root: Path) -> None:
    broken = []
    for page in _markdown_files(repo_root):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(repo_root)} -> {target}")
    assert not broken, broken
