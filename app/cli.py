"""Manage API keys without the API, with the app's own settings and database.

    python -m app.cli create-api-key --name NAME --scopes read,write
    python -m app.cli list-api-keys
    python -m app.cli revoke-api-key PREFIX

`create-api-key` prints the new key once, as its last line; nothing stores it or shows it again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from app.api_keys import KeyNotFound, create_api_key, list_api_keys, parse_scopes, revoke_api_key
from app.database import Database
from app.settings import Environment, Settings


async def _create(database: Database, name: str, scopes: frozenset[str]) -> None:
    async with database.sessions.begin() as session:
        row, key = await create_api_key(session, name, scopes)
    print(f"Created API key {row.prefix} ({row.name}; scopes: {row.scopes}).")
    print("Keep it secret; it is not shown again:")
    print(key)


async def _list(database: Database) -> None:
    async with database.sessions() as session:
        rows = await list_api_keys(session)
    print(f"{'PREFIX':<14}{'NAME':<24}{'SCOPES':<12}{'CREATED':<22}{'LAST USED':<22}REVOKED")
    for row in rows:
        dates = [row.created_at, row.last_used_at, row.revoked_at]
        created, used, revoked = (f"{d:%Y-%m-%d %H:%M:%S}" if d else "-" for d in dates)
        print(f"{row.prefix:<14}{row.name:<24}{row.scopes:<12}{created:<22}{used:<22}{revoked}")


async def _revoke(database: Database, prefix: str, cache_seconds: float) -> None:
    async with database.sessions.begin() as session:
        row = await revoke_api_key(session, prefix)
    print(f"Revoked API key {row.prefix} ({row.name}).")
    print(f"Running processes stop accepting it within {cache_seconds:g} s.")


async def _run(arguments: argparse.Namespace) -> None:
    settings = Settings()
    if settings.environment is Environment.DEVELOPMENT and settings.database.is_sqlite:
        # The same first-run convenience as the server: the embedded database migrates itself.
        from app.migrate import upgrade_to_head

        await upgrade_to_head(settings)
    database = Database(settings)
    try:
        if arguments.command == "create-api-key":
            await _create(database, arguments.name, arguments.scopes)
        elif arguments.command == "list-api-keys":
            await _list(database)
        else:
            await _revoke(database, arguments.prefix, settings.api_key_cache_seconds)
    finally:
        await database.dispose()


def _name(text: str) -> str:
    if not 1 <= len(text) <= 100:
        raise argparse.ArgumentTypeError("a name is 1 to 100 characters")
    return text


def _scopes(text: str) -> frozenset[str]:
    try:
        return parse_scopes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-api-key", help="create a key and print it once")
    create.add_argument("--name", type=_name, required=True, help="who or what the key is for")
    create.add_argument(
        "--scopes", type=_scopes, default=frozenset({"read"}), help="read, write or read,write"
    )
    commands.add_parser("list-api-keys", help="list keys (prefixes and names, never secrets)")
    revoke = commands.add_parser("revoke-api-key", help="revoke the key with this prefix")
    revoke.add_argument("prefix", help="the 12 characters after sk_, as list-api-keys shows them")
    arguments = parser.parse_args(argv)
    try:
        asyncio.run(_run(arguments))
    except KeyNotFound as exc:
        print(f"No API key has the prefix {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
