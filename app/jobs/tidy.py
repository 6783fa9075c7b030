"""The scheduled job that keeps the database tidy.

Each day it deletes the record pgqueuer keeps of finished jobs once it is JOBS_RETENTION_DAYS
old (the jobs themselves leave the queue table when they finish), and the ended windows of
the rate limits' PostgreSQL backend, if that table exists: this package does not depend on
the rate limits feature, it only cleans up after it.
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from app.database import Database
from app.jobs.queue import Jobs

logger = logging.getLogger(__name__)

TIDY_CRON = "17 3 * * *"

_DELETE_FINISHED = text(
    "DELETE FROM pgqueuer_log WHERE created < now() - make_interval(days => :days)"
)
_DELETE_ENDED_WINDOWS = text(
    "DELETE FROM rate_limit_counters WHERE expires_at < extract(epoch FROM now())"
)
_HAS_RATE_LIMITS = text("SELECT to_regclass('rate_limit_counters') IS NOT NULL")


async def tidy(database: Database, jobs: Jobs) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with database.session() as session, session.begin():
        result = await session.execute(
            _DELETE_FINISHED, {"days": jobs.settings.jobs_retention_days}
        )
        counts["job records"] = result.rowcount  # type: ignore[attr-defined]
        if await session.scalar(_HAS_RATE_LIMITS):
            result = await session.execute(_DELETE_ENDED_WINDOWS)
            counts["rate limit windows"] = result.rowcount  # type: ignore[attr-defined]
    logger.info("tidied: %s deleted", counts)
    return counts
