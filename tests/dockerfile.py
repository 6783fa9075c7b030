"""The Dockerfile as the tests read it: its instructions, and how its image starts the server."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from tests.blueprint import APP_PATH


def instructions(repo_root: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined."""
    text = (repo_root / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def start_command(repo_root: Path, *, app: str = APP_PATH) -> list[str]:
    """The image's CMD as arguments, serving `app` instead of app.main:app."""
    command: list[str] = json.loads([arg for op, arg in instructions(repo_root) if op == "CMD"][-1])
    assert command.count(APP_PATH) == 1, f"CMD should serve {APP_PATH} once"
    return [app if argument == APP_PATH else argument for argument in command]


def environment(repo_root: Path) -> dict[str, str]:
    """The variables the final stage's ENV instructions set, as the server process sees them."""
    steps = instructions(repo_root)
    final_stage = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    env: dict[str, str] = {}
    for op, arg in steps[final_stage:]:
        if op == "ENV":
            for pair in shlex.split(arg):
                name, _, value = pair.partition("=")
                env[name] = value
    return env
