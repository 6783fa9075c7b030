"""Logs: one line per request with its ID, one format for the app and the server, no secrets."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.logging_setup import JsonFormatter, add_filter
from app.main import Settings, create_app
from tests.clients import client_for
from tests.served_app import with_test_routes
from tests.servers import checkout, clean_environment, free_port, running, wait_until_answers

SECRETS = {
    "Authorization": "Bearer tok-AUTH-91c2",
    "Cookie": "session=tok-COOKIE-5e8d",
}
QUERY_SECRET = "tok-QUERY-77af"


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_each_request_is_one_json_line_with_its_fields(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        _env_file=None, environment="test", database_url=database_url, log_format="json"
    )
    async with client_for(create_app(settings)) as client:
        await client.get("/no-such-page", headers={"X-Request-ID": "req-1"})

    lines = [line for line in _json_lines(capsys.readouterr().out) if line["request_id"]]
    assert len(lines) == 1
    line = lines[0]
    assert line["logger"] == "app.access" and line["level"] == "INFO"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/no-such-page", 404)
    assert line["request_id"] == "req-1"
    assert line["client"] == "127.0.0.1"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["message"].startswith("GET /no-such-page 404 ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["ts"])


class _Fields(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.log_fields = {"trace_id": "t-1"}
        return True


async def test_a_filter_added_to_the_handler_adds_its_log_fields_to_each_json_line(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        _env_file=None, environment="test", database_url=database_url, log_format="json"
    )
    app = create_app(settings)
    add_filter(_Fields())
    async with client_for(app) as client:
        await client.get("/no-such-page")
    lines = _json_lines(capsys.readouterr().out)
    assert lines and all(line["trace_id"] == "t-1" for line in lines)


async def test_headers_and_query_string_secrets_never_reach_the_logs(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        _env_file=None,
        environment="test",
        database_url=database_url,
        log_format="json",
        log_level="DEBUG",
    )
    async with client_for(with_test_routes(create_app(settings))) as client:
        await client.get(f"/no-such-page?token={QUERY_SECRET}", headers=SECRETS)  # a 404
        await client.get(f"/test/sleep?seconds={QUERY_SECRET}", headers=SECRETS)  # a 422

    output = capsys.readouterr().out
    for secret in (*SECRETS.values(), QUERY_SECRET):
        assert secret not in output
    paths = [line["path"] for line in _json_lines(output) if line["logger"] == "app.access"]
    assert paths == ["/no-such-page", "/test/sleep"]


async def test_successful_probes_are_not_logged_but_failing_ones_are(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The database behind /ready is unreachable here, so /ready fails and /health succeeds.
    settings = Settings(
        _env_file=None,
        environment="test",
        database_url="postgresql://app@127.0.0.1:1/app",
        log_format="json",
        ready_timeout=0.5,
    )
    async with client_for(create_app(settings)) as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/ready")).status_code == 503

    lines = _json_lines(capsys.readouterr().out)
    access = [(line["path"], line["status"]) for line in lines if line["logger"] == "app.access"]
    assert access == [("/ready", 503)]


async def test_development_lines_are_readable_and_carry_the_request_id(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(_env_file=None, environment="development", database_url=database_url)
    async with client_for(create_app(settings)) as client:
        await client.get("/no-such-page", headers={"X-Request-ID": "req-2"})

    output = capsys.readouterr().out
    assert re.search(r"INFO +app\.access \[req-2\] GET /no-such-page 404 \d+\.\dms", output)


@pytest.mark.processes
def test_under_uvicorn_every_line_is_json_one_per_request_without_secrets(
    repo_root: Path, tmp_path: Path
) -> None:
    """A real server whose database is down: start-up, requests and a crash, all in the log."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_environment(
        ENVIRONMENT="test",
        DATABASE_URL=f"postgresql://app:hunter2-DBPASS@127.0.0.1:{free_port()}/app",
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
    )
    command = [sys.executable, "-m", "uvicorn", "served_app:app", "--port", str(port)]
    clone = checkout(repo_root, tmp_path / "clone")  # away from any local .env
    log = tmp_path / "server.log"
    with running(command, env=env, cwd=clone, log=log) as server:
        wait_until_answers(f"{base}/health", server)
        missing = f"{base}/no-such-page?token={QUERY_SECRET}"
        httpx.get(missing, headers={**SECRETS, "X-Request-ID": "r1"})
        assert httpx.get(f"{base}/ready").status_code == 503  # the database is unreachable
        crashed = httpx.get(f"{base}/test/fail", headers={"X-Request-ID": "r2"})
        assert crashed.status_code == 500

    text = log.read_text()
    for secret in ("hunter2-DBPASS", *SECRETS.values(), QUERY_SECRET):
        assert secret not in text
    lines = _json_lines(text)  # fails on any line that is not JSON
    loggers = {line["logger"] for line in lines}
    assert "uvicorn.error" in loggers and "uvicorn.access" not in loggers
    assert any(line["message"].startswith("starting: environment test") for line in lines)

    first = [line for line in lines if line["request_id"] == "r1"]
    assert [(line["logger"], line["path"]) for line in first] == [("app.access", "/no-such-page")]
    second = [line for line in lines if line["request_id"] == "r2"]
    # The access line, then the server's one report of the exception, with its stack trace.
    assert [line["logger"] for line in second] == ["app.access", "uvicorn.error"]
    assert "RuntimeError: boom" in second[1]["exception"]
    assert sum("Traceback" in line.get("exception", "") for line in lines) == 1


def test_json_timestamps_are_the_records_utc_time_to_the_millisecond() -> None:
    formatter = JsonFormatter()
    # Within one second, across a second, and back: each line gets its own time.
    for created in (1_764_000_000.0, 1_764_000_000.2504, 1_764_000_001.999, 1_700_000_000.5):
        record = logging.LogRecord("app", logging.INFO, "", 0, "m", None, None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert json.loads(formatter.format(record))["ts"] == expected
