"""Real peers' PDUs (tests/data/captured_pdus.json, recorded from DCMTK and
pynetdicom by conformance/pdu_capture.py): byte-exact round trips, the values
they carry, and framing of the recorded streams however they are chunked."""

from __future__ import annotations

import json
import pathlib
from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomul import ReceiveBuffer, pdu
from dicomul.pdu import AssociateAC, AssociateRJ, AssociateRQ, PDataTF

RECORDS = json.loads((pathlib.Path(__file__).parent / "data" / "captured_pdus.json").read_text())
DCMTK_IMPLEMENTATION_ROOT = "1.2.276.0.7230010.3"  # OFFIS DCMTK
PYNETDICOM_IMPLEMENTATION_ROOT = "1.2.826.0.1.3680043.9.3811"

STREAMS: dict[tuple[str, str], list[bytes]] = defaultdict(list)
for record in sorted(RECORDS, key=lambda r: (r["scenario"], r["direction"], r["index"])):
    STREAMS[record["scenario"], record["direction"]].append(bytes.fromhex(record["hex"]))


def test_fixture_covers_both_peers_and_every_pdu_type() -> None:
    assert len(RECORDS) > 50
    assert {r["pdu_type"] for r in RECORDS} == {1, 2, 3, 4, 5, 6, 7}
    peers = " ".join(r["peer"] for r in RECORDS)
    assert "dcmtk" in peers
    assert "pynetdicom" in peers


@pytest.mark.parametrize(
    "record", RECORDS, ids=[f"{r['scenario']}-{r['direction'][:3]}-{r['index']}" for r in RECORDS]
)
def test_real_pdu_roundtrips_byte_for_byte(record: dict[str, object]) -> None:
    data = bytes.fromhex(str(record["hex"]))
    decoded = pdu.decode(data)
    assert decoded.pdu_type == record["pdu_type"]
    assert pdu.encode(decoded) == data


def _first(scenario: str, direction: str) -> pdu.PDU:
    return pdu.decode(STREAMS[scenario, direction][0])


def test_dcmtk_echoscu_request_values() -> None:
    rq = _first("a_dcmtk_echoscu_to_dcmtk_storescp", "requestor->acceptor")
    assert isinstance(rq, AssociateRQ)
    assert rq.calling_aet == "ECHOSCU"
    assert rq.application_context.uid == pdu.DICOM_APPLICATION_CONTEXT
    assert [pc.abstract_syntax_uid for pc in rq.presentation_contexts] == ["1.2.840.10008.1.1"]
    info = rq.user_information
    assert info is not None
    assert info.maximum_length == 16384
    assert (info.implementation_class_uid or "").startswith(DCMTK_IMPLEMENTATION_ROOT)
    assert (info.implementation_version_name or "").startswith("OFFIS_DCMTK")


def test_pynetdicom_extended_negotiation_values() -> None:
    rq = _first("f1_pynetdicom_scu_to_pynetdicom_scp", "requestor->acceptor")
    assert isinstance(rq, AssociateRQ)
    info = rq.user_information
    assert info is not None
    assert (info.implementation_class_uid or "").startswith(PYNETDICOM_IMPLEMENTATION_ROOT)
    assert info.role_selections
    assert info.extended_negotiations
    assert info.common_extended_negotiations
    assert info.common_extended_negotiations[0].related_general_sop_classes
    assert info.asynchronous_operations_window is not None
    assert info.user_identity is not None
    ac = _first("f1_pynetdicom_scu_to_pynetdicom_scp", "acceptor->requestor")
    assert isinstance(ac, AssociateAC)
    assert ac.user_information is not None
    assert ac.user_information.user_identity is not None


def test_rejections_name_their_reason() -> None:
    dcmtk = _first("d1_dcmtk_echoscu_to_dcmtk_storescp_refuse", "acceptor->requestor")
    pynetdicom = _first(
        "g2_dcmtk_echoscu_to_pynetdicom_scp_wrong_called_aet", "acceptor->requestor"
    )
    assert isinstance(dcmtk, AssociateRJ)
    assert isinstance(pynetdicom, AssociateRJ)
    assert (dcmtk.result, dcmtk.source, dcmtk.reason) == (1, 1, 1)
    assert (pynetdicom.result, pynetdicom.source, pynetdicom.reason) == (1, 1, 7)


def test_fragmented_data_set_respects_the_negotiated_maximum() -> None:
    stream = STREAMS["c2_dcmtk_storescu_max_pdu_4096_to_dcmtk_storescp", "requestor->acceptor"]
    pdatas = [p for p in map(pdu.decode, stream) if isinstance(p, PDataTF)]
    assert len(pdatas) >= 3
    assert all(len(b) - 6 <= 4096 for b in stream if b[0] == 4)
    fragments = [pdv for p in pdatas for pdv in p.pdvs if not pdv.is_command]
    assert [pdv.is_last for pdv in fragments].count(True) == 1
    assert fragments[-1].is_last


@given(st.sampled_from(sorted(STREAMS)), st.data())
def test_recorded_streams_frame_the_same_however_chunked(
    key: tuple[str, str], data: st.DataObject
) -> None:
    frames = STREAMS[key]
    wire = b"".join(frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=30)))
    buf = ReceiveBuffer()
    got = []
    start = 0
    for cut in [*cuts, len(wire)]:
        buf.feed(wire[start:cut])
        start = cut
        while (frame := buf.next_frame()) is not None:
            got.append(bytes(frame))
    assert got == frames
