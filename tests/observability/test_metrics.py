"""Prometheus metrics at /metrics: counted by route template, behind a token, summed across
Gunicorn's workers even as they are recycled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, HTTPException
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from app.main import create_app
from tests.blueprint import gunicorn
from tests.clients import client_for
from tests.conftest import make_settings
from tests.served_app import with_test_routes

TOKEN = "metrics-token-for-tests"
AUTHORIZED = {"Authorization": f"Bearer {TOKEN}"}

limited = APIRouter()


@limited.get("/limited/{name}")
async def refuse(name: str) -> None:
    raise HTTPException(429, "Too many requests")


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Each sample of metric `name` by its labels, from the Prometheus text format."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def requests_of(text: str, route: str, status: str, method: str = "GET") -> float:
    key = (("method", method), ("route", route), ("status", status))
    return samples(text, "http_requests_total").get(key, 0.0)


@pytest.fixture
async def metered(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = with_test_routes(
        create_app(make_settings(database_url, metrics_enabled=True, metrics_token=TOKEN))
    )
    app.include_router(limited)
    async with client_for(app) as client:
        yield client


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics", headers=AUTHORIZED)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_requests_are_counted_by_route_template_never_by_path(
    metered: httpx.AsyncClient,
) -> None:
    before = await scrape(metered)
    for value in ("a", "b", "c"):
        assert (await metered.get(f"/test/echo/{value}")).status_code == 200
    assert (await metered.get("/no/such/page")).status_code == 404
    assert (await metered.get("/limited/x")).status_code == 429
    after = await scrape(metered)

    def grew(route: str, status: str) -> float:
        return requests_of(after, route, status) - requests_of(before, route, status)

    assert grew("/test/echo/{value}", "2xx") == 3
    assert grew("unmatched", "4xx") == 1
    assert grew("/limited/{name}", "4xx") == 1
    assert "/test/echo/a" not in after
    refused = samples(after, "http_rate_limited_requests_total")
    assert refused[(("route", "/limited/{name}"),)] >= 1
    durations = samples(after, "http_request_duration_seconds_count")
    assert durations[(("method", "GET"), ("route", "/test/echo/{value}"))] >= 3


async def test_metrics_need_the_token_when_one_is_set(metered: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = await metered.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert "http_requests_total" not in response.text
    assert (await metered.get("/metrics", headers=AUTHORIZED)).status_code == 200


async def test_metrics_are_not_served_unless_enabled(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 404


async def test_the_pool_of_the_answering_process_is_reported() -> None:
    # Nothing listens there: the engine opens no connection until a request needs one.
    settings = make_settings(
        "postgresql://app:secret@127.0.0.1:9/app", metrics_enabled=True, db_pool_size=7
    )
    async with client_for(create_app(settings)) as client:
        text = (await client.get("/metrics")).text
    assert samples(text, "db_pool_size") == {(): 7}
    assert samples(text, "db_pool_checked_out") == {(): 0}
    assert samples(text, "db_pool_overflow") == {(): 0}


def test_metrics_are_refused_where_an_instance_would_only_report_itself(
    database_url: str,
) -> None:
    with pytest.raises(ValidationError, match="Vercel and AWS Lambda"):
        make_settings(database_url, metrics_enabled=True, vercel="1")


def test_production_refuses_metrics_without_a_token() -> None:
    production: dict[str, Any] = {
        "environment": "production",
        "metrics_enabled": True,
    }
    url = "postgresql://app:secret@127.0.0.1:9/app"
    with pytest.raises(ValidationError, match="METRICS_TOKEN is required"):
        make_settings(url, **production)
    assert make_settings(url, **production, metrics_token=TOKEN).metrics_enabled


@pytest.mark.processes
async def test_under_gunicorn_every_scrape_counts_every_workers_requests(
    repo_root: Path, tmp_path: Path
) -> None:
    sent, workers = 60, 2
    with gunicorn(
        repo_root,
        tmp_path,
        WEB_CONCURRENCY=str(workers),
        METRICS_ENABLED="true",
        METRICS_TOKEN=TOKEN,
        GUNICORN_MAX_REQUESTS="15",
        GUNICORN_MAX_REQUESTS_JITTER="0",
    ) as server:
        # A new connection per request, so that both workers serve, and a retiring worker's
        # closing of an idle connection loses nothing.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.base, timeout=10, limits=limits) as client:
            statuses = [(await client.get(f"/test/echo/{n}")).status_code for n in range(sent)]
            assert statuses == [200] * sent

            async def counted() -> float:
                text = (await client.get("/metrics", headers=AUTHORIZED)).text
                return requests_of(text, "/test/echo/{value}", "2xx")

            # A worker counts a request once its response is sent: allow it that moment.
            deadline = time.monotonic() + 10
            for _ in range(100):
                if await counted() >= sent or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            totals = [await counted() for _ in range(10)]
        log = server.log.read_text()
    assert totals == [sent] * 10
    assert log.count("Maximum request limit") >= workers, "workers should have been recycled"
