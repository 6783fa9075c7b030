"""AWS Lambda: api/index.py's Mangum `handler`, driven with real API Gateway events, several
invocations in a row, each on a new event loop, in a process configured as Lambda's is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.servers import clean_environment

HANDLER = "api.index:handler"
ITEMS = "/api/v1/items"


def http_api_event(
    method: str, path: str, query: str = "", body: Any = None, key: str = ""
) -> dict[str, Any]:
    """API Gateway HTTP API, payload format 2.0 (also what Lambda function URLs send)."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "content-type": "application/json",
            "host": "abc123.execute-api.eu-central-1.amazonaws.com",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            **({"authorization": f"Bearer {key}"} if key else {}),
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
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def rest_api_event(
    method: str, path: str, query: str = "", body: Any = None, key: str = ""
) -> dict[str, Any]:
    """API Gateway REST API, Lambda proxy integration (payload format 1.0)."""
    parameters = dict(pair.split("=") for pair in query.split("&")) if query else None
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {
            "Content-Type": "application/json",
            "Host": "abc123.execute-api.eu-central-1.amazonaws.com",
            "X-Forwarded-Port": "443",
            "X-Forwarded-Proto": "https",
            **({"Authorization": f"Bearer {key}"} if key else {}),
        },
        "multiValueHeaders": None,
        "queryStringParameters": parameters,
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
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def invoke(repo_root: Path, events: list[dict[str, Any]], **env: str) -> list[dict[str, Any]]:
    """Invoke the handler once per event in a fresh process set up as Lambda sets one up."""
    result = subprocess.run(
        [sys.executable, str(repo_root / "tests" / "platforms.py"), "lambda", HANDLER],
        input=json.dumps(events),
        env=clean_environment(AWS_LAMBDA_FUNCTION_NAME="template-test", **env),
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    responses: list[dict[str, Any]] = json.loads(result.stdout.splitlines()[-1])
    return responses


def _status_and_body(response: dict[str, Any]) -> tuple[int, Any]:
    body = json.loads(response["body"]) if response.get("body") else None
    return response["statusCode"], body


def _session(event: Any, key: str) -> list[dict[str, Any]]:
    """Readiness, a create, a duplicate, a page read and a missing item: one invocation each."""
    return [
        event("GET", "/ready"),
        event("POST", ITEMS, body={"name": "on-lambda", "description": "first"}, key=key),
        event("POST", ITEMS, body={"name": "on-lambda"}, key=key),
        event("GET", ITEMS, query="limit=5"),
        event("GET", f"{ITEMS}/999999"),
        event("GET", "/health"),
    ]


def _assert_session(responses: list[dict[str, Any]]) -> None:
    (ready, created, duplicate, page, missing, health) = map(_status_and_body, responses)
    assert ready == (200, {"status": "ready", "checks": {"database": "ok"}})
    assert created[0] == 201
    assert created[1]["name"] == "on-lambda" and created[1]["description"] == "first"
    assert duplicate[0] == 409 and duplicate[1]["error"]["code"] == "conflict"
    assert page[0] == 200
    assert [item["name"] for item in page[1]["items"]] == ["on-lambda"]
    assert page[1]["total"] == 1
    assert missing[0] == 404 and missing[1]["error"]["code"] == "not_found"
    assert health[0] == 200 and health[1]["status"] == "ok"


@pytest.mark.parametrize(
    "event", [http_api_event, rest_api_event], ids=["http-api-v2", "rest-api-v1"]
)
def test_lambda_handler_serves_the_api_on_a_new_event_loop_per_invocation(
    repo_root: Path, database_url: str, stored_api_key: str, event: Any
) -> None:
    responses = invoke(
        repo_root, _session(event, stored_api_key), ENVIRONMENT="test", DATABASE_URL=database_url
    )
    _assert_session(responses)


@pytest.mark.postgres
def test_a_pool_kept_on_lambda_is_never_reused_across_event_loops(
    repo_root: Path, database_url: str, stored_api_key: str
) -> None:
    # DB_POOL_MODE=queue keeps connections between invocations; each new loop must drop them.
    responses = invoke(
        repo_root,
        _session(http_api_event, stored_api_key),
        ENVIRONMENT="production",
        DATABASE_URL=database_url,
        DB_POOL_MODE="queue",
    )
    _assert_session(responses)
