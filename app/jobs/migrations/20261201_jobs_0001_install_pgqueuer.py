"""Install pgqueuer's tables, types, indexes and trigger (PostgreSQL only).

The DDL is pgqueuer's own (`QueryBuilderEnvironment().build_install_query()`), from the
version pinned in pyproject.toml, run here so that `python -m app.migrate` sets up the queue
like every other table. A pgqueuer upgrade that changes its schema needs a new revision in
this branch running the statements `Queries.plan_upgrade()` lists.

On SQLite nothing is created: jobs run in the web process there (app/jobs/README.md).

Revision ID: jobs_0001
Revises:
Created: 2026-12-01
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.util import await_only

revision: str = "jobs_0001"
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = ("jobs",)
depends_on: str | None = None


def _run_script(script: str) -> None:
    # Many statements in one string: asyncpg's `execute` without arguments sends them as one
    # simple query, in the migration's transaction; a prepared statement takes only one.
    connection = op.get_bind().connection.driver_connection
    assert connection is not None
    await_only(connection.execute(script))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment

    _run_script(QueryBuilderEnvironment().build_install_query())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment

    _run_script(QueryBuilderEnvironment().build_uninstall_query())
