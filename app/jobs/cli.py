"""Job commands of `python -m app.cli`, run with the app's own settings and database.

python -m app.cli jobs-list [--state failed]      jobs in the queue, by state
python -m app.cli jobs-retry (--all | ID ...)     failed jobs back to the queue, attempts reset
python -m app.cli jobs-purge (--all | ID ...)     failed jobs deleted
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from app.jobs.queue import Jobs
from app.jobs.settings import JobSettings
from app.jobs.worker import queue_connection
from app.settings_errors import load_settings

STATES = ("queued", "picked", "failed")

_LIST = """
SELECT id, entrypoint, status::text AS status, attempts, created, execute_after
FROM pgqueuer WHERE status::text = ANY($1::text[]) ORDER BY id LIMIT $2
"""
_COUNTS = "SELECT status::text AS status, count(*) AS count FROM pgqueuer GROUP BY status"
_PURGE = """
WITH purged AS (
    DELETE FROM pgqueuer WHERE status = 'failed' AND ($1::bigint[] IS NULL OR id = ANY($1))
    RETURNING id, entrypoint, priority
)
INSERT INTO pgqueuer_log (job_id, status, entrypoint, priority)
SELECT id, 'deleted', entrypoint, priority FROM purged
"""
_FAILED_IDS = (
    "SELECT id FROM pgqueuer WHERE status = 'failed' AND ($1::bigint[] IS NULL OR id = ANY($1))"
)


async def _list(connection: Any, arguments: argparse.Namespace) -> None:
    counts = {row["status"]: row["count"] for row in await connection.fetch(_COUNTS)}
    print(", ".join(f"{state}: {counts.get(state, 0)}" for state in STATES))
    rows = await connection.fetch(_LIST, arguments.state or list(STATES), arguments.limit)
    if rows:
        print(f"{'ID':<10}{'JOB':<24}{'STATE':<9}{'ATTEMPTS':<10}{'CREATED':<22}NEXT ATTEMPT")
    for row in rows:
        created, after = (f"{row[k]:%Y-%m-%d %H:%M:%S}" for k in ("created", "execute_after"))
        print(
            f"{row['id']:<10}{row['entrypoint']:<24}{row['status']:<9}"
            f"{row['attempts']:<10}{created:<22}{after}"
        )


async def _retry(connection: Any, arguments: argparse.Namespace) -> None:
    from pgqueuer.adapters.persistence.qb import QueryQueueBuilder

    ids = [row["id"] for row in await connection.fetch(_FAILED_IDS, _ids(arguments))]
    await connection.execute(QueryQueueBuilder().build_requeue_jobs_query(), ids)
    print(f"Queued {len(ids)} failed jobs again.")


async def _purge(connection: Any, arguments: argparse.Namespace) -> None:
    status = await connection.execute(_PURGE, _ids(arguments))
    print(f"Deleted {status.split()[-1]} failed jobs.")


def _ids(arguments: argparse.Namespace) -> list[int] | None:
    if arguments.all == bool(arguments.ids):
        raise SystemExit("Name the jobs' ids, or --all (not both).")
    return None if arguments.all else arguments.ids


Command = Callable[[Any, argparse.Namespace], Awaitable[None]]


def _run(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(arguments: argparse.Namespace) -> int:
        settings = load_settings(JobSettings)
        if settings.database.is_sqlite:
            print("There is no queue on SQLite: jobs run in the web process.", file=sys.stderr)
            return 1

        async def main() -> None:
            async with queue_connection(Jobs(settings)) as connection:
                await command(connection, arguments)

        asyncio.run(main())
        return 0

    return run


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = commands.add_parser("jobs-list", help="list queued, running and failed jobs")
    listing.add_argument("--state", action="append", choices=STATES, help="only this state")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    listing.set_defaults(run=_run(_list))
    for name, command, help_text in (
        ("jobs-retry", _retry, "queue failed jobs again, their attempts reset"),
        ("jobs-purge", _purge, "delete failed jobs"),
    ):
        parser = commands.add_parser(name, help=help_text)
        parser.add_argument("ids", nargs="*", type=int, metavar="ID", help="the jobs' ids")
        parser.add_argument("--all", action="store_true", help="every failed job")
        parser.set_defaults(run=_run(command))
