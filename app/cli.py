"""`python -m app.cli COMMAND`: the commands the app's features bring along.

A feature package with a `cli.py` that defines `add_commands(commands)` adds its commands here
(app/features.py), e.g. the API keys' `create-api-key`, `list-api-keys` and `revoke-api-key`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from app.features import feature_modules


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in feature_modules("cli"):
        importlib.import_module(module).add_commands(commands)
    arguments = parser.parse_args(argv)
    status: int = arguments.run(arguments)
    return status


if __name__ == "__main__":
    sys.exit(main())
