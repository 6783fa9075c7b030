"""pgqueuer's tables: made by this package's migration from pgqueuer's own DDL, not from models.

They are named in the metadata's `unmodelled_tables` so that Alembic's autogenerate
(migrations/env.py) leaves them alone instead of proposing to drop them.
"""

from __future__ import annotations

from app.database import Base

PGQUEUER_TABLES = ("pgqueuer", "pgqueuer_log", "pgqueuer_schedules", "pgqueuer_statistics")

Base.metadata.info.setdefault("unmodelled_tables", set()).update(PGQUEUER_TABLES)
