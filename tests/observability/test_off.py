"""With every signal off the feature costs nothing: no SDK imported, no middleware added."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.main import create_app
from tests.conftest import make_settings
from tests.servers import run_python


@pytest.mark.processes
def test_the_default_app_imports_no_observability_sdk(repo_root: Path, tmp_path: Path) -> None:
    # FastAPI itself imports the OpenTelemetry API (a no-op without an SDK); what must stay
    # out is the SDKs that do the work.
    probe = (
        "import sys\n"
        "from app.main import app\n"
        "app.build_middleware_stack()\n"
        "sdks = ('sentry_sdk', 'prometheus_client', 'opentelemetry.sdk', 'opentelemetry.exporter',"
        " 'opentelemetry.instrumentation')\n"
        "print(sorted(m for m in sys.modules if m.startswith(sdks)))\n"
    )
    printed = run_python(probe, repo_root, tmp_path, ENVIRONMENT="test")
    assert printed == b"[]"


def test_the_default_app_has_only_the_cores_middleware(database_url: str) -> None:
    default = create_app(make_settings(database_url))
    with_metrics = create_app(make_settings(database_url, metrics_enabled=True))
    core = [m.cls for m in default.user_middleware]
    assert [m.cls for m in with_metrics.user_middleware][1:] == core
    assert not any(
        m.cls.__module__.startswith("app.observability") for m in default.user_middleware
    )
    assert "/metrics" not in {getattr(r, "path", None) for r in default.routes}
