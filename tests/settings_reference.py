"""docs/settings.md and .env.example, generated from the settings classes' field descriptions.

    python -m tests.settings_reference          rewrite both files (`make settings-docs`)

One section per settings class: the core's, then each feature's that app/main.py includes.
Only the text between the markers is generated; the rest of each file (the servers'
variables, read by gunicorn.conf.py) is written by hand. tests/test_docs.py fails while
either file is out of date.
"""

from __future__ import annotations

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


def sections() -> list[tuple[str, dict[str, FieldInfo]]]:
    """(heading, fields) for the core and each feature's settings class, in that order."""
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
        result.append((heading, own))
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
    return str(value)


def markdown() -> str:
    lines = [START]
    for heading, fields in sections():
        lines += ["", f"## {heading}", "", "| variable | default | meaning |", "|---|---|---|"]
        for name, field in fields.items():
            shown = f"`{default(field)}`" if default(field) else "empty"
            lines.append(f"| `{variable(name, field)}` | {shown} | {field.description} |")
    return "\n".join([*lines, "", END])


def env_example() -> str:
    lines = [ENV_START]
    for heading, fields in sections():
        lines += ["", f"# {heading.replace('`', '')}"]
        for name, field in fields.items():
            description = (field.description or "").replace("`", "")
            # A variable the platform sets is shown, never assigned: a copied .env must not set it.
            extra = field.json_schema_extra
            off = "# " if isinstance(extra, dict) and extra.get("set_by_platform") else ""
            lines += [f"# {description}", f"{off}{variable(name, field)}={default(field)}"]
    return "\n".join([*lines, "", ENV_END])


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
    return [
        (ROOT / "docs" / "settings.md", START, END, markdown()),
        (ROOT / ".env.example", ENV_START, ENV_END, env_example()),
    ]


def main() -> None:
    for path, start, end, generated in targets():
        _, wanted = current(path, start, end, generated)
        path.write_text(wanted)
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
