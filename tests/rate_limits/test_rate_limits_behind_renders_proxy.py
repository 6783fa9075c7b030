"""Per-address limits as render.yaml deploys the app: Gunicorn behind Render's proxy."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.blueprint import (
    as_render_gives_it,
    gunicorn,
    literal_env_vars,
    load_blueprint,
    web_service,
)
from tests.servers import async_client_from

pytestmark = [pytest.mark.postgres, pytest.mark.processes]

LIMIT = 20
REQUESTS = 60
WINDOW = 86_400  # a day: the burst cannot straddle two windows unless started at midnight UTC
# Render's proxy connects from an address of its own, not this machine's.
PROXY = "127.0.0.2"
CLIENT = "203.0.113.7"


async def test_a_client_forging_a_new_forwarded_for_entry_each_time_gets_only_the_limit(
    repo_root: Path, tmp_path: Path, migrated_postgres_url: str
) -> None:
    env = literal_env_vars(web_service(load_blueprint(repo_root))) | {
        "DATABASE_URL": as_render_gives_it(migrated_postgres_url),
        "RATE_LIMIT": f"{LIMIT}/day",
        "RATE_LIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex[:12]}",
    }
    with gunicorn(repo_root, tmp_path, **env) as server:
        seconds_left = WINDOW - time.time() % WINDOW
        if seconds_left < 30:
            await asyncio.sleep(seconds_left + 1)
        async with async_client_from(PROXY) as proxy:

            async def read(n: int) -> int:
                # A new address of the client's choosing each time, then the one the proxy saw.
                forwarded = f"198.51.{n // 250}.{n % 250}, {CLIENT}"
                response = await proxy.get(
                    f"{server.base}/test/read", headers={"X-Forwarded-For": forwarded}
                )
                return response.status_code

            statuses = Counter(await asyncio.gather(*(read(n) for n in range(REQUESTS))))
    assert statuses == {200: LIMIT, 429: REQUESTS - LIMIT}
