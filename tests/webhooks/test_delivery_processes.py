"""The Blueprint's web and worker commands against a real PostgreSQL server: every item write
reaches a receiver that fails each event's first attempt, while the worker is stopped with
SIGTERM and later killed with SIGKILL mid-job; then the same through Vercel's cron route.

WEBHOOK_TEST_EVENTS sets how many writes each half makes (default 8; the acceptance run is
100). The receiver verifies every request with the `standardwebhooks` package.
"""

from __future__ import annotations

import os
import shlex
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.blueprint import (
    APP_PATH,
    as_render_gives_it,
    gunicorn,
    literal_env_vars,
    load_blueprint,
    start_command,
    web_service,
)
from tests.servers import checkout, running, shell_environment
from tests.webhooks.receiver import Receiver, webhook_receiver

pytestmark = [pytest.mark.postgres, pytest.mark.processes]

EVENTS = int(os.environ.get("WEBHOOK_TEST_EVENTS", "8"))
CRON_SECRET = "test-cron-secret-0123456789"
# The app as the web command serves it, with writes open to the test (no API key needed).
OPEN_APP = """
from app.access import READ, WRITE, Caller
from app.main import create_app

app = create_app()


async def anyone() -> Caller:
    return Caller("test:anyone", frozenset({"read", "write"}))


app.dependency_overrides[READ] = anyone
app.dependency_overrides[WRITE] = anyone
"""
# Quicker than the defaults, so the test takes seconds: retries, and the time after which a
# killed worker's job is taken again.
FAST = {
    "JOBS_RETRY_DELAY": "0.2",
    "JOBS_HEARTBEAT_TIMEOUT": "1",
    "JOBS_POLL_INTERVAL": "0.5",
    "JOBS_CONCURRENCY": "4",
    "JOBS_DRAIN_SECONDS": "5",
    "JOBS_TIMEOUT": "10",
}


def worker_command(blueprint: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    (service,) = [s for s in blueprint["services"] if s["type"] == "worker"]
    return shlex.split(service["startCommand"]), service


def write_items(base: str, prefix: str) -> set[str]:
    names = {f"{prefix}-{number}" for number in range(EVENTS)}
    with httpx.Client(base_url=base, timeout=10) as client:
        for name in sorted(names):
            assert client.post("/api/v1/items", json={"name": name}).status_code == 201
    return names


def delivered_names(receiver: Receiver, prefix: str) -> set[str]:
    return {
        event["data"]["name"]
        for event in receiver.delivered.values()
        if event["data"]["name"].startswith(prefix)
    }


def test_every_write_is_delivered_despite_failures_a_sigterm_a_sigkill_and_via_the_cron(
    repo_root: Path, tmp_path: Path, migrated_postgres_url: str
) -> None:
    blueprint = load_blueprint(repo_root)
    command, worker = worker_command(blueprint)
    app_dir = checkout(repo_root, tmp_path / "worker")
    # The web command's own checkout (tests.blueprint.gunicorn) goes to web/app.
    (tmp_path / "web" / "app").mkdir(parents=True)
    (tmp_path / "web" / "app" / "open_app.py").write_text(OPEN_APP)
    started = time.monotonic()
    with webhook_receiver(fail_first=True, seconds=0.05) as receiver:
        shared = {
            "DATABASE_URL": as_render_gives_it(migrated_postgres_url),
            "WEBHOOK_URL": receiver.url,
            "WEBHOOK_SECRET": receiver.secret,
            **FAST,
        }
        worker_env = shell_environment(**literal_env_vars(worker), **shared)

        def start_worker(number: int) -> Any:
            return running(
                command, env=worker_env, cwd=app_dir, log=tmp_path / f"worker-{number}.log"
            )

        web_command = start_command(web_service(blueprint), app="open_app:app")
        assert APP_PATH not in web_command
        web_env = literal_env_vars(web_service(blueprint)) | {"WEB_CONCURRENCY": "1"}
        # The first worker starts with the web service, as a Blueprint deploy starts both.
        with (
            start_worker(1) as first,
            gunicorn(
                repo_root,
                tmp_path / "web",
                command=web_command,
                CRON_SECRET=CRON_SECRET,
                **web_env,
                **shared,
            ) as web,
        ):
            names = write_items(web.base, "worker")

            # SIGTERM once some attempts were made: running jobs finish, none is lost. The
            # next worker starts meanwhile, as a deploy's new instance does.
            receiver.wait_for_attempts(EVENTS * 2 // 3)
            first.send_signal(signal.SIGTERM)
            stopping = time.monotonic()
            with start_worker(2) as second:
                assert first.wait(timeout=int(worker["maxShutdownDelaySeconds"])) == 0
                stop_seconds = time.monotonic() - stopping

                # SIGKILL mid-job, with requests in flight: those jobs are taken again later.
                receiver.wait_for_attempts(len(receiver.attempts) + EVENTS // 2)
                second.send_signal(signal.SIGKILL)
                second.wait()

            with start_worker(3):
                receiver.wait_for(EVENTS, timeout=60)
                assert delivered_names(receiver, "worker") == names

            # Vercel's path: no worker running; the cron's request drains the queue.
            names = write_items(web.base, "cron")
            drains = 0
            with httpx.Client(base_url=web.base, timeout=60) as client:
                while delivered_names(receiver, "cron") != names and drains < 10:
                    response = client.get(
                        "/internal/jobs/drain", headers={"authorization": f"Bearer {CRON_SECRET}"}
                    )
                    assert response.status_code == 200
                    drains += 1
            assert delivered_names(receiver, "cron") == names

        assert receiver.unverified == 0
        # Each event was refused once, then delivered under the same webhook-id.
        for message_id in receiver.delivered:
            assert receiver.attempts.count(message_id) >= 2
        duplicates = len(receiver.deliveries) - len(receiver.delivered)
        print(
            f"{2 * EVENTS} events delivered in {time.monotonic() - started:.1f} s; "
            f"{len(receiver.attempts)} attempts, {duplicates} duplicate deliveries, "
            f"SIGTERM to exit {stop_seconds:.2f} s, {drains} cron drains"
        )
