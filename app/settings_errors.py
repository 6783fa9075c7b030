"""A start-up error of a few lines for settings that fail validation.

pydantic's own message ends a long traceback, names the field (`db_pool_size`) rather than the
variable a user sets (`DB_POOL_SIZE`) and, with `hide_input_in_errors`, never shows the value.
`load_settings` replaces it with one line per setting: the variable, its value unless it is a
secret, where the value came from, and what is wrong with it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

from dotenv import dotenv_values
from pydantic import Secret, SecretBytes, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)

# URLs and DSNs carry passwords, so their values are hidden like any other secret.
_SECRET_SUFFIXES = ("_URL", "_DSN", "_SECRET", "_TOKEN", "_KEY", "_PASSWORD")
# A union reports one error per member; beyond a few they only bury the useful one.
_MAX_MESSAGES = 3


class SettingsError(SystemExit):
    """Settings are invalid. Uncaught, Python prints only the message and exits with status 1."""


def load_settings(cls: type[S], **overrides: Any) -> S:
    """`cls(**overrides)`, raising `SettingsError` with a short message if validation fails."""
    try:
        return cls(**overrides)
    except ValidationError as error:
        raise SettingsError(describe(error, cls, overrides)) from error


def describe(
    error: ValidationError, cls: type[BaseSettings], overrides: Mapping[str, Any] | None = None
) -> str:
    """A few lines naming each invalid setting by its variable; `overrides` as passed to `cls`."""
    overrides = overrides or {}
    # `_env_file=...`, `_env_prefix=...` and the like replace model_config for one instance.
    config = {**cls.model_config, **{k[1:]: v for k, v in overrides.items() if k[:1] == "_"}}
    case_sensitive = bool(config.get("case_sensitive"))
    fold: Callable[[str], str] = str if case_sensitive else str.lower
    # Same precedence as pydantic-settings: keyword arguments, environment, .env, default.
    sources: dict[str, dict[str, str | None]] = {
        "the environment": {fold(k): v for k, v in os.environ.items()},
        ".env": {fold(k): v for k, v in _env_file_values(config).items()},
    }
    by_loc: dict[str, tuple[str, FieldInfo | None]] = {}
    for name, info in cls.model_fields.items():
        alias = info.validation_alias
        variable = alias if isinstance(alias, str) else config.get("env_prefix", "") + name
        # pydantic reports a field by its alias when it has one, by its name otherwise.
        by_loc[name] = by_loc[variable] = (variable, info)

    problems: dict[str, list[str]] = {}  # heading -> its messages, in pydantic's order
    for item in error.errors():
        if item["type"] == "default_factory_not_called":
            continue  # a consequence of another field's error, not an error of its own
        heading = ""  # a model validator's error belongs to no one setting
        if item["loc"]:
            key = str(item["loc"][0])
            variable, field = by_loc.get(key, (key, None))
            found = [
                (label, values[fold(variable)])
                for label, values in sources.items()
                if values.get(fold(variable)) is not None
            ]
            if key in overrides:
                found.insert(0, ("a keyword argument", overrides[key]))
            elif field is not None and not field.is_required() and field.default_factory is None:
                found.append(("the default", field.default))
            heading = variable if case_sensitive else variable.upper()
            if not found:
                heading += ": "
            elif _is_secret(heading, field):
                heading += f" (from {found[0][0]}, value hidden): "
            else:
                heading += f" = {found[0][1]!r} (from {found[0][0]}): "
        messages = problems.setdefault(heading, [])
        message = item["msg"].removeprefix("Value error, ")
        if message not in messages and len(messages) < _MAX_MESSAGES:
            messages.append(message)

    count = f"{len(problems)} setting{' is' if len(problems) == 1 else 's are'}"
    lines = [f"  {heading}{'; '.join(messages)}" for heading, messages in problems.items()]
    return "\n".join([f"Configuration error: {count} invalid.", *lines])


def _env_file_values(config: Mapping[str, Any]) -> dict[str, str | None]:
    files = config.get("env_file") or ()
    values: dict[str, str | None] = {}
    for file in [files] if isinstance(files, str | os.PathLike) else files:
        if (path := Path(file).expanduser()).is_file():  # later files win, as in pydantic-settings
            values.update(dotenv_values(path, encoding=config.get("env_file_encoding")))
    return values


def _is_secret(variable: str, field: FieldInfo | None) -> bool:
    extra = field.json_schema_extra if field else None
    return (
        variable.upper().endswith(_SECRET_SUFFIXES)
        or (isinstance(extra, dict) and extra.get("secret") is True)
        or (field is not None and _holds_secret(field.annotation))
    )


def _holds_secret(annotation: Any) -> bool:
    # Walks unions, Optional and containers: `SecretStr | None` is as secret as `SecretStr`.
    origin = get_origin(annotation) or annotation
    if isinstance(origin, type) and issubclass(origin, SecretStr | SecretBytes | Secret):
        return True
    return any(_holds_secret(arg) for arg in get_args(annotation))
