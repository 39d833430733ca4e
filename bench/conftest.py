"""pytest glue for the codec benchmarks: a side-by-side throughput summary.

pytest-benchmark reports seconds and operations per second; a codec is
better judged by MB/s, with the two libraries on one line.  Each benchmark
hands its result to :func:`record_throughput`, and at the end of the run
:func:`pytest_terminal_summary` prints the same Markdown table as
``run_codec.py``, from the best (minimum) round of each benchmark.

This file is only loaded when ``bench/`` is named on the command line.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from codec_cases import LIBRARIES, Case, Library, Measurement, environment, format_table

_RESULTS = pytest.StashKey[dict[str, tuple[Case, dict[Library, float]]]]()


@pytest.fixture
def record_throughput(
    request: pytest.FixtureRequest,
) -> Callable[[Case, Library, Any], None]:
    """Return a function that keeps a finished benchmark's best time per call."""
    results = request.config.stash.setdefault(_RESULTS, {})

    def record(case: Case, lib: Library, benchmark: Any) -> None:
        # No stats when timing is off (--benchmark-disable): nothing to report.
        if benchmark.stats is None:
            return
        _, seconds = results.setdefault(case.name, (case, {}))
        seconds[lib] = benchmark.stats.stats.min

    return record


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the throughput table for every case both libraries ran, after pytest-benchmark's."""
    results = config.stash.get(_RESULTS, {})
    measurements = [
        Measurement(case, seconds)
        for case, seconds in results.values()
        if all(lib in seconds for lib in LIBRARIES)
    ]
    if not measurements:
        return
    today = datetime.date.today().isoformat()
    title = f"pytest-benchmark, best round, {today}: {environment()}"
    terminalreporter.write_sep("-", "codec throughput, dicomul vs pynetdicom")
    terminalreporter.write_line(format_table(measurements, title))
