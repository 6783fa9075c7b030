"""A test's own PostgreSQL and Redis servers: frozen, they keep their port open and answer
nothing; thawed, they answer again; stopped, they refuse connections; started, they serve the
same url again."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests import own_servers
from tests.own_servers import (
    OwnPostgres,
    OwnRedis,
    own_postgres_fixture,  # noqa: F401
    own_redis_fixture,  # noqa: F401
)

pytestmark = pytest.mark.processes
# Needs the servers installed, as the CI pass that sets TEST_DATABASE_URL and TEST_REDIS_URL has.
postgres = pytest.mark.postgres
redis = pytest.mark.redis

SHARED_PORTS = {5432, 6379}
CLIENT_TIMEOUT = 0.5


def accepts_tcp(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def redis_client(url: str) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=CLIENT_TIMEOUT,
        socket_connect_timeout=CLIENT_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )


@postgres
async def test_own_postgres_answers_on_a_port_of_its_own(own_postgres: OwnPostgres) -> None:
    assert own_postgres.port not in SHARED_PORTS
    connection = await asyncpg.connect(own_postgres.url, timeout=5)
    try:
        assert await connection.fetchval("SELECT current_setting('port')::int") == own_postgres.port
        assert await connection.fetchval("SHOW fsync") == "off"
    finally:
        await connection.close()


@postgres
async def test_frozen_postgres_keeps_its_port_open_and_answers_after_thawing(
    own_postgres: OwnPostgres,
) -> None:
    connected = await asyncpg.connect(own_postgres.url, timeout=5)
    try:
        own_postgres.freeze()

        with pytest.raises(TimeoutError):
            await connected.fetchval("SELECT 1", timeout=CLIENT_TIMEOUT)
        with pytest.raises(TimeoutError):
            await asyncpg.connect(own_postgres.url, timeout=CLIENT_TIMEOUT)
        assert accepts_tcp(own_postgres.port)

        own_postgres.thaw()
    finally:
        connected.terminate()

    connection = await asyncpg.connect(own_postgres.url, timeout=5)
    try:
        assert await connection.fetchval("SELECT 1", timeout=5) == 1
    finally:
        await connection.close()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
@postgres
async def test_stopped_postgres_refuses_connections_until_started_again(
    own_postgres: OwnPostgres, mode: Literal["fast", "immediate"]
) -> None:
    database_url = own_postgres.create_database("kept")
    connection = await asyncpg.connect(database_url, timeout=5)
    await connection.execute("CREATE TABLE survivor (id int); INSERT INTO survivor VALUES (1)")
    await connection.close()
    port = own_postgres.port

    own_postgres.stop(mode)

    assert not accepts_tcp(port)
    with pytest.raises(OSError):
        await asyncpg.connect(own_postgres.url, timeout=5)

    own_postgres.start()

    assert own_postgres.port == port
    connection = await asyncpg.connect(database_url, timeout=5)
    try:
        assert await connection.fetchval("SELECT id FROM survivor") == 1
    finally:
        await connection.close()


@postgres
async def test_backend_pids_are_the_server_processes_of_connected_clients(
    own_postgres: OwnPostgres,
) -> None:
    assert own_postgres.backend_pids() == []
    connection = await asyncpg.connect(own_postgres.url, timeout=5)
    try:
        backend = connection.get_server_pid()
        assert own_postgres.backend_pids() == [backend]
    finally:
        await connection.close()


@postgres
def test_leaving_postgres_frozen_still_stops_it_and_removes_its_files(tmp_path: Path) -> None:
    with own_servers.own_postgres(tmp_path) as server:
        server.freeze()
        postmaster = server.pid
        directory = server.directory

    assert not server.running
    assert not os.path.exists(f"/proc/{postmaster}")
    assert not directory.exists()
    assert not accepts_tcp(server.port)


@redis
async def test_frozen_redis_keeps_its_port_open_and_answers_after_thawing(
    own_redis: OwnRedis,
) -> None:
    assert own_redis.port not in SHARED_PORTS
    client = redis_client(own_redis.url)
    try:
        assert await client.ping()
        own_redis.freeze()

        with pytest.raises(RedisTimeoutError):
            await client.ping()
        assert accepts_tcp(own_redis.port)

        own_redis.thaw()
        assert await client.ping()
    finally:
        await client.aclose()


@redis
async def test_stopped_redis_refuses_connections_until_started_again(own_redis: OwnRedis) -> None:
    client = redis_client(own_redis.url)
    try:
        await client.set("key", "value")
        own_redis.stop()

        assert not accepts_tcp(own_redis.port)
        with pytest.raises(RedisConnectionError):
            await client.ping()

        own_redis.start()
        assert await client.ping()
        assert await client.get("key") is None
    finally:
        await client.aclose()
