"""Live capture of real peers' PDUs, round-tripped byte for byte through dicomul.

Runs every scenario of ``conformance/pdu_capture.py`` against the installed
DCMTK tools and pynetdicom (both are always present in CI: no skipping), and
checks that

* each scenario produced the PDU types, association items and user
  information sub-items it exists for, and
* ``dicomul.pdu.encode(dicomul.pdu.decode(b)) == b`` for every captured PDU.

It also checks that the stored fixture ``tests/data/captured_pdus.json`` still
describes the same scenarios as a live capture (regenerate it with
``python conformance/pdu_capture.py --out tests/data/captured_pdus.json``).
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys
from types import ModuleType
from typing import Any

import pytest

from dicomul import pdu

HERE = pathlib.Path(__file__).resolve().parent
FIXTURE = HERE.parent / "tests" / "data" / "captured_pdus.json"
MODULE_NAME = "_dicomul_conformance_pdu_capture"

REQ = "requestor->acceptor"
ACC = "acceptor->requestor"

# The PDU types each scenario must produce, per direction.
#   1 A-ASSOCIATE-RQ, 2 -AC, 3 -RJ, 4 P-DATA-TF, 5 A-RELEASE-RQ, 6 -RP, 7 A-ABORT
ECHO_AND_RELEASE = {REQ: {1, 4, 5}, ACC: {2, 4, 6}}
EXPECTED_PDU_TYPES: dict[str, dict[str, set[int]]] = {
    "a_dcmtk_echoscu_to_dcmtk_storescp": ECHO_AND_RELEASE,
    "b1_dcmtk_echoscu_abort_to_dcmtk_storescp": {REQ: {1, 4, 7}, ACC: {2, 4}},
    "b2_dcmtk_storescu_to_dcmtk_storescp_abort_after": {REQ: {1, 4}, ACC: {2, 7}},
    "c1_dcmtk_storescu_files_to_dcmtk_storescp": ECHO_AND_RELEASE,
    "c2_dcmtk_storescu_max_pdu_4096_to_dcmtk_storescp": ECHO_AND_RELEASE,
    "d1_dcmtk_echoscu_to_dcmtk_storescp_refuse": {REQ: {1}, ACC: {3}},
    "d2_dcmtk_storescu_to_dcmtk_storescp_implicit_only": ECHO_AND_RELEASE,
    "e_pynetdicom_scu_extended_to_dcmtk_storescp": ECHO_AND_RELEASE,
    "f1_pynetdicom_scu_to_pynetdicom_scp": ECHO_AND_RELEASE,
    "f2_pynetdicom_scu_abort_to_pynetdicom_scp": {REQ: {1, 4, 7}, ACC: {2, 4}},
    "g1_dcmtk_echoscu_to_pynetdicom_scp": ECHO_AND_RELEASE,
    "g2_dcmtk_echoscu_to_pynetdicom_scp_wrong_called_aet": {REQ: {1}, ACC: {3}},
    "g3_dcmtk_storescu_user_identity_to_pynetdicom_scp": ECHO_AND_RELEASE,
}
# Only captured when pydicom can still write Explicit VR Big Endian files.
OPTIONAL_PDU_TYPES: dict[str, dict[str, set[int]]] = {
    "c3_dcmtk_storescu_big_endian_to_dcmtk_storescp": ECHO_AND_RELEASE,
}

# User information sub-items that must appear in a scenario's A-ASSOCIATE-RQ
# (REQ) or -AC (ACC): 0x51 max length, 0x52 implementation class UID,
# 0x53 async ops window, 0x54 role selection, 0x55 implementation version name,
# 0x56 SOP class extended, 0x57 SOP class common extended, 0x58/0x59 user
# identity request/response.
BASIC_SUB_ITEMS = {0x51, 0x52, 0x55}
ALL_RQ_SUB_ITEMS = BASIC_SUB_ITEMS | {0x53, 0x54, 0x56, 0x57, 0x58}
EXPECTED_SUB_ITEMS: dict[tuple[str, str], set[int]] = {
    ("a_dcmtk_echoscu_to_dcmtk_storescp", REQ): BASIC_SUB_ITEMS,
    ("a_dcmtk_echoscu_to_dcmtk_storescp", ACC): BASIC_SUB_ITEMS,
    ("c2_dcmtk_storescu_max_pdu_4096_to_dcmtk_storescp", REQ): BASIC_SUB_ITEMS | {0x58},
    ("e_pynetdicom_scu_extended_to_dcmtk_storescp", REQ): ALL_RQ_SUB_ITEMS,
    ("f1_pynetdicom_scu_to_pynetdicom_scp", REQ): ALL_RQ_SUB_ITEMS,
    ("f1_pynetdicom_scu_to_pynetdicom_scp", ACC): BASIC_SUB_ITEMS | {0x53, 0x54, 0x56, 0x59},
    ("f2_pynetdicom_scu_abort_to_pynetdicom_scp", REQ): ALL_RQ_SUB_ITEMS,
    ("g1_dcmtk_echoscu_to_pynetdicom_scp", ACC): BASIC_SUB_ITEMS,
    ("g3_dcmtk_storescu_user_identity_to_pynetdicom_scp", REQ): BASIC_SUB_ITEMS | {0x58},
    ("g3_dcmtk_storescu_user_identity_to_pynetdicom_scp", ACC): BASIC_SUB_ITEMS | {0x59},
}

# Presentation context results (0x21 items) that an A-ASSOCIATE-AC must hold:
# 3 abstract syntax not supported, 4 transfer syntaxes not supported.
EXPECTED_REJECTED_RESULTS: dict[str, int] = {
    "d2_dcmtk_storescu_to_dcmtk_storescp_implicit_only": 4,
    "e_pynetdicom_scu_extended_to_dcmtk_storescp": 3,
}


def _load_capture_module() -> ModuleType:
    """Import conformance/pdu_capture.py from its path (conformance/ is no package)."""
    if MODULE_NAME in sys.modules:
        return sys.modules[MODULE_NAME]
    spec = importlib.util.spec_from_file_location(MODULE_NAME, HERE / "pdu_capture.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def capture() -> ModuleType:
    """Return the capture module."""
    return _load_capture_module()


@pytest.fixture(scope="module")
def records(capture: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Run every capture scenario once for this module."""
    result: list[dict[str, Any]] = capture.capture_all(tmp_path_factory.mktemp("pdu-capture"))
    return result


def _pdus(records: list[dict[str, Any]], scenario: str, direction: str) -> list[dict[str, Any]]:
    return sorted(
        (r for r in records if r["scenario"] == scenario and r["direction"] == direction),
        key=lambda r: r["index"],
    )


def _types_by_scenario(records: list[dict[str, Any]]) -> dict[str, dict[str, set[int]]]:
    found: dict[str, dict[str, set[int]]] = {}
    for rec in records:
        found.setdefault(rec["scenario"], {REQ: set(), ACC: set()})[rec["direction"]].add(
            rec["pdu_type"]
        )
    return found


def test_every_scenario_yields_its_pdu_types(records: list[dict[str, Any]]) -> None:
    found = _types_by_scenario(records)
    missing = set(EXPECTED_PDU_TYPES) - set(found)
    unknown = set(found) - set(EXPECTED_PDU_TYPES) - set(OPTIONAL_PDU_TYPES)
    assert not missing, f"scenarios without records: {sorted(missing)}"
    assert not unknown, f"scenarios this test does not know: {sorted(unknown)}"
    for scenario, expected in {**EXPECTED_PDU_TYPES, **OPTIONAL_PDU_TYPES}.items():
        if scenario not in found:
            continue
        for direction, types in expected.items():
            assert types <= found[scenario][direction], (
                f"{scenario} {direction}: expected PDU types {sorted(types)}, "
                f"got {sorted(found[scenario][direction])}"
            )


def test_records_are_well_formed(records: list[dict[str, Any]]) -> None:
    for rec in records:
        data = bytes.fromhex(rec["hex"])
        assert rec["direction"] in (REQ, ACC)
        assert data[0] == rec["pdu_type"]
        assert int.from_bytes(data[2:6], "big") == len(data) - 6
        indexes = [r["index"] for r in _pdus(records, rec["scenario"], rec["direction"])]
        assert indexes == list(range(len(indexes)))


def test_fragmented_data_set(records: list[dict[str, Any]]) -> None:
    scenario = "c2_dcmtk_storescu_max_pdu_4096_to_dcmtk_storescp"
    pdata = [r for r in _pdus(records, scenario, REQ) if r["pdu_type"] == 4]
    # One command PDU plus a data set spread over at least two PDUs.
    assert len(pdata) >= 3
    assert all(len(r["hex"]) // 2 <= 4096 for r in pdata)


def test_association_sub_items(capture: ModuleType, records: list[dict[str, Any]]) -> None:
    for (scenario, direction), expected in EXPECTED_SUB_ITEMS.items():
        associate = [r for r in _pdus(records, scenario, direction) if r["pdu_type"] in (1, 2)]
        assert len(associate) == 1, f"{scenario} {direction}: no A-ASSOCIATE-RQ/AC"
        items, sub_items = capture.association_item_types(bytes.fromhex(associate[0]["hex"]))
        assert 0x10 in items
        assert {0x20, 0x21} & set(items)
        assert 0x50 in items
        assert expected <= set(sub_items), (
            f"{scenario} {direction}: expected sub-items "
            f"{sorted(hex(t) for t in expected)}, got {sorted(hex(t) for t in sub_items)}"
        )


def test_rejected_presentation_contexts(
    capture: ModuleType, records: list[dict[str, Any]]
) -> None:
    for scenario, result in EXPECTED_REJECTED_RESULTS.items():
        (ac,) = [r for r in _pdus(records, scenario, ACC) if r["pdu_type"] == 2]
        body = bytes.fromhex(ac["hex"])[6 + 68 :]
        results = [value[2] for item, value in capture.iter_items(body) if item == 0x21]
        assert 0 in results, f"{scenario}: no accepted presentation context"
        assert result in results, f"{scenario}: no context rejected with result {result}"


def test_round_trip_is_byte_exact(records: list[dict[str, Any]]) -> None:
    failures = []
    for rec in records:
        data = bytes.fromhex(rec["hex"])
        where = f"{rec['scenario']} {rec['direction']} #{rec['index']} (type {rec['pdu_type']})"
        try:
            again = pdu.encode(pdu.decode(data))
        except Exception as exc:  # report every failing PDU, not just the first
            failures.append(f"{where}: {type(exc).__name__}: {exc}")
            continue
        if again != data:
            offset = next(
                (i for i, (a, b) in enumerate(zip(data, again, strict=False)) if a != b),
                min(len(data), len(again)),
            )
            failures.append(
                f"{where}: re-encoding differs at byte {offset} (len {len(data)} -> {len(again)})"
            )
    assert not failures, "\n".join(failures)


def test_stored_fixture_matches_live_capture(records: list[dict[str, Any]]) -> None:
    stored = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert _types_by_scenario(stored) == _types_by_scenario(records), (
        f"{FIXTURE} is stale; regenerate it with "
        "python conformance/pdu_capture.py --out tests/data/captured_pdus.json"
    )
