"""One JSON shape for every error the API returns, and the handlers that produce it.

{"error": {"code": "not_found", "message": "Item 7 not found", "details": null,
           "request_id": "4bf92f3577b34da6a3ce929d0e0e4736"}}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app.database import DatabaseUnavailable
from app.request_id import current_request_id

logger = logging.getLogger(__name__)

# Spelled out rather than derived from http.HTTPStatus, whose phrases differ between Python
# versions (413 and 422 were renamed in 3.13).
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
    504: "gateway_timeout",
}


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Error(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | None = None
    # The X-Request-ID of the response: what to quote when reporting it, and to grep logs for.
    request_id: str | None = None


class ErrorResponse(BaseModel):
    error: Error


def error_response(
    status_code: int,
    message: str,
    *,
    details: list[ErrorDetail] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=Error(
            code=ERROR_CODES.get(status_code, "error"),
            message=message,
            details=details,
            request_id=current_request_id.get(),
        )
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting the error shape for the given statuses."""
    return {code: {"model": ErrorResponse} for code in status_codes}


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return error_response(exc.status_code, message, headers=headers)


def _allowed_methods(request: Request) -> str:
    # Starlette's 405 names only the methods of the first route on the path, while FastAPI
    # makes one route per method: ask every route about every method, as `Allow` must list all.
    routes = request.app.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        ErrorDetail(loc=list(error["loc"]), msg=error["msg"], type=error["type"])
        for error in exc.errors()
    ]
    return error_response(422, "Request is invalid", details=details)


async def _upstream_timeout(request: Request, exc: Exception) -> JSONResponse:
    # The outbound URL can carry credentials in its query: log only the kind of timeout.
    logger.warning("outbound HTTP request timed out: %s", type(exc).__name__)
    return error_response(504, "An upstream service did not answer in time")


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # Logged by the database layer once per outage, not here once per request.
    return error_response(
        503, "The database is unavailable; try again shortly", headers={"Retry-After": "5"}
    )


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(httpx.TimeoutException, _upstream_timeout)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    # Exceptions nothing else handles become a 500 in RequestMiddleware (app/middleware.py),
    # inside the middleware that adds the request ID and security headers.
