"""Each request is a trace: a server span named by its route, its SQL and outbound calls as
children, the caller's `traceparent` honoured and passed on, its ID in the request's log line.

The real SDK exports over OTLP/HTTP to a collector of the test's own on 127.0.0.1, which
decodes what it receives with OpenTelemetry's own protobuf definitions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from pydantic import ValidationError

from app.http_client import HTTPClientDep
from app.main import create_app
from bench.run import otlp_sink
from tests.blueprint import gunicorn
from tests.clients import client_for
from tests.conftest import make_settings
from tests.observability.receivers import OtlpReceiver, otlp_receiver
from tests.served_app import with_test_routes
from tests.servers import shell_environment

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as receiver:
        yield receiver


def test_an_endpoint_that_is_not_an_http_url_is_refused() -> None:
    with pytest.raises(ValidationError, match="OTEL_EXPORTER_OTLP_ENDPOINT"):
        make_settings(otel_exporter_otlp_endpoint="collector:4318")


def traced_app(database_url: str, receiver: OtlpReceiver) -> FastAPI:
    settings = make_settings(
        database_url, otel_exporter_otlp_endpoint=receiver.endpoint, log_format="json"
    )
    app = with_test_routes(create_app(settings))

    async def call_upstream(http: HTTPClientDep) -> dict[str, int]:
        response = await http.get(f"{receiver.endpoint}/upstream?token=query-secret")
        return {"status": response.status_code}

    app.add_api_route("/test/upstream", call_upstream)
    return app


def one(spans: list[Span], kind: Span.SpanKind.ValueType) -> Span:
    (span,) = [s for s in spans if s.kind == kind]
    return span


def attributes(span: Span) -> dict[str, Any]:
    return {a.key: a.value.string_value or a.value.int_value for a in span.attributes}


async def test_a_request_is_a_server_span_in_the_callers_trace_with_its_sql_as_a_child(
    database_url: str, receiver: OtlpReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    app = traced_app(database_url, receiver)
    async with client_for(app) as client:
        response = await client.get("/test/db", headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200
    # The lifespan has ended: whatever was queued has been exported.
    spans = receiver.spans()
    server = one(spans, Span.SPAN_KIND_SERVER)
    assert server.trace_id.hex() == TRACE_ID
    assert server.parent_span_id.hex() == PARENT_ID
    assert server.name == "GET /test/db"
    assert attributes(server)["http.route"] == "/test/db"
    assert attributes(server)["request_id"] == response.headers["x-request-id"]
    sql = one(spans, Span.SPAN_KIND_CLIENT)
    assert sql.trace_id == server.trace_id
    assert sql.parent_span_id == server.span_id
    assert sql.name.startswith("SELECT")
    (line,) = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if '"logger": "app.access"' in line
    ]
    assert line["trace_id"] == TRACE_ID
    assert line["span_id"] == server.span_id.hex()


async def test_spans_are_named_by_route_template_without_the_query_string(
    database_url: str, receiver: OtlpReceiver
) -> None:
    async with client_for(traced_app(database_url, receiver)) as client:
        await client.get("/test/echo/secret-path-value?token=query-secret")
        await client.get("/no-such-page")
    names = sorted(s.name for s in receiver.spans())
    assert names == ["GET", "GET /test/echo/{value}"]
    assert not any(b"query-secret" in body for body in receiver.bodies)


async def test_an_outbound_call_is_a_child_span_and_carries_the_trace_on(
    database_url: str, receiver: OtlpReceiver
) -> None:
    async with client_for(traced_app(database_url, receiver)) as client:
        response = await client.get("/test/upstream", headers={"traceparent": TRACEPARENT})
    assert response.json() == {"status": 200}
    spans = receiver.spans()
    server, call = one(spans, Span.SPAN_KIND_SERVER), one(spans, Span.SPAN_KIND_CLIENT)
    assert call.parent_span_id == server.span_id
    (upstream,) = receiver.upstream_headers
    assert upstream["traceparent"] == f"00-{TRACE_ID}-{call.span_id.hex()}-01"
    assert not any(b"query-secret" in body for body in receiver.bodies)


async def test_probes_are_not_traced(database_url: str, receiver: OtlpReceiver) -> None:
    async with client_for(traced_app(database_url, receiver)) as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/ready")).status_code == 200
        await client.get("/test/echo/1")
    assert [s.name for s in receiver.spans()] == ["GET /test/echo/{value}"]


@pytest.mark.processes
def test_under_gunicorn_the_workers_export_their_spans(repo_root: Path, tmp_path: Path) -> None:
    sent = 8
    with (
        otlp_receiver() as receiver,
        gunicorn(
            repo_root,
            tmp_path,
            WEB_CONCURRENCY="2",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            # Export every 100 ms rather than every 5 s, so the spans arrive while it serves.
            OTEL_BSP_SCHEDULE_DELAY="100",
        ) as server,
    ):
        # A new connection per request, so that both workers serve.
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=server.base, limits=limits, timeout=10) as client:
            statuses = [client.get(f"/test/echo/{n}").status_code for n in range(sent)]
        spans = receiver.wait_for_spans(sent)
    assert statuses == [200] * sent
    assert [s.name for s in spans] == ["GET /test/echo/{value}"] * sent


LAMBDA_INVOCATION = """
import json, os, sys, urllib.request
from mangum import Mangum
from app.main import create_app
from tests.served_app import with_test_routes

handler = Mangum(with_test_routes(create_app()), lifespan="off")
response = handler(json.load(sys.stdin), None)
# What the collector holds the moment the invocation returns: Lambda may freeze the instance
# then, and anything still queued would be sent only if it thawed.
with urllib.request.urlopen(os.environ["RECEIVER"]) as received:
    print(response["statusCode"], received.read().decode(), flush=True)
os._exit(0)
"""


@pytest.mark.processes
def test_on_lambda_the_spans_are_exported_before_the_invocation_returns(
    repo_root: Path, receiver: OtlpReceiver
) -> None:
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/test/echo/1",
        "rawQueryString": "",
        "headers": {"host": "example.com", "traceparent": TRACEPARENT},
        "requestContext": {
            "http": {"method": "GET", "path": "/test/echo/1", "sourceIp": "192.0.2.10"},
            "requestId": "request",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    result = subprocess.run(
        [sys.executable, "-c", LAMBDA_INVOCATION],
        input=json.dumps(event),
        env=shell_environment(
            AWS_LAMBDA_FUNCTION_NAME="template-test",
            DATABASE_URL="postgresql://app:password@127.0.0.1:9/app",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            RECEIVER=f"{receiver.endpoint}/exports",
            PYTHONPATH=str(repo_root),
        ),
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "200 1"
    (server,) = receiver.spans()
    assert server.trace_id.hex() == TRACE_ID


def test_the_benchmarks_collector_accepts_the_exporters_spans() -> None:
    span = TracerProvider().get_tracer(__name__).start_span("bench")
    span.end()
    assert isinstance(span, ReadableSpan)
    with otlp_sink() as url:
        exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces")
        assert exporter.export([span]) is SpanExportResult.SUCCESS
