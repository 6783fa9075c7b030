"""The collector in a served process: start-up's objects frozen, young collections rarer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.garbage_collector import YOUNG_THRESHOLD
from tests.servers import clean_environment


def test_the_app_a_server_imports_leaves_start_up_frozen_and_a_higher_threshold(
    repo_root: Path, tmp_path: Path
) -> None:
    probe = (
        "import gc, app.main\n"
        "frozen, threshold = gc.get_freeze_count(), gc.get_threshold()[0]\n"
        "app.main.app\n"
        "print(threshold, gc.get_freeze_count() > frozen + 10_000, gc.get_threshold()[0])\n"
    )
    env = clean_environment(ENVIRONMENT="test", PYTHONPATH=str(repo_root))
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.split() == [b"700", b"True", str(YOUNG_THRESHOLD).encode()]
