"""API key commands of `python -m app.cli`, run with the app's own settings and database.

    python -m app.cli create-api-key --name NAME --scopes read,write
    python -m app.cli list-api-keys
    python -m app.cli revoke-api-key PREFIX

`create-api-key` prints the new key once, as its last line; nothing stores it or shows it again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

from app.api_keys.keys import (
    KeyNotFound,
    create_api_key,
    list_api_keys,
    parse_scopes,
    revoke_api_key,
)
from app.api_keys.settings import ApiKeySettings
from app.database import Database
from app.migrate import prepare_development_database
from app.settings_errors import load_settings


async def _create(database: Database, arguments: argparse.Namespace) -> None:
    async with database.session() as session, session.begin():
        row, key = await create_api_key(session, arguments.name, arguments.scopes)
    print(f"Created API key {row.prefix} ({row.name}; scopes: {row.scopes}).")
    print("Keep it secret; it is not shown again:")
    print(key)


async def _list(database: Database, arguments: argparse.Namespace) -> None:
    async with database.session() as session:
        rows = await list_api_keys(session)
    print(f"{'PREFIX':<14}{'NAME':<24}{'SCOPES':<12}{'CREATED':<22}{'LAST USED':<22}REVOKED")
    for row in rows:
        dates = [row.created_at, row.last_used_at, row.revoked_at]
        created, used, revoked = (f"{d:%Y-%m-%d %H:%M:%S}" if d else "-" for d in dates)
        print(f"{row.prefix:<14}{row.name:<24}{row.scopes:<12}{created:<22}{used:<22}{revoked}")


async def _revoke(database: Database, arguments: argparse.Namespace) -> None:
    async with database.session() as session, session.begin():
        row = await revoke_api_key(session, arguments.prefix)
    print(f"Revoked API key {row.prefix} ({row.name}).")
    print(f"Running processes stop accepting it within {arguments.cache_seconds:g} s.")


Command = Callable[[Database, argparse.Namespace], Awaitable[None]]


def _run(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(arguments: argparse.Namespace) -> int:
        settings = load_settings(ApiKeySettings)
        arguments.cache_seconds = settings.api_key_cache_seconds

        async def main() -> None:
            await prepare_development_database(settings)
            database = Database(settings)
            try:
                await command(database, arguments)
            finally:
                await database.dispose()

        try:
            asyncio.run(main())
        except KeyNotFound as exc:
            print(f"No API key has the prefix {exc}", file=sys.stderr)
            return 1
        return 0

    return run


def _name(text: str) -> str:
    if not 1 <= len(text) <= 100:
        raise argparse.ArgumentTypeError("a name is 1 to 100 characters")
    return text


def _scopes(text: str) -> frozenset[str]:
    try:
        return parse_scopes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    create = commands.add_parser("create-api-key", help="create a key and print it once")
    create.add_argument("--name", type=_name, required=True, help="who or what the key is for")
    create.add_argument(
        "--scopes", type=_scopes, default=frozenset({"read"}), help="read, write or read,write"
    )
    create.set_defaults(run=_run(_create))
    listing = commands.add_parser("list-api-keys", help="list keys (prefixes and names only)")
    listing.set_defaults(run=_run(_list))
    revoke = commands.add_parser("revoke-api-key", help="revoke the key with this prefix")
    revoke.add_argument("prefix", help="the 12 characters after sk_, as list-api-keys shows them")
    revoke.set_defaults(run=_run(_revoke))
