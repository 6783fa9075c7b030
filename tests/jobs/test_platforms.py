"""Where jobs run: Render's worker service, Vercel's cron request, Lambda's schedule event, and
the web process itself on SQLite."""

from __future__ import annotations

import asyncio
import json
import shlex
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from mangum import Mangum

from app.jobs import Jobs, JobSettings
from app.jobs.__main__ import main as worker_main
from app.jobs.drain import DRAIN_PATH
from app.main import create_app, lambda_handlers
from app.services import services_of
from tests.blueprint import load_blueprint, web_service
from tests.clients import asgi_client
from tests.conftest import make_settings
from tests.jobs.conftest import JOB, Enqueue, Recorder, queue_rows

CRON_SECRET = "test-cron-secret"
SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-12-01T12:00:00Z",
    "region": "eu-central-1",
    "resources": ["arn:aws:events:eu-central-1:123456789012:rule/drain-jobs"],
    "detail": {},
}


def worker_service(repo_root: Path) -> dict[str, Any]:
    (service,) = [s for s in load_blueprint(repo_root)["services"] if s["type"] == "worker"]
    worker: dict[str, Any] = service
    return worker


def test_render_runs_the_worker_from_the_web_services_build_and_database(
    repo_root: Path,
) -> None:
    blueprint = load_blueprint(repo_root)
    worker, web = worker_service(repo_root), web_service(blueprint)
    assert shlex.split(worker["startCommand"]) == ["python", "-m", "app.jobs", "worker"]
    assert worker["buildCommand"] == web["buildCommand"]
    variables = {v["key"]: v for v in worker["envVars"]}
    assert variables["DATABASE_URL"]["fromDatabase"]["name"] == blueprint["databases"][0]["name"]
    assert variables["ENVIRONMENT"]["value"] == "production"


def test_render_waits_for_the_running_jobs_before_killing_the_worker(repo_root: Path) -> None:
    # SIGTERM, then SIGKILL after maxShutdownDelaySeconds: the running jobs need JOBS_TIMEOUT.
    default_timeout = JobSettings.model_fields["jobs_timeout"].default
    assert worker_service(repo_root)["maxShutdownDelaySeconds"] > default_timeout


def test_vercel_cron_requests_the_drain_route_at_most_daily(repo_root: Path) -> None:
    (cron,) = json.loads((repo_root / "vercel.json").read_text())["crons"]
    assert cron["path"] == DRAIN_PATH
    # Five fields, and no more often than daily: what Vercel's Hobby plan accepts.
    minute, hour, day, month, weekday = cron["schedule"].split()
    assert minute.isdigit() and hour.isdigit() and int(minute) < 60 and int(hour) < 24
    assert (day, month, weekday) == ("*", "*", "*")


@pytest.mark.settings(cron_secret=CRON_SECRET)
@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": CRON_SECRET}],
    ids=["missing", "wrong", "not a bearer token"],
)
async def test_the_drain_route_refuses_a_request_without_the_cron_secret(
    app: FastAPI, headers: dict[str, str]
) -> None:
    async with asgi_client(app) as client:
        response = await client.get(DRAIN_PATH, headers=headers)
    assert response.status_code == 401


async def test_without_a_cron_secret_the_drain_route_refuses_everyone(app: FastAPI) -> None:
    async with asgi_client(app) as client:
        response = await client.get(DRAIN_PATH, headers={"authorization": "Bearer "})
    assert response.status_code == 401


async def test_the_drain_route_is_not_in_the_api_description(app: FastAPI) -> None:
    async with asgi_client(app) as client:
        assert DRAIN_PATH not in (await client.get("/openapi.json")).json()["paths"]


@pytest.mark.postgres
def test_a_lambda_schedule_event_drains_through_the_api_handler(database_url: str) -> None:
    # As api/index.py builds the handler; sync, as Lambda calls it, on a loop of Mangum's.
    app = create_app(make_settings(database_url))
    owned = services_of(app)
    recorder = Recorder()
    owned.get(Jobs).handle(JOB, recorder)

    async def enqueue() -> None:
        async with owned.database.session() as session, session.begin():
            await session.run_sync(owned.get(Jobs).enqueue, JOB, b"from lambda")
        await owned.database.dispose()

    asyncio.run(enqueue())
    handler = Mangum(app, lifespan="off", custom_handlers=lambda_handlers())
    context = SimpleNamespace(aws_request_id="request", function_name="test")
    response = handler(SCHEDULED_EVENT, context)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["done"] == 1
    assert recorder.payloads == [b"from lambda"]
    assert asyncio.run(queue_rows(database_url)) == []


def test_on_sqlite_a_job_runs_in_the_process_once_its_write_commits(tmp_path: Path) -> None:
    recorder = Recorder()

    async def scenario() -> None:
        app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"))
        owned = services_of(app)
        jobs = owned.get(Jobs)
        jobs.handle(JOB, recorder)
        async with app.router.lifespan_context(app), owned.database.session() as session:
            await session.run_sync(jobs.enqueue, JOB, b"rolled back")
            await session.rollback()
            await session.run_sync(jobs.enqueue, JOB, b"committed")
            assert recorder.payloads == []  # not before the commit
            await session.commit()
        # The lifespan's end waits for jobs still running.

    asyncio.run(scenario())
    assert recorder.payloads == [b"committed"]


@pytest.mark.postgres
async def test_enqueue_refuses_a_job_nobody_handles(jobs_app: FastAPI, enqueue: Enqueue) -> None:
    owned = services_of(jobs_app)
    async with owned.database.session() as session:
        with pytest.raises(ValueError, match="no handler"):
            await session.run_sync(owned.get(Jobs).enqueue, "test.unknown", b"")


def test_the_worker_refuses_to_start_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    monkeypatch.chdir(tmp_path)  # no .env from the repository
    assert worker_main(["worker"]) == 2
    assert "Jobs need PostgreSQL" in capsys.readouterr().err
