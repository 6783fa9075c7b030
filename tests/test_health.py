"""Liveness never touches the database; readiness answers within its bound, up or down."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from app import __version__
from app.features import migration_directories
from app.health import Health, Migrations, Ready
from app.main import Settings, create_app

READY_TIMEOUT = 0.5


async def test_health_reports_status_and_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


async def test_ready_is_200_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok"}}


async def test_the_probes_answer_what_their_documented_models_serialise_to(
    client: httpx.AsyncClient,
) -> None:
    health, ready = await client.get("/health"), await client.get("/ready")
    assert health.headers["content-type"] == ready.headers["content-type"] == "application/json"
    assert Health.model_validate_json(health.content).model_dump_json() == health.text
    assert Ready.model_validate_json(ready.content).model_dump_json() == ready.text


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that completes the TCP handshake and then never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


async def _ready_against(port: int) -> tuple[httpx.Response, float]:
    settings = Settings(
        _env_file=None,
        environment="test",
        database_url=f"postgresql://app:hunter2@127.0.0.1:{port}/app",
        ready_timeout=READY_TIMEOUT,
        db_connect_timeout=30,  # longer than READY_TIMEOUT: the probe's own bound must win
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            started = time.monotonic()
            response = await c.get("/ready")
            return response, time.monotonic() - started


def _assert_not_ready(response: httpx.Response, elapsed: float) -> None:
    assert response.status_code == 503
    assert elapsed < READY_TIMEOUT + 0.5
    assert response.headers["Retry-After"]
    assert response.json()["error"]["code"] == "service_unavailable"
    assert "database" in response.json()["error"]["message"]
    assert "hunter2" not in response.text and "127.0.0.1" not in response.text


async def test_ready_is_503_in_time_when_the_database_never_replies(silent_port: int) -> None:
    _assert_not_ready(*await _ready_against(silent_port))


async def test_ready_is_503_in_time_when_the_database_port_is_closed(closed_port: int) -> None:
    _assert_not_ready(*await _ready_against(closed_port))


def test_a_database_ahead_of_this_release_is_ready_and_one_behind_is_not() -> None:
    # `a` and `b` are two feature branches; a2 follows a1.
    migrations = Migrations([])
    migrations.known = frozenset({"a1", "a2", "b1"})
    migrations.heads = frozenset({"a2", "b1"})
    assert migrations.verdict({"a2", "b1"})
    assert migrations.verdict({"a3", "b1"}), "a newer release has migrated: still ready"
    assert not migrations.verdict({"a1", "b1"}), "a branch behind its head"
    assert not migrations.verdict({"a2"}), "a branch never migrated"
    assert not migrations.verdict(set())


def test_this_releases_heads_are_read_from_the_feature_folders() -> None:
    migrations = Migrations(migration_directories())
    assert migrations.heads <= migrations.known
    assert len(migrations.heads) == len(migration_directories())
