"""Liveness and readiness probes for load balancers and platform health checks."""

from __future__ import annotations

import ast
import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import text

from app import __version__
from app.database import Database
from app.errors import error_response, error_responses
from app.features import migration_directories
from app.services import services

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str = __version__


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, Literal["ok"]]


# The probes' fixed answers, serialised once: FastAPI returns a Response as it is, without
# validating and serialising a model on every call. The models still document them.
_HEALTH = Health().model_dump_json().encode()
_READY = Ready(checks={"database": "ok", "schema": "ok"}).model_dump_json().encode()
_VERSIONS = text("SELECT version_num FROM alembic_version")


class NotReady(Exception):
    def __init__(self, check: str) -> None:
        super().__init__(check)
        self.check = check


class Migrations:
    """This release's Alembic revisions, read from the feature folders' migration files.

    Read with `ast`, not through Alembic, so that probing readiness never imports Alembic
    (serverless cold starts pay for every import).
    """

    def __init__(self, directories: Iterable[Path]) -> None:
        parents: dict[str, tuple[str, ...]] = {}
        for path in (f for d in directories for f in sorted(d.glob("*.py"))):
            assigned = _assignments(path)
            if isinstance(revision := assigned.get("revision"), str):
                down = assigned.get("down_revision")
                parents[revision] = down if isinstance(down, tuple) else (down,) if down else ()
        older = {parent for ancestors in parents.values() for parent in ancestors}
        self.known = frozenset(parents)
        self.heads = frozenset(self.known - older)

    def verdict(self, applied: set[str]) -> bool:
        """Whether a database at `applied` serves this release: every branch at its head, or
        ahead of it. During a deploy the next release migrates while this one still serves,
        so a revision this release does not know counts as newer, never as a problem."""
        if applied & (self.known - self.heads):
            return False  # a branch this release knows is behind its head
        return self.heads <= applied or bool(applied - self.known)


def _assignments(path: Path) -> dict[str, object]:
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text()).body:
        target: ast.expr
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError:
                continue
    return values


class Readiness:
    """Answers /ready: the database answers, and its schema is this release's."""

    def __init__(self, database: Database, timeout: float) -> None:
        self._database = database
        self._timeout = timeout
        self._migrations: Migrations | None = None

    async def check(self) -> str | None:
        """None when ready, else the name of the check that failed, within the timeout.

        The check runs as a task of its own that is abandoned, not awaited, when time runs
        out: cancelling a statement on a server that stopped answering makes SQLAlchemy close
        the connection gracefully, which can take seconds more, and the probe must not wait.
        """
        task = asyncio.create_task(self._check())
        done, _ = await asyncio.wait({task}, timeout=self._timeout)
        if not done:
            task.cancel()
            task.add_done_callback(_retrieve)
            return "database"
        try:
            task.result()
        except NotReady as exc:
            return exc.check
        except Exception as exc:
            # The exception text can hold host names or credentials: only its kind is logged.
            logger.warning("readiness check: %s", type(exc).__name__)
            return "database"
        return None

    async def _check(self) -> None:
        if self._migrations is None:
            self._migrations = Migrations(migration_directories())
        async with self._database.connect() as connection:
            # One round trip answers both: the database is up, and which schema it has.
            try:
                applied = set((await connection.scalars(_VERSIONS)).all())
            except Exception as exc:
                if _missing_table(exc):
                    raise NotReady("schema") from None
                raise
        if not self._migrations.verdict(applied):
            raise NotReady("schema")


def _missing_table(exc: Exception) -> bool:
    # PostgreSQL's undefined_table (42P01); SQLite says so in its message.
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "42P01" or "no such table" in str(orig)


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


@router.get("/health", response_model=Health)
async def health() -> Response:
    """Liveness: answers while the process can serve, without touching the database."""
    return Response(_HEALTH, media_type="application/json")


@router.get("/ready", response_model=Ready, responses=error_responses(503))
async def ready(request: Request) -> Response:
    """Readiness: 200 once the database answers within READY_TIMEOUT with this release's
    schema (every migration applied, or newer ones); 503 naming the failed check."""
    failed = await services(request).get(Readiness).check()
    if failed is None:
        return Response(_READY, media_type="application/json")
    logger.warning("readiness check failed: %s", failed)
    return error_response(503, f"Readiness check failed: {failed}", headers={"Retry-After": "5"})
