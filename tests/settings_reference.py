"""Settings tables generated from the settings classes' field descriptions.

    python -m tests.settings_reference          rewrite them (`make settings-docs`)

The core's settings go into docs/settings.md and .env.example; each feature's into its own
README.md (app/<feature>/README.md), so that deleting a feature's folder takes its settings'
documentation with it. Only the text between the markers is generated; the rest of each file
is written by hand. tests/test_docs.py fails while any of them is out of date.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from app.main import Settings
from app.settings import CoreSettings

ROOT = Path(__file__).resolve().parent.parent
START = "<!-- settings:start -->"
END = "<!-- settings:end -->"
ENV_START = "# --- settings:start (generated from the settings classes) ---"
ENV_END = "# --- settings:end ---"


def sections() -> list[tuple[type[CoreSettings], str, dict[str, FieldInfo]]]:
    """(class, heading, its own fields) for the core's and each feature's settings class."""
    classes = [
        cls
        for cls in reversed(Settings.__mro__)
        if isinstance(cls, type) and issubclass(cls, CoreSettings) and cls is not Settings
    ]
    seen: set[str] = set()
    result = []
    for cls in classes:
        own = {name: f for name, f in cls.model_fields.items() if name not in seen}
        seen |= own.keys()
        heading = (cls.__doc__ or cls.__name__).strip().splitlines()[0].rstrip(".")
        result.append((cls, heading, own))
    return result


def variable(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    return alias if isinstance(alias, str) else name.upper()


def default(field: FieldInfo) -> str:
    value: Any = field.get_default(call_default_factory=True)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return str(value).lower()
    if value is None or value == [] or value == "":
        return ""
    if isinstance(value, list):  # as the variable is written: comma-separated
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def markdown(fields: dict[str, FieldInfo]) -> str:
    lines = [START, "", "| variable | default | meaning |", "|---|---|---|"]
    for name, field in fields.items():
        shown = f"`{default(field)}`" if default(field) else "empty"
        lines.append(f"| `{variable(name, field)}` | {shown} | {field.description} |")
    return "\n".join([*lines, "", END])


def env_example(fields: dict[str, FieldInfo]) -> str:
    lines = [ENV_START]
    for name, field in fields.items():
        description = (field.description or "").replace("`", "")
        # A variable the platform sets is shown, never assigned: a copied .env must not set it.
        extra = field.json_schema_extra
        off = "# " if isinstance(extra, dict) and extra.get("set_by_platform") else ""
        lines += [f"# {description}", f"{off}{variable(name, field)}={default(field)}"]
    return "\n".join([*lines, ENV_END])


def replace_between(text: str, start: str, end: str, generated: str) -> str:
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    return head + generated + tail


def current(path: Path, start: str, end: str, generated: str) -> tuple[str, str]:
    """The file's text now, and as it should be."""
    text = path.read_text()
    assert start in text and end in text, f"{path.name} lacks the markers {start!r} {end!r}"
    return text, replace_between(text, start, end, generated)


def targets() -> list[tuple[Path, str, str, str]]:
    (_, _, core), *features = sections()
    found = [
        (ROOT / "docs" / "settings.md", START, END, markdown(core)),
        (ROOT / ".env.example", ENV_START, ENV_END, env_example(core)),
    ]
    for cls, _, fields in features:
        readme = ROOT / Path(*cls.__module__.split(".")[:2]) / "README.md"
        found.append((readme, START, END, markdown(fields)))
    return found


def main() -> None:
    for path, start, end, generated in targets():
        _, wanted = current(path, start, end, generated)
        path.write_text(wanted)
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
