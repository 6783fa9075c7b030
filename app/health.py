"""Liveness and readiness probes for load balancers and platform health checks."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app import __version__
from app.errors import error_response, error_responses
from app.services import services

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str = __version__


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, Literal["ok"]]


_HEALTH = Health()


@router.get("/health", response_model=Health)
async def health() -> Health:
    """Liveness: answers while the process can serve, without touching the database."""
    return _HEALTH


@router.get("/ready", response_model=Ready, responses=error_responses(503))
async def ready(request: Request) -> Ready | JSONResponse:
    """Readiness: 200 once the database answers `SELECT 1` within READY_TIMEOUT."""
    owned = services(request)
    try:
        async with asyncio.timeout(owned.settings.ready_timeout):
            await owned.database.ping()
    except Exception as exc:
        # The exception text can hold host names or credentials: it goes to the log only.
        logger.warning("readiness check failed: database: %s", type(exc).__name__)
        return error_response(503, "Readiness check failed: database", headers={"Retry-After": "5"})
    return Ready(checks={"database": "ok"})
