"""Unhandled exceptions reach Sentry once each, tagged with the request ID, with no secret.

The real SDK sends to a Sentry ingest endpoint of the test's own on 127.0.0.1, from the app
served as the platforms serve it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.blueprint import gunicorn
from tests.observability.receivers import SentryReceiver, sentry_receiver
from tests.servers import checkout, free_port, running, shell_environment, wait_until_answers

pytestmark = pytest.mark.processes

DB_PASSWORD = "db-pa55word-never-sent"
DATABASE_URL = f"postgresql://app:{DB_PASSWORD}@127.0.0.1:9/app"
BEARER = "bearer-key-never-sent"
COOKIE = "cookie-value-never-sent"
API_KEY = "api-key-never-sent"
QUERY_TOKEN = "query-token-never-sent"
SECRETS = (DB_PASSWORD, DATABASE_URL, BEARER, COOKIE, API_KEY, QUERY_TOKEN)


def failing_request(base: str, request_id: str) -> int:
    response = httpx.get(
        f"{base}/test/fail",
        params={"token": QUERY_TOKEN},
        headers={
            "Authorization": f"Bearer {BEARER}",
            "Cookie": f"session={COOKIE}",
            "X-API-Key": API_KEY,
            "X-Request-ID": request_id,
        },
        timeout=10,
    )
    return response.status_code


def assert_nothing_secret(receiver: SentryReceiver) -> None:
    sent = b"".join(receiver.envelopes)
    for secret in SECRETS:
        assert secret.encode() not in sent, f"{secret!r} was sent to Sentry"


def test_each_unhandled_exception_is_reported_once_with_its_request_id_and_no_secret(
    repo_root: Path, tmp_path: Path
) -> None:
    port = free_port()
    with sentry_receiver() as receiver:
        env = shell_environment(
            ENVIRONMENT="test",
            DATABASE_URL=DATABASE_URL,
            SENTRY_DSN=receiver.dsn,
            RENDER_GIT_COMMIT="abc123",
        )
        command = ["uvicorn", "served_app:app", "--host", "127.0.0.1", "--port", str(port)]
        app_dir = checkout(repo_root, tmp_path / "app")
        with running(command, env=env, cwd=app_dir, log=tmp_path / "uvicorn.log") as process:
            base = f"http://127.0.0.1:{port}"
            wait_until_answers(f"{base}/health", process)
            assert httpx.get(f"{base}/no-such-page").status_code == 404
            assert httpx.get(f"{base}/test/sleep").status_code == 422
            assert failing_request(base, "request-one") == 500
            receiver.wait_for_events(1)
        # Stopped: whatever the SDK still had queued has been sent.
        events = receiver.events()
    assert len(events) == 1, events
    event = events[0]
    assert event["tags"]["request_id"] == "request-one"
    assert event["environment"] == "test"
    assert event["release"] == "abc123"
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["stacktrace"]["frames"][-1]["function"] == "fail"
    assert_nothing_secret(receiver)


def test_under_gunicorn_every_worker_reports(repo_root: Path, tmp_path: Path) -> None:
    failures = 6
    with sentry_receiver() as receiver:
        with gunicorn(
            repo_root,
            tmp_path,
            WEB_CONCURRENCY="2",
            DATABASE_URL=DATABASE_URL,
            SENTRY_DSN=receiver.dsn,
        ) as server:
            statuses = [failing_request(server.base, f"request-{n}") for n in range(failures)]
            assert httpx.get(f"{server.base}/no-such-page").status_code == 404
            receiver.wait_for_events(failures)
        events = receiver.events()
    assert statuses == [500] * failures
    assert sorted(e["tags"]["request_id"] for e in events) == [
        f"request-{n}" for n in range(failures)
    ]
    assert_nothing_secret(receiver)


LAMBDA_INVOCATION = """
import json, os, sys, urllib.request
from mangum import Mangum
from app.main import create_app
from tests.served_app import with_test_routes

handler = Mangum(with_test_routes(create_app()), lifespan="off")
event = json.load(sys.stdin)
response = handler(event, None)
# What the ingest endpoint holds the moment the invocation returns: Lambda may freeze the
# instance then, and anything still queued would be sent only if it thawed.
with urllib.request.urlopen(os.environ["RECEIVER"]) as received:
    print(response["statusCode"], received.read().decode(), flush=True)
os._exit(0)
"""


def test_on_lambda_the_event_is_sent_before_the_invocation_returns(repo_root: Path) -> None:
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/test/fail",
        "rawQueryString": f"token={QUERY_TOKEN}",
        "headers": {"host": "example.com", "authorization": f"Bearer {BEARER}"},
        "requestContext": {
            "http": {"method": "GET", "path": "/test/fail", "sourceIp": "192.0.2.10"},
            "requestId": "request",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    with sentry_receiver(delay=1) as receiver:
        result = subprocess.run(
            [sys.executable, "-c", LAMBDA_INVOCATION],
            input=json.dumps(event),
            env=shell_environment(
                AWS_LAMBDA_FUNCTION_NAME="template-test",
                DATABASE_URL=DATABASE_URL,
                SENTRY_DSN=receiver.dsn,
                RECEIVER=f"http://127.0.0.1:{receiver.port}/",
                PYTHONPATH=str(repo_root),
            ),
            cwd=repo_root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        events = receiver.events()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "500 1"
    assert len(events) == 1
    assert_nothing_secret(receiver)
