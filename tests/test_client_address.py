"""The client's address: the connection's, or the one the deployment says a proxy vouches for,
and never one the client wrote itself."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.settings import CoreSettings
from app.settings_errors import SettingsError, load_settings
from tests.clients import asgi_client
from tests.conftest import make_settings
from tests.served_app import with_test_routes

PEER = "10.0.0.1"  # the address the connection comes from: the proxy's, behind one
CLIENT = "203.0.113.7"  # what the proxy in front appends
FORGED = "192.0.2.66"  # what the client wrote


@asynccontextmanager
async def _calling(database_url: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = with_test_routes(create_app(make_settings(database_url, **settings)))
    async with app.router.lifespan_context(app), asgi_client(app, client=(PEER, 4321)) as client:
        yield client


async def _client_seen(client: httpx.AsyncClient, headers: Any = None) -> str | None:
    seen: str | None = (await client.get("/test/request", headers=headers)).json()["client"]
    return seen


async def test_by_default_the_client_is_the_connection_and_forwarded_for_is_ignored(
    database_url: str,
) -> None:
    async with _calling(database_url) as client:
        assert await _client_seen(client, {"X-Forwarded-For": f"{FORGED}, {CLIENT}"}) == PEER


async def test_behind_one_proxy_the_client_is_the_entry_it_appended(database_url: str) -> None:
    async with _calling(database_url, trusted_proxy_hops=1) as client:
        for forged in ("", f"{FORGED}, ", "unknown, 10.0.0.1, ", f"{'x' * 500}, "):
            assert await _client_seen(client, {"X-Forwarded-For": f"{forged}{CLIENT}"}) == CLIENT


async def test_several_forwarded_for_lines_are_one_list(database_url: str) -> None:
    headers = [("X-Forwarded-For", FORGED), ("X-Forwarded-For", CLIENT)]
    async with _calling(database_url, trusted_proxy_hops=1) as client:
        assert await _client_seen(client, headers) == CLIENT


async def test_behind_two_proxies_the_client_is_the_second_entry_from_the_right(
    database_url: str,
) -> None:
    headers = {"X-Forwarded-For": f"{FORGED}, {CLIENT}, 198.51.100.1"}
    async with _calling(database_url, trusted_proxy_hops=2) as client:
        assert await _client_seen(client, headers) == CLIENT


async def test_with_fewer_entries_than_proxies_the_connection_is_the_client(
    database_url: str,
) -> None:
    async with _calling(database_url, trusted_proxy_hops=2) as client:
        assert await _client_seen(client, {"X-Forwarded-For": CLIENT}) == PEER
        assert await _client_seen(client) == PEER


async def test_the_platforms_client_ip_header_wins_over_trusted_hops(database_url: str) -> None:
    headers = {"X-Forwarded-For": f"{FORGED}, {PEER}", "CF-Connecting-IP": CLIENT}
    settings = {"trusted_proxy_hops": 1, "client_ip_header": "CF-Connecting-IP"}
    async with _calling(database_url, **settings) as client:
        assert await _client_seen(client, headers) == CLIENT


async def test_on_vercel_the_client_is_the_address_its_edge_sets(database_url: str) -> None:
    headers = {"X-Forwarded-For": FORGED, "x-vercel-forwarded-for": CLIENT}
    async with _calling(database_url, vercel="1") as client:
        assert await _client_seen(client, headers) == CLIENT


async def test_the_access_log_records_the_same_client(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.access")
    async with _calling(database_url, trusted_proxy_hops=1) as client:
        await client.get("/no-such-page", headers={"X-Forwarded-For": f"{FORGED}, {CLIENT}"})
    [line] = [r for r in caplog.records if r.name == "app.access"]
    assert line.__dict__["client"] == CLIENT


@pytest.mark.parametrize("value", ["X-Real-IP:", "x real ip", "x-ip,x-other"])
def test_a_client_ip_header_that_is_no_header_name_stops_start_up(value: str) -> None:
    with pytest.raises(SettingsError, match=r"CLIENT_IP_HEADER .*must be a header name"):
        load_settings(CoreSettings, _env_file=None, client_ip_header=value)


def test_a_negative_number_of_proxies_stops_start_up() -> None:
    with pytest.raises(SettingsError, match="TRUSTED_PROXY_HOPS"):
        load_settings(CoreSettings, _env_file=None, trusted_proxy_hops=-1)
