"""The collector in a served process: start-up's objects frozen, young collections rarer."""

from __future__ import annotations

from pathlib import Path

from app.garbage_collector import YOUNG_THRESHOLD
from tests.servers import run_python


def test_the_app_a_server_imports_leaves_start_up_frozen_and_a_higher_threshold(
    repo_root: Path, tmp_path: Path
) -> None:
    probe = (
        "import gc, app.main\n"
        "frozen, threshold = gc.get_freeze_count(), gc.get_threshold()[0]\n"
        "app.main.app\n"
        "print(threshold, gc.get_freeze_count() > frozen + 10_000, gc.get_threshold()[0])\n"
    )
    printed = run_python(probe, repo_root, tmp_path, ENVIRONMENT="test")
    assert printed.split() == [b"700", b"True", str(YOUNG_THRESHOLD).encode()]
