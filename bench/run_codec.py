"""Time the codec benchmarks with :mod:`timeit` and print the README's Markdown table.

Usage::

    .venv/bin/python bench/run_codec.py [--repeat N] [--min-time SECONDS]

The same cases as ``test_codec.py`` (see ``codec_cases.py``), without pytest,
so that ``bench/README.md``'s table can be regenerated with one command.  For
each case, dicomul then pynetdicom is timed: the number of calls per repeat
is calibrated to take at least ``--min-time`` seconds, the repeat is done
``--repeat`` times, and the best (smallest) time per call is kept, as the
least disturbed by the rest of the machine.  :mod:`timeit` switches the
garbage collector off while it times.  The defaults take about 15 seconds on
two cores.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import timeit
from collections.abc import Callable

from codec_cases import LIBRARIES, Measurement, build_cases, environment, format_table


def best_time(function: Callable[[], object], repeat: int, min_time: float) -> float:
    """Best seconds per call of ``function`` over ``repeat`` calibrated repeats."""
    timer = timeit.Timer(function)
    number = 1
    while (elapsed := timer.timeit(number)) < min_time:
        # Aim a little past min_time so that calibration ends in one more step.
        number = max(number * 2, int(number * 1.2 * min_time / max(elapsed, 1e-9)))
    return min(timer.repeat(repeat=repeat, number=number)) / number


def main(argv: list[str] | None = None) -> int:
    """Build and check the cases, time them, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=7, help="repeats per case (default 7)")
    parser.add_argument(
        "--min-time",
        type=float,
        default=0.05,
        help="seconds each repeat lasts at least (default 0.05)",
    )
    args = parser.parse_args(argv)

    measurements = []
    for case in build_cases():
        seconds = {lib: best_time(case.run[lib], args.repeat, args.min_time) for lib in LIBRARIES}
        measurements.append(Measurement(case, seconds))
        print(f"  measured {case.name}", file=sys.stderr)

    today = datetime.date.today().isoformat()
    title = (
        f"timeit, best of {args.repeat} repeats of at least {args.min_time} s, "
        f"{today}: {environment()}"
    )
    print(format_table(measurements, title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
