"""Logging for the whole process: one handler on stdout, one format, the request ID on every line.

In production each line is one JSON object; in development a line a person can read:

    {"ts": "2026-11-22T10:15:03.482+00:00", "level": "INFO", "logger": "app.access",
     "message": "GET /api/v1/items 200 4.1ms", "request_id": "4bf92f35...", "method": "GET",
     "path": "/api/v1/items", "status": 200, "duration_ms": 4.1, "client": "203.0.113.7"}

A feature adds fields of its own to JSON lines with a filter (`add_filter`) that puts a dict
in `record.log_fields`; each of its items becomes a field of the line.

The servers' own loggers (uvicorn, Gunicorn) are routed to the same handler, and uvicorn's
access log is switched off: RequestMiddleware writes the one line per request.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from app.request_id import current_request_id
from app.settings import CoreSettings

_HANDLER_NAME = "app"
# Servers' loggers that get their handlers replaced by ours.
# gunicorn.access is left to Gunicorn: off unless GUNICORN_ACCESS_LOG turns it on, and a
# uvicorn-worker worker gives uvicorn.access its handlers.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "gunicorn.error")
# Off entirely: without a handler uvicorn skips building its access line (measurably faster),
# and RequestMiddleware already writes one line per request, without the query string.
_SILENCED_LOGGERS = ("uvicorn.access",)
# Kept at WARNING whatever LOG_LEVEL says: SQLAlchemy would log every statement and its
# parameters at INFO, httpx every outbound URL, query string included.
_QUIET_LOGGERS = ("sqlalchemy", "httpx", "httpcore")
# Per-request fields RequestMiddleware passes as `extra`, copied into JSON lines when present.
_REQUEST_FIELDS = ("method", "path", "status", "duration_ms", "client")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        # ISO 8601 in UTC to the millisecond; the part up to the second is formatted once a
        # second, not once a line (a datetime per line was a fifth of the formatter's time).
        self._second = -1
        self._up_to_second = ""

    def _timestamp(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._up_to_second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._up_to_second}.{int(record.msecs):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self._timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for field in _REQUEST_FIELDS:
            if field in record.__dict__:
                line[field] = record.__dict__[field]
        added = record.__dict__.get("log_fields")
        if added:
            line.update(added)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


class ConsoleFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def add_filter(log_filter: logging.Filter) -> None:
    """Run `log_filter` on every record the app's handler writes, until the handler is
    replaced (the next `configure_logging`)."""
    for handler in logging.getLogger().handlers:
        if handler.get_name() == _HANDLER_NAME:
            handler.addFilter(log_filter)


def configure_logging(settings: CoreSettings) -> None:
    """Install the handler; calling it again (one app per test) replaces it, never adds one."""
    handler = logging.StreamHandler(sys.stdout)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if settings.json_logs else ConsoleFormatter())

    # No line shows where it was logged from, or which thread, process or task wrote it, so
    # none of that is collected: walking the stack for each record is most of its cost. (The
    # "Optimization" section of the logging HOWTO lists these switches.)
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if sys.version_info >= (3, 12):
        logging.logAsyncioTasks = False

    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(settings.log_level)

    for name in _SERVER_LOGGERS:
        # Our handler on each of them rather than propagation to the root: a uvicorn-worker
        # worker starts by copying gunicorn.error's handlers onto uvicorn.error (and turning
        # its propagation off), so with none there uvicorn's own lines would be lost.
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(logging.NOTSET)
        logger.propagate = False
    for name in _SILENCED_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = False
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
