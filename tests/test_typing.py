"""An adapter written under mypy --strict gets exhaustiveness checks over the
events :meth:`dicomul.Connection.next_event` returns (issue 15, section 2).

``next_event`` is typed ``ConnectionEvent | NeedData``: a ``match`` that ends
in ``assert_never`` type-checks when it handles every event, and is rejected,
naming the event, when it leaves one out.  ``event is not NEED_DATA`` narrows
to :data:`dicomul.ConnectionEvent`.  One mypy run checks all the snippets
(each its own module), with the project's configuration and cache.
"""

from __future__ import annotations

import pathlib
import re
import typing

import pytest

import dicomul

mypy_api = pytest.importorskip("mypy.api")

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Every case of the match is one line, so that a variant can drop one.
ADAPTER = '''
from typing_extensions import assert_never

from dicomul import (
    NEED_DATA, Aborted, AssociationAccepted, AssociationRejected, AssociationRequested,
    CommandReceived, Connection, ConnectionClosed, ConnectionEvent, DataSetFragment,
    NeedData, ReleaseRequested, Released,
)


def describe(event: ConnectionEvent | NeedData) -> str:
    match event:
        case NeedData(): return "read more bytes"
        case AssociationRequested(): return "accept or reject"
        case AssociationAccepted(): return "established"
        case AssociationRejected(): return "rejected"
        case CommandReceived(): return "a command"
        case DataSetFragment(): return "data"
        case ReleaseRequested(): return "answer when release_to_answer"
        case Released(): return "released"
        case Aborted(): return "aborted"
        case ConnectionClosed(): return "close"
        case _:
            assert_never(event)


def only_events(event: ConnectionEvent) -> str:
    return describe(event)


def drain(conn: Connection) -> list[str]:
    """``is not NEED_DATA`` narrows the event to ConnectionEvent."""
    done = []
    while (event := conn.next_event()) is not NEED_DATA:
        done.append(only_events(event))
    return done
'''

#: Module name -> the event class its match leaves out (None: none).
VARIANTS: dict[str, str | None] = {
    "adapter_exhaustive": None,
    "adapter_without_released": "Released",
    "adapter_without_data_set_fragment": "DataSetFragment",
    "adapter_without_need_data": "NeedData",
}


def _variant(missing: str | None) -> str:
    if missing is None:
        return ADAPTER
    case = f"        case {missing}(): "
    lines = ADAPTER.splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(case)]
    assert len(kept) == len(lines) - 1
    return "".join(kept)


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Run mypy once over every variant; each module's error lines."""
    folder = tmp_path_factory.mktemp("adapters")
    paths = []
    for name, missing in VARIANTS.items():
        path = folder / f"{name}.py"
        path.write_text(_variant(missing))
        paths.append(str(path))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)  # dicomul is found from the working directory
        stdout, stderr, _ = mypy_api.run(
            [
                "--config-file",
                str(ROOT / "pyproject.toml"),
                "--cache-dir",
                str(ROOT / ".mypy_cache"),
                "--strict",
                *paths,
            ]
        )
    assert stderr == ""
    report: dict[str, list[str]] = {name: [] for name in VARIANTS}
    for line in stdout.splitlines():
        found = re.match(r"(?:.*[/\\])?(\w+)\.py:\d+: error: (.*)", line)
        if found:
            assert found.group(1) in report, line  # no error outside the snippets
            report[found.group(1)].append(found.group(2))
    return report


def test_an_exhaustive_match_type_checks(mypy_report: dict[str, list[str]]) -> None:
    assert mypy_report["adapter_exhaustive"] == []


@pytest.mark.parametrize(
    "name", [name for name, missing in VARIANTS.items() if missing is not None]
)
def test_a_match_missing_an_event_is_rejected(
    mypy_report: dict[str, list[str]], name: str
) -> None:
    missing = VARIANTS[name]
    (error,) = mypy_report[name]
    assert "assert_never" in error
    assert f'"{missing}"' in error


def test_the_union_names_every_received_event_class() -> None:
    """The runtime alias is the union mypy sees, and each member is public."""
    members = typing.get_args(dicomul.ConnectionEvent)
    assert {cls.__name__ for cls in members} == {
        "AssociationRequested",
        "AssociationAccepted",
        "AssociationRejected",
        "CommandReceived",
        "DataSetFragment",
        "ReleaseRequested",
        "Released",
        "Aborted",
        "ConnectionClosed",
    }
    assert all(getattr(dicomul, cls.__name__) is cls for cls in members)
    assert dicomul.NeedData.NEED_DATA is dicomul.NEED_DATA
    assert repr(dicomul.NEED_DATA) == "NEED_DATA"
