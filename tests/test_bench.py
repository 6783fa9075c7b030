"""The benchmark's table code: reading wrk, taking medians and ratios, writing BENCHMARKS.md.

The measurement itself needs PostgreSQL, six servers and wrk, and is run by hand (make bench).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from bench.run import (
    END,
    START,
    Figure,
    Load,
    Machine,
    Row,
    _median,
    _milliseconds,
    _ratio,
    _spread,
    figure_line,
    parse_wrk_output,
    render,
    write,
)

# `wrk -t1 -c64 -d5s --latency` (wrk 4.1.0) against a server that was failing some requests.
WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:41234/api/v1/items/500
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     9.87ms   61.40ms   1.20s    98.91%
    Req/Sec     6.93k   611.27     7.64k    84.00%
  Latency Distribution
     50%  812.00us
     75%    7.95ms
     90%   10.12ms
     99%    1.04s
  34487 requests in 5.00s, 6.84MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   6894.31
Transfer/sec:      1.37MB
"""

MACHINE = Machine(
    date=datetime.date(2025, 1, 31),
    cpu="Test CPU @ 3.00GHz",
    cores=2,
    python="3.12.1",
    versions="fastapi 1.0, starlette 1.0",
)


def load(requests_per_second: float, p50_ms: float = 1.0, p99_ms: float = 2.0) -> Load:
    return Load(requests_per_second, p50_ms, p99_ms, errors=0)


def table(rows: list[Row], figures: list[Figure] | None = None) -> str:
    return render(rows, figures or [], duration=5, rounds=3, machine=MACHINE)


def test_wrk_output_is_read_into_requests_latencies_and_errors() -> None:
    result = parse_wrk_output(WRK_OUTPUT)

    assert result.requests_per_second == 6894.31
    assert result.p50_ms == pytest.approx(0.812)
    assert result.p99_ms == pytest.approx(1040.0)
    # 7 error statuses, 2 failed reads and 3 timeouts.
    assert result.errors == 12


def test_a_clean_wrk_run_has_no_errors() -> None:
    clean = "\n".join(
        line for line in WRK_OUTPUT.splitlines() if "errors" not in line and "Non-2xx" not in line
    )

    assert parse_wrk_output(clean).errors == 0


@pytest.mark.parametrize(
    ("value", "milliseconds"),
    [("812.00us", 0.812), ("7.95ms", 7.95), ("1.04s", 1040.0), ("12ms", 12.0)],
)
def test_wrk_latencies_are_read_in_milliseconds(value: str, milliseconds: float) -> None:
    assert _milliseconds(value) == pytest.approx(milliseconds)


def test_the_median_round_is_reported() -> None:
    slow, middle, fast = load(900, p50_ms=9), load(1000, p50_ms=5), load(1100, p50_ms=1)

    # The whole round is kept, so its latencies match its requests per second.
    assert _median([fast, slow, middle]) is middle
    assert _median([middle]) is middle


def test_a_ratio_is_ours_over_its_ceiling() -> None:
    row = _ratio("GET /health", load(850), "bare FastAPI", load(1000), 0.85)

    assert (row.name, row.load, row.ceiling, row.target) == (
        "GET /health",
        load(850),
        "bare FastAPI",
        0.85,
    )
    assert row.ratio == pytest.approx(0.85)


def test_a_row_with_a_target_says_met_or_missed() -> None:
    base = load(1000)
    text = table(
        [
            _ratio("met", load(900), "bare FastAPI", base, 0.85),
            _ratio("missed", load(800), "bare FastAPI", base, 0.85),
            _ratio("no target", load(700), "bare FastAPI", base),
            Row("a ceiling", base),
        ]
    )

    assert "| met | 900 |  | 1.0 | 2.0 | 0 | bare FastAPI | 0.90 | ≥ 0.85 met |" in text
    assert "| missed | 800 |  | 1.0 | 2.0 | 0 | bare FastAPI | 0.80 | ≥ 0.85 **missed** |" in text
    assert "| no target | 700 |  | 1.0 | 2.0 | 0 | bare FastAPI | 0.70 |  |" in text
    assert "| a ceiling | 1,000 |  | 1.0 | 2.0 | 0 |  |  |  |" in text


def test_a_row_shows_the_spread_of_its_rounds() -> None:
    rounds = [load(9_000), load(10_500), load(9_800)]
    row = Row("bare FastAPI: GET /health", _median(rounds), spread=_spread(rounds))

    assert "| bare FastAPI: GET /health | 9,800 | 9,000 to 10,500 | 1.0 |" in table([row])


def test_a_figure_is_held_to_its_ceiling_at_most() -> None:
    met = Figure("total PSS", 120.04, (118.0, 125.6), "MB", "bare SQLAlchemy", 116.0, 1.05)
    missed = Figure("first /ready", 900, (850, 990), "ms", "bare SQLAlchemy", 700, 1.15)
    plain = Figure("bare FastAPI: USS of a worker", 20.0, (19.5, 21.0), "MB")

    assert figure_line(met) == (
        "| total PSS | 120.0 MB | 118.0 to 125.6 | bare SQLAlchemy 116.0 MB | 1.03 | ≤ 1.05 met |"
    )
    assert figure_line(missed) == (
        "| first /ready | 900 ms | 850 to 990 | bare SQLAlchemy 700 ms | 1.29 | ≤ 1.15 **missed** |"
    )
    assert (
        figure_line(plain) == "| bare FastAPI: USS of a worker | 20.0 MB | 19.5 to 21.0 |  |  |  |"
    )


def test_the_table_is_headed_by_the_machine_and_the_run() -> None:
    figure = Figure("USS of a worker", 60, (59, 61), "MB", "bare FastAPI", 50, 1.25)
    lines = table([], [figure]).splitlines()

    assert lines[0] == START
    assert lines[1] == (
        "Run on 2025-01-31: Test CPU @ 3.00GHz, 2 cores, Python 3.12.1, "
        "PostgreSQL on 127.0.0.1; fastapi 1.0, starlette 1.0."
    )
    assert "wrk -t1 -c64, 5 s a run, the median of 3 rounds (spread" in lines[2]
    assert lines[-2] == figure_line(figure)
    assert lines[-1] == END


def test_on_one_core_the_table_says_nothing_was_pinned() -> None:
    machine = Machine(MACHINE.date, MACHINE.cpu, 1, MACHINE.python, MACHINE.versions)

    assert "no pinning (one core)" in render([], [], 5, 3, machine=machine)


def test_the_table_replaces_only_the_text_between_the_markers(tmp_path: Path) -> None:
    output = tmp_path / "BENCHMARKS.md"
    output.write_text(
        f"# Benchmarks\n\nnotes before\n\n{START}\nthe last run\n{END}\n\nnotes after\n"
    )

    write(output, f"{START}\nthis run\n{END}")

    assert output.read_text() == (
        f"# Benchmarks\n\nnotes before\n\n{START}\nthis run\n{END}\n\nnotes after\n"
    )


def test_a_file_without_markers_gets_the_table_appended(tmp_path: Path) -> None:
    output = tmp_path / "BENCHMARKS.md"
    output.write_text("# Benchmarks\n\nnotes only\n\n")

    write(output, f"{START}\nthis run\n{END}")

    assert output.read_text() == f"# Benchmarks\n\nnotes only\n\n{START}\nthis run\n{END}\n"


def test_a_missing_file_is_created_with_a_heading(tmp_path: Path) -> None:
    output = tmp_path / "BENCHMARKS.md"

    write(output, f"{START}\nthis run\n{END}")

    assert output.read_text() == f"# Benchmarks\n\n{START}\nthis run\n{END}\n"
