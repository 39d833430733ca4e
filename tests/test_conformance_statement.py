"""The DICOM Conformance Statements in docs/conformance/ are what the code says.

``scripts/conformance_statement.py`` writes them from the apps' own
configuration (their ``main`` run up to serving), parsers and the core's
tables; this test regenerates them and fails if a committed copy differs, so
a statement can never claim what the code does not do.  After changing an
app or a table: ``python scripts/conformance_statement.py``.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from types import ModuleType

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    path = ROOT / "scripts" / "conformance_statement.py"
    spec = importlib.util.spec_from_file_location("conformance_statement", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated(generator: ModuleType) -> dict[str, str]:
    result: dict[str, str] = generator.generate()
    return result


def test_committed_statements_are_up_to_date(generated: dict[str, str]) -> None:
    for name, text in generated.items():
        committed = (ROOT / "docs" / "conformance" / name).read_text()
        assert committed == text, (
            f"docs/conformance/{name} differs from the code: run "
            "python scripts/conformance_statement.py"
        )


def test_statements_follow_ps3_2(generated: dict[str, str]) -> None:
    """PS3.2 Annex A's parts, in order, in each document."""
    parts = [
        "Conformance Statement Overview",
        "Introduction",
        "Implementation Model",
        "Application Data Flow",
        "Functional Definition of AEs",
        "Sequencing of Real-World Activities",
        "AE Specifications",
        "Association policies",
        "Association initiation policy",
        "Association acceptance policy",
        "SOP specific conformance",
        "Communication Profiles",
        "Extensions / Specializations / Privatizations",
        "Configuration",
        "Media Interchange",
        "Support of Character Sets",
        "Security",
    ]
    for name, text in generated.items():
        headings = [line for line in text.splitlines() if line.startswith("#")]
        at = [next((i for i, h in enumerate(headings) if part in h), -1) for part in parts]
        assert -1 not in at, (name, [p for p, i in zip(parts, at, strict=True) if i == -1])
        assert at == sorted(at), (name, headings)


def test_statements_say_what_the_apps_configure(generated: dict[str, str]) -> None:
    """Facts read from the configured apps, not typed: a change in the code
    changes the statement (and so fails the test above until regenerated)."""
    from dicomul_common.sop_classes import storage_classes_to_accept
    from dicomul_sync.apps import qrscp

    from dicomul import IMPLEMENTATION_CLASS_UID

    storage, qr = generated["storage.md"], generated["qrscp.md"]
    for text in (storage, qr):
        assert IMPLEMENTATION_CLASS_UID in text
        assert "| 0xC000 |" in text  # a data set cut short
        assert "| 0xA900 |" in text  # not the instance the request names
    ct = "1.2.840.10008.5.1.4.1.1.2"
    assert ct in storage_classes_to_accept()
    assert f"| CT Image Storage | `{ct}` | No | Yes |" in storage
    for model in qrscp.QUERY_RETRIEVE:
        assert f"`{model}`" in qr
    assert "| 0xA801 | Refused: move destination unknown |" in qr
    assert "16384 bytes (`-pdu`)" in storage


def test_check_mode_finds_a_stale_copy(generator: ModuleType, tmp_path: pathlib.Path) -> None:
    assert generator.main(["--out", str(tmp_path)]) == 0
    assert generator.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "qrscp.md").write_text("stale\n")
    assert generator.main(["--check", "--out", str(tmp_path)]) == 1
