"""`python -m app.jobs worker` runs jobs until stopped; `python -m app.jobs drain` once.

The worker is what Render's worker service starts (render.yaml) and `make worker` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from app.jobs.queue import Jobs
from app.main import create_app
from app.services import services_of


async def _main(command: str) -> int:
    app = create_app()
    owned = services_of(app)
    if owned.settings.database.is_sqlite:
        print(
            "Jobs need PostgreSQL: on SQLite they run in the web process (app/jobs/README.md).",
            file=sys.stderr,
        )
        return 2
    async with app.router.lifespan_context(app):
        from app.jobs.worker import drain, work

        jobs = owned.get(Jobs)
        if command == "worker":
            await work(jobs)
        else:
            await drain(jobs)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.jobs", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["worker", "drain"])
    arguments = parser.parse_args(argv)
    return asyncio.run(_main(arguments.command))


if __name__ == "__main__":
    sys.exit(main())
