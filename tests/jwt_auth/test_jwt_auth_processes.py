"""JWTs under the platforms' own entry points: Gunicorn as Render starts it, AWS Lambda's
handler on a new event loop per invocation; and an app without them imports nothing of PyJWT."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.blueprint import gunicorn
from tests.jwt_auth.conftest import AUDIENCE, Provider, SigningKey, bearer
from tests.servers import clean_environment, run_python
from tests.test_lambda import http_api_event

# tests/served_app.py's routes behind Mangum, as api/index.py serves the app's.
HANDLER = "tests.jwt_auth.lambda_app:handler"

pytestmark = pytest.mark.processes


def _provider_env(provider: Provider) -> dict[str, str]:
    return {
        "JWT_JWKS_URL": provider.jwks_url,
        "JWT_ISSUER": provider.issuer,
        "JWT_AUDIENCE": AUDIENCE,
    }


def test_under_gunicorn_tokens_are_verified_and_never_logged(
    repo_root: Path, tmp_path: Path, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    valid = provider.token(signing_keys["RS256"])
    expired = provider.token(signing_keys["ES256"], exp=int(time.time()) - 3600)
    env = {**_provider_env(provider), "LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG"}
    with gunicorn(repo_root, tmp_path, **env) as server:
        accepted = httpx.post(f"{server.base}/test/write", headers=bearer(valid))
        refused = httpx.post(f"{server.base}/test/write", headers=bearer(expired))
    log = server.log.read_text()  # complete, now that Gunicorn has stopped

    assert accepted.status_code == 200 and accepted.json()["caller"].startswith("sub:")
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "The token has expired"
    assert provider.fetches == 1
    assert log.count("/test/write") >= 2, "the requests should have been logged"
    for token in (valid, expired):
        assert token.split(".")[2] not in log


def _with_token(token: str) -> dict[str, Any]:
    event = http_api_event("GET", "/test/read")
    event["headers"]["authorization"] = f"Bearer {token}"
    return event


def test_through_the_lambda_handler_tokens_are_verified_on_each_new_event_loop(
    repo_root: Path,
    tmp_path: Path,
    database_url: str,
    provider: Provider,
    signing_keys: dict[str, SigningKey],
) -> None:
    valid = provider.token(signing_keys["EdDSA"])
    tampered = valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB")
    # The same user's next token: verified with the key set the first invocation fetched.
    later = provider.token(signing_keys["EdDSA"], iat=int(time.time()) - 1)
    # A key the set lacks: fetched again, on this invocation's loop, through a new connection.
    unknown = provider.token(SigningKey("key-unknown", "EdDSA", signing_keys["EdDSA"].private))
    events = [_with_token(t) for t in (valid, tampered, later, unknown)]
    result = subprocess.run(
        [sys.executable, str(repo_root / "tests" / "platforms.py"), "lambda", HANDLER],
        input=json.dumps(events),
        env=clean_environment(
            AWS_LAMBDA_FUNCTION_NAME="template-test",
            ENVIRONMENT="test",
            DATABASE_URL=database_url,
            JWT_JWKS_MIN_REFRESH_SECONDS="0",
            **_provider_env(provider),
        ),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    responses = json.loads(result.stdout.splitlines()[-1])
    (status, body), tampered_, later_, unknown_ = [
        (r["statusCode"], json.loads(r["body"])) for r in responses
    ]
    assert status == 200 and body["caller"].startswith("sub:")
    assert tampered_[0] == 401 and tampered_[1]["error"]["code"] == "unauthorized"
    assert later_ == (status, body)
    assert unknown_[0] == 401
    assert unknown_[1]["error"]["message"] == "The token's signing key is not known"
    assert provider.fetches == 2, "only the unknown key should have fetched the set again"


def test_an_app_without_jwt_settings_imports_no_jwt_library(
    repo_root: Path, tmp_path: Path
) -> None:
    probe = (
        "import sys\n"
        "from app.main import app\n"
        "print(sorted(m for m in sys.modules if m == 'jwt' or m.startswith(('jwt.', "
        "'app.jwt_auth.tokens', 'app.jwt_auth.keys'))))\n"
    )
    printed = run_python(probe, repo_root, tmp_path, ENVIRONMENT="test")
    assert printed == b"[]"
