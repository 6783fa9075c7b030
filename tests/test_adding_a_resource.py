"""docs/adding-a-resource.md is enough: followed literally in a copy of the repository, it
adds a resource that imports, migrates, lints, type-checks and passes its tests.

The page's conventions, which this test reads mechanically:

- a block whose info string has `title="<path>"` is that file's whole content;
- a block titled `<path> (add)` starts with a comment `# after: <line>` or `# before: <line>`:
  the lines after it go right after (or before) the one line of that file that reads `<line>`
  (ignoring indentation);
- the commands of a block whose info string is `sh step` run in order, from the root.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import clean_environment

PAGE = "docs/adding-a-resource.md"
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
TITLE = re.compile(r'title="(?P<path>[^"]+)"')
ADDITION = " (add)"
ANCHORS = ("# after:", "# before:")
# What the page creates: never taken from the repository, so the copy starts without it.
CREATED = ("app/widgets/", "tests/widgets/")
# `make lint` checks the whole repository; here, what the page adds or changes.
LINTED = ["app/main.py", "app/widgets", "tests/widgets"]


@dataclass(frozen=True)
class Block:
    info: str
    body: str


def _blocks(page: str) -> list[Block]:
    return [Block(m["info"].strip(), m["body"]) for m in FENCE.finditer(page)]


def _copy_repository(repo_root: Path, copy: Path) -> None:
    """The working tree's files that git tracks or would track, as they are now."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo_root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        source = repo_root / name
        if name.startswith(CREATED) or not source.is_file():
            continue
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    # Only what changed is type-checked again. A cache being rewritten meanwhile may copy
    # incompletely, which costs time, not correctness.
    if (repo_root / ".mypy_cache").is_dir():
        with contextlib.suppress(OSError):
            shutil.copytree(repo_root / ".mypy_cache", copy / ".mypy_cache")


def _inside(copy: Path, name: str) -> Path:
    path = (copy / name).resolve()
    assert path.is_relative_to(copy.resolve()), f"{name} is outside the repository"
    return path


def _add_lines(path: Path, body: str) -> None:
    first, _, lines = body.partition("\n")
    kind, _, anchor = first.strip().partition(": ")
    assert f"{kind}:" in ANCHORS, "an (add) block starts with `# after: <line>` or `# before:`"
    text = path.read_text().splitlines(keepends=True)
    matches = [i for i, line in enumerate(text) if line.strip() == anchor.strip()]
    assert len(matches) == 1, f"{path.name} has {len(matches)} lines reading {anchor!r}"
    text.insert(matches[0] + (1 if kind == "# after" else 0), lines)
    path.write_text("".join(text))


def _commands(line: str, scratch: Path) -> list[list[str]]:
    """What to run for one command of the page, with this interpreter's environment."""
    python = str(BIN / "python")
    if line == "make lint":
        return [
            [python, "-m", "ruff", "check", *LINTED],
            [python, "-m", "ruff", "format", "--check", *LINTED],
            # `app` as a whole, for app/main.py and whatever the new package touches.
            [python, "-m", "mypy", "app", "tests/widgets"],
        ]
    argv = shlex.split(line)
    assert argv[0] != "make", f"teach this test what `{line}` stands for"
    if argv[0].startswith(".venv/bin/"):
        argv[0] = str(BIN / argv[0].removeprefix(".venv/bin/"))
    if argv[1:3] == ["-m", "pytest"]:
        # Its temporary files in this test's, not among those of the runs around it.
        quiet = ["-p", "no:cacheprovider", "-q", "--basetemp", str(scratch)]
        if importlib.util.find_spec("xdist") is not None:
            quiet += ["-n", "0"]
        argv[3:3] = quiet
    return [argv]


def _run(argv: list[str], copy: Path) -> None:
    result = subprocess.run(
        argv,
        cwd=copy,
        env=clean_environment(PYTHONPATH=str(copy)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"`{shlex.join(argv)}` exited with {result.returncode}:\n{result.stdout}{result.stderr}"
    )


@pytest.mark.processes
def test_following_the_page_adds_a_working_resource(repo_root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "repository"
    _copy_repository(repo_root, copy)
    ran = []
    for block in _blocks((repo_root / PAGE).read_text()):
        title = TITLE.search(block.info)
        if title and title["path"].endswith(ADDITION):
            _add_lines(_inside(copy, title["path"].removesuffix(ADDITION)), block.body)
        elif title:
            path = _inside(copy, title["path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.body)
        elif block.info.split() == ["sh", "step"]:
            for line in block.body.splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    for argv in _commands(line.strip(), tmp_path / "pytest"):
                        _run(argv, copy)
                    ran.append(line.strip())

    assert list((copy / "app" / "widgets" / "migrations").glob("*.py")), "no migration made"
    assert "make lint" in ran
    assert any(" -m pytest " in f" {line} " for line in ran), "the page never runs the tests"
