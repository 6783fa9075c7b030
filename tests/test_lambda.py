"""AWS Lambda: api/index.py's Mangum `handler`, driven with real API Gateway events, several
invocations in a row, each on a new event loop, in a process configured as Lambda's is."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.servers import clean_environment

pytestmark = pytest.mark.processes

HANDLER = "api.index:handler"
READY = {"status": "ready", "checks": {"database": "ok", "schema": "ok"}}

Event = Callable[[str, str], dict[str, Any]]


def http_api_event(method: str, path: str) -> dict[str, Any]:
    """API Gateway HTTP API, payload format 2.0 (also what Lambda function URLs send)."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "host": "abc123.execute-api.eu-central-1.amazonaws.com",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-central-1.amazonaws.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.10",
                "userAgent": "test",
            },
            "requestId": "request",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1_763_000_000_000,
        },
        "body": None,
        "isBase64Encoded": False,
    }


def rest_api_event(method: str, path: str) -> dict[str, Any]:
    """API Gateway REST API, Lambda proxy integration (payload format 1.0)."""
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {
            "Host": "abc123.execute-api.eu-central-1.amazonaws.com",
            "X-Forwarded-Port": "443",
            "X-Forwarded-Proto": "https",
        },
        "multiValueHeaders": None,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "httpMethod": method,
            "identity": {"sourceIp": "192.0.2.10", "userAgent": "test"},
            "path": f"/prod{path}",
            "requestId": "request",
            "resourcePath": "/{proxy+}",
            "stage": "prod",
        },
        "body": None,
        "isBase64Encoded": False,
    }


def invoke(
    repo_root: Path, cwd: Path, events: list[dict[str, Any]], **env: str
) -> list[tuple[int, Any]]:
    """Invoke the handler once per event in a fresh process set up as Lambda sets one up;
    each response's status and JSON body."""
    result = subprocess.run(
        [sys.executable, str(repo_root / "tests" / "platforms.py"), "lambda", HANDLER],
        input=json.dumps(events),
        env=clean_environment(AWS_LAMBDA_FUNCTION_NAME="template-test", **env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    responses: list[dict[str, Any]] = json.loads(result.stdout.splitlines()[-1])
    return [
        (response["statusCode"], json.loads(response["body"]) if response.get("body") else None)
        for response in responses
    ]


@pytest.mark.parametrize(
    "event", [http_api_event, rest_api_event], ids=["http-api-v2", "rest-api-v1"]
)
def test_lambda_handler_serves_the_probes_docs_and_api_errors_on_a_new_event_loop_each_time(
    repo_root: Path, tmp_path: Path, database_url: str, event: Event
) -> None:
    # /ready queries the database: first, and again on a later invocation's event loop.
    events = ["/ready", "/health", "/openapi.json", "/no-such-page", "/ready"]
    responses = invoke(
        repo_root,
        tmp_path,
        [event("GET", path) for path in events],
        ENVIRONMENT="test",
        DATABASE_URL=database_url,
    )
    ready, health, openapi, missing, ready_again = responses
    assert ready == ready_again == (200, READY)
    assert health[0] == 200 and health[1]["status"] == "ok"
    assert openapi[0] == 200 and "/ready" in openapi[1]["paths"]
    assert missing[0] == 404 and missing[1]["error"]["code"] == "not_found"


@pytest.mark.postgres
def test_a_pool_kept_on_lambda_is_never_reused_across_event_loops(
    repo_root: Path, tmp_path: Path, database_url: str
) -> None:
    # DB_POOL_MODE=queue keeps connections between invocations; each new loop must drop them.
    responses = invoke(
        repo_root,
        tmp_path,
        [http_api_event("GET", "/ready") for _ in range(3)],
        ENVIRONMENT="production",
        DATABASE_URL=database_url,
        DB_POOL_MODE="queue",
    )
    assert responses == [(200, READY)] * 3
