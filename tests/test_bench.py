"""The benchmark script runs end to end and writes its table (a short run, not a measurement)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_DATABASE_URL
from tests.servers import clean_environment

pytestmark = pytest.mark.postgres


def test_a_short_benchmark_run_writes_its_table_between_the_markers(
    repo_root: Path, tmp_path: Path
) -> None:
    output = tmp_path / "BENCHMARKS.md"
    output.write_text(
        "# Benchmarks\n\nnotes kept\n\n<!-- bench:start -->\nthe previous run\n<!-- bench:end -->\n"
    )
    command = [
        sys.executable,
        "-m",
        "bench.run",
        "--duration",
        "1",
        "--rounds",
        "1",
        "--cold-runs",
        "2",
    ]
    command += ["--database-url", TEST_DATABASE_URL, "--output", str(output)]
    command += ["--redis-url", os.environ.get("TEST_REDIS_URL", "")]
    subprocess.run(command, cwd=repo_root, env=clean_environment(), check=True, timeout=240)

    text = output.read_text()
    assert text.startswith("# Benchmarks\n\nnotes kept\n")
    assert "the previous run" not in text
    for row in ("GET /health", "GET one item", "POST create", "cold import", "idle worker RSS"):
        assert row in text
