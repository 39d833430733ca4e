"""PDU codec benchmarks, dicomul against pynetdicom, with pytest-benchmark.

Run explicitly (``bench/`` is not in the repository's ``testpaths``)::

    .venv/bin/python -m pytest bench -p no:cacheprovider --benchmark-only

One benchmark group per operation and size, holding the dicomul and the
pynetdicom run of it, so that pytest-benchmark's own tables compare the two.
``bench/conftest.py`` then prints the throughput side by side (MB/s for
P-DATA-TF, PDU/s for A-ASSOCIATE-RQ) from the best round of each.  The cases
and their correctness checks live in ``codec_cases.py``, shared with the
``timeit`` runner ``run_codec.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from codec_cases import LIBRARIES, Case, Library, build_cases

#: Built, and checked for correctness, once at collection.
CASES = build_cases()


@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_codec(
    benchmark: Any,
    record_throughput: Callable[[Case, Library, Any], None],
    case: Case,
    lib: Library,
) -> None:
    """Time one library doing one case; record its best round for the summary."""
    benchmark.group = case.name
    benchmark.extra_info.update(
        library=lib, unit=case.unit, work_per_call=case.work, pdus_per_call=case.pdus
    )
    # Correctness was checked when the case was built, before any timing.
    benchmark(case.run[lib])
    record_throughput(case, lib, benchmark)
