"""Prove the removal contract: a copy of the project without a feature still works.

    python .ci/removal_contract.py items api_keys observability items,api_keys,observability

For each argument (one feature, or several joined by commas) it copies the tracked files to a
temporary folder, deletes `app/<feature>/`, `tests/<feature>/` and the lines of app/main.py
that name the feature, as the README tells a user to, and then checks that what is left
imports, migrates a fresh SQLite database (and a fresh PostgreSQL one when TEST_DATABASE_URL
is set), passes ruff and mypy --strict, and passes the tests of the features it keeps. The
copy that removes the most features also runs the core's tests (tests/test_*.py): the core
imports no feature, so one copy is enough to show it stands without them, and the core's
tests are most of the suite. Checks of one copy run one after another; the copies run side by
side.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def tracked_files() -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [name for name in listing.decode().split("\0") if name]


def cut_down(features: list[str], destination: Path) -> None:
    for name in tracked_files():
        if any(name.startswith((f"app/{f}/", f"tests/{f}/")) for f in features):
            continue
        if (ROOT / name).is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target)
    if (ROOT / ".mypy_cache").is_dir():  # incremental: only what changed is checked again
        shutil.copytree(ROOT / ".mypy_cache", destination / ".mypy_cache")
    main = destination / "app" / "main.py"
    pattern = re.compile(rf"\b({'|'.join(map(re.escape, features))})\b")
    lines = main.read_text().splitlines(keepends=True)
    main.write_text("".join(line for line in lines if not pattern.search(line)))


async def run(label: str, what: str, *command: str, cwd: Path, env: dict[str, str]) -> None:
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{label}: `{' '.join(command)}` failed:\n{output.decode()[-4000:]}")
    print(f"  {label}: {what} ({time.monotonic() - started:.0f} s)")


async def admin(admin_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def check(features: list[str], scratch: Path, *, core_tests: bool) -> None:
    label = "without " + " and ".join(features)
    copy = scratch / "-".join(features)
    cut_down(features, copy)
    python = str(BIN / "python")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"ENVIRONMENT": "test", "PYTHONPATH": str(copy)}
    await run(label, "imports", python, "-c", "from app.main import app", cwd=copy, env=env)
    sqlite = {**env, "DATABASE_URL": f"sqlite+aiosqlite:///{copy / 'fresh.db'}"}
    await run(label, "migrates SQLite", python, "-m", "app.migrate", cwd=copy, env=sqlite)
    if admin_url := os.environ.get("TEST_DATABASE_URL"):
        name = f"removal_{uuid.uuid4().hex[:12]}"
        await admin(admin_url, f'CREATE DATABASE "{name}"')
        try:
            url = f"{admin_url.rsplit('/', 1)[0]}/{name}"
            postgres = {**env, "DATABASE_URL": url}
            await run(
                label, "migrates PostgreSQL", python, "-m", "app.migrate", cwd=copy, env=postgres
            )
        finally:
            await admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await run(label, "ruff check", python, "-m", "ruff", "check", ".", cwd=copy, env=env)
    await run(
        label, "ruff format", python, "-m", "ruff", "format", "--check", ".", cwd=copy, env=env
    )
    # Only the copy that runs the core's tests checks their types; the others check the code
    # and the tests of the features they keep, which is what removing a feature can break.
    kept = sorted(p.name for p in (copy / "tests").iterdir() if (p / "__init__.py").is_file())
    selected = ["tests"] if core_tests else [f"tests/{name}" for name in kept]
    typed = ["app", "api", "migrations", *selected]
    await run(label, "mypy --strict", python, "-m", "mypy", *typed, cwd=copy, env=env)
    # On SQLite, less the tests that start servers: those exercise the core's entry points,
    # which CI's full passes already cover in the complete project. One process each (-n 0):
    # the copies already run side by side.
    if not selected:
        print(f"{label}: the contract holds (no feature tests left to run)")
        return
    tests = [
        python,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-n",
        "0",
        "-m",
        "not processes",
        *selected,
    ]
    await run(
        label, "its tests", *tests, cwd=copy, env={k: v for k, v in env.items() if "TEST_" not in k}
    )
    print(f"{label}: the contract holds")


async def main(arguments: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="removal-") as scratch:
        removals = [argument.split(",") for argument in arguments]
        widest = max(removals, key=len)
        await asyncio.gather(*(check(r, Path(scratch), core_tests=r is widest) for r in removals))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
