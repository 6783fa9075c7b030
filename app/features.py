"""What the core finds in feature packages by convention, without importing them by name.

A feature is a package in `app/` (`app/items/`, ...). Besides what `app/main.py` wires up,
it may hold:

    models.py     its tables (subclasses of app.database.Base), for Alembic's autogenerate
    migrations/   its Alembic branch, labelled with the package's name
    cli.py        `add_commands(commands)`: its commands of `python -m app.cli`

They are found by their files, so deleting a feature's folder takes them with it.
"""

from __future__ import annotations

import pkgutil
from pathlib import Path

APP = Path(__file__).resolve().parent


def feature_packages() -> list[str]:
    return sorted(p.name for p in pkgutil.iter_modules([str(APP)]) if p.ispkg)


def feature_modules(name: str) -> list[str]:
    """`app.<feature>.<name>` for every feature package that has such a module."""
    return [f"app.{f}.{name}" for f in feature_packages() if (APP / f / f"{name}.py").is_file()]


def migration_directories() -> list[Path]:
    return [APP / f / "migrations" for f in feature_packages() if (APP / f / "migrations").is_dir()]
