"""pynetdicom's event handlers on a dicomul_sync SCP (issue 17), with real
peers: pynetdicom 3 as the requestor, and DCMTK's storescu, findscu, getscu
and movescu.  Each handler is written as a pynetdicom user writes it."""

from __future__ import annotations

import pathlib
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pydicom
import pytest
from dcmtk_tools import dcmtk_path
from dicomul_sync import AE, evt
from peers import free_port, pynetdicom_scu
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

HOST = "127.0.0.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
VERIFICATION = "1.2.840.10008.1.1"
FIND_PATIENT = "1.2.840.10008.5.1.4.1.2.1.1"
MOVE_PATIENT = "1.2.840.10008.5.1.4.1.2.1.2"
GET_PATIENT = "1.2.840.10008.5.1.4.1.2.1.3"


def ct(name: str, patient_id: str = "P1") -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = name
    ds.PatientID = patient_id
    ds.StudyInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.file_meta = FileMetaDataset()  # pynetdicom 3 sends in the syntax it names
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def part10(ds: Dataset, path: pathlib.Path) -> pathlib.Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def scp() -> Iterator[AE]:
    ae = AE(ae_title="EVSCP", scp_sop_class=[VERIFICATION, CT, FIND_PATIENT, GET_PATIENT])
    ae.scp_sop_class.append(MOVE_PATIENT)
    ae.bind_address = HOST
    ae.accept_unknown_sop_classes = False
    ae.add_supported_context(CT, scu_role=True, scp_role=True)
    yield ae
    ae.stop(abort=True)


def start(ae: AE, handlers: list[Any]) -> int:
    ae.port = 0
    ae.start(block=False, evt_handlers=handlers)
    return ae.port


def dcmtk(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [dcmtk_path(tool), *args], capture_output=True, text=True, timeout=60, check=False
    )


# ------------------------------------------------------------ pynetdicom


def test_pynetdicom_stores_into_an_evt_c_store_handler(scp: AE) -> None:
    stored: list[Dataset] = []

    def handle_store(event: Any) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        stored.append(ds)
        return 0x0000

    port = start(scp, [(evt.EVT_C_STORE, handle_store)])
    peer = pynetdicom_scu("PYNETSCU", {CT: [ExplicitVRLittleEndian]})
    assoc = peer.associate(HOST, port, ae_title="EVSCP")
    assert assoc.is_established
    status = assoc.send_c_store(ct("PY^NET"))
    assoc.release()
    assert status.Status == 0x0000
    (ds,) = stored
    assert str(ds.PatientName) == "PY^NET"
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_a_raising_handler_gives_pynetdicom_the_failure_status(scp: AE) -> None:
    def handle_store(event: Any) -> int:
        raise RuntimeError("handler bug")

    port = start(scp, [(evt.EVT_C_STORE, handle_store)])
    peer = pynetdicom_scu("PYNETSCU", {CT: None, VERIFICATION: None})
    assoc = peer.associate(HOST, port, ae_title="EVSCP")
    assert assoc.send_c_store(ct("FAIL^ME")).Status == 0xC000  # PS3.4 B.2.3: cannot understand
    assert assoc.send_c_echo().Status == 0x0000  # the association, and the server, go on
    assoc.release()


def test_association_notifications_with_pynetdicom(scp: AE) -> None:
    seen: list[tuple[str, Any]] = []
    closed = threading.Event()

    def note(event: Any) -> None:
        detail = event.address if event.event in (evt.EVT_CONN_OPEN, evt.EVT_CONN_CLOSE) else None
        seen.append((event.event.name, detail))
        if event.event is evt.EVT_CONN_CLOSE:
            closed.set()

    kinds = [evt.EVT_CONN_OPEN, evt.EVT_ACCEPTED, evt.EVT_RELEASED, evt.EVT_ABORTED]
    port = start(scp, [(kind, note) for kind in [*kinds, evt.EVT_CONN_CLOSE]])
    peer = pynetdicom_scu("PYNETSCU", {VERIFICATION: None})
    assoc = peer.associate(HOST, port, ae_title="EVSCP")
    assoc.release()
    assert closed.wait(5)
    names = [name for name, _ in seen]
    assert names == ["EVT_CONN_OPEN", "EVT_ACCEPTED", "EVT_RELEASED", "EVT_CONN_CLOSE"]
    assert seen[0][1][0] == HOST
    closed.clear()
    seen.clear()
    assoc = peer.associate(HOST, port, ae_title="EVSCP")
    assoc.abort()
    assert closed.wait(5)
    assert [name for name, _ in seen] == [
        "EVT_CONN_OPEN",
        "EVT_ACCEPTED",
        "EVT_ABORTED",
        "EVT_CONN_CLOSE",
    ]


def test_bind_and_unbind_while_pynetdicom_is_associated(scp: AE) -> None:
    port = start(scp, [])
    peer = pynetdicom_scu("PYNETSCU", {CT: None})
    assoc = peer.associate(HOST, port, ae_title="EVSCP")
    assert assoc.send_c_store(ct("BEFORE^BIND")).Status == 0x0211  # no handler: unrecognized
    names: list[str] = []

    def handle_store(event: Any) -> int:
        names.append(str(event.dataset.PatientName))
        return 0x0000

    scp.bind(evt.EVT_C_STORE, handle_store)
    assert assoc.send_c_store(ct("AFTER^BIND")).Status == 0x0000
    scp.unbind(evt.EVT_C_STORE, handle_store)
    assert assoc.send_c_store(ct("AFTER^UNBIND")).Status == 0x0211
    assoc.release()
    assert names == ["AFTER^BIND"]


def test_pynetdicom_user_identity_is_decided_by_evt_user_id(scp: AE) -> None:
    from pynetdicom.pdu_primitives import UserIdentityNegotiation

    calls: list[tuple[int, bytes, bytes]] = []
    peers: list[tuple[str, str]] = []

    def handle_user(event: Any) -> tuple[bool, bytes | None]:
        calls.append((event.user_id_type, event.primary_field, event.secondary_field))
        peers.append((event.assoc.requestor.ae_title, event.assoc.requestor.address))
        return event.primary_field == b"alice", None

    port = start(scp, [(evt.EVT_USER_ID, handle_user)])
    peer = pynetdicom_scu("PYNETSCU", {VERIFICATION: None})

    def identity(user: bytes, password: bytes) -> Any:
        item = UserIdentityNegotiation()
        item.user_identity_type = 2
        item.primary_field = user
        item.secondary_field = password
        return item

    accepted = peer.associate(HOST, port, ae_title="EVSCP", ext_neg=[identity(b"alice", b"pw")])
    assert accepted.is_established
    accepted.release()
    refused = peer.associate(HOST, port, ae_title="EVSCP", ext_neg=[identity(b"mallory", b"x")])
    assert refused.is_rejected
    assert calls == [(2, b"alice", b"pw"), (2, b"mallory", b"x")]
    assert peers == [("PYNETSCU", HOST)] * 2


# ---------------------------------------------------------------- DCMTK


def test_dcmtk_storescu_into_evt_c_store_and_user_identity(
    scp: AE, tmp_path: pathlib.Path
) -> None:
    stored: dict[str, Dataset] = {}

    def handle_store(event: Any) -> int:
        ds = event.dataset
        stored[ds.SOPInstanceUID] = ds
        return 0x0000

    def handle_user(event: Any) -> tuple[bool, bytes | None]:
        return (event.primary_field, event.secondary_field) == (b"dcm", b"tk"), None

    port = start(scp, [(evt.EVT_C_STORE, handle_store), (evt.EVT_USER_ID, handle_user)])
    path = part10(ct("DCM^TK"), tmp_path / "ct.dcm")
    good = dcmtk(
        "storescu",
        "-aec",
        "EVSCP",
        "-usr",
        "dcm",
        "-pwd",
        "tk",
        "-rsp",
        HOST,
        str(port),
        str(path),
    )
    assert good.returncode == 0, good.stderr
    assert [str(ds.PatientName) for ds in stored.values()] == ["DCM^TK"]
    bad = dcmtk(
        "storescu", "-aec", "EVSCP", "-usr", "dcm", "-pwd", "no", HOST, str(port), str(path)
    )
    assert bad.returncode != 0
    assert "Rejected" in bad.stderr or "rejected" in bad.stderr
    assert len(stored) == 1


def test_dcmtk_findscu_gets_the_evt_c_find_matches(scp: AE, tmp_path: pathlib.Path) -> None:
    queried: list[str] = []

    def handle_find(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        queried.append(event.identifier.QueryRetrieveLevel)
        for name in ("ONE^A", "TWO^B", "THREE^C"):
            if event.is_cancelled:
                yield 0xFE00, None
                return
            match = Dataset()
            match.QueryRetrieveLevel = "PATIENT"
            match.PatientName = name
            yield 0xFF00, match

    port = start(scp, [(evt.EVT_C_FIND, handle_find)])
    out = tmp_path / "rsp"
    out.mkdir()
    result = dcmtk(
        "findscu", "-P", "-aec", "EVSCP", "-k", "QueryRetrieveLevel=PATIENT", "-k",
        "PatientName=*", "-X", "-od", str(out), HOST, str(port),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = sorted(str(pydicom.dcmread(p).PatientName) for p in out.glob("rsp*.dcm"))
    assert names == ["ONE^A", "THREE^C", "TWO^B"]
    assert queried == ["PATIENT"]


def test_dcmtk_getscu_retrieves_through_evt_c_get(scp: AE, tmp_path: pathlib.Path) -> None:
    instances = [ct("GET^ONE"), ct("GET^TWO")]

    def handle_get(event: Any) -> Iterator[object]:
        matches = [ds for ds in instances if ds.PatientID == event.identifier.PatientID]
        yield len(matches)
        for ds in matches:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            yield 0xFF00, ds

    port = start(scp, [(evt.EVT_C_GET, handle_get)])
    out = tmp_path / "got"
    out.mkdir()
    result = dcmtk(
        "getscu", "-P", "-aec", "EVSCP", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=P1",
        "-od", str(out), HOST, str(port),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = sorted(str(pydicom.dcmread(p).PatientName) for p in out.iterdir())
    assert names == ["GET^ONE", "GET^TWO"]


def test_dcmtk_movescu_receives_through_evt_c_move(scp: AE, tmp_path: pathlib.Path) -> None:
    instances = [ct("MOVE^ONE"), ct("MOVE^TWO")]
    move_port = free_port()
    destinations: list[str] = []

    def handle_move(event: Any) -> Iterator[object]:
        destinations.append(event.move_destination)
        if event.move_destination != "MOVESCU":
            yield None, None  # unknown destination
            return
        yield HOST, move_port
        yield len(instances)
        for ds in instances:
            yield 0xFF00, ds

    port = start(scp, [(evt.EVT_C_MOVE, handle_move)])
    out = tmp_path / "moved"
    out.mkdir()
    common = ["-P", "-aec", "EVSCP", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=P1"]
    result = dcmtk(
        "movescu", *common, "-aet", "MOVESCU", "-aem", "MOVESCU", "+P", str(move_port),
        "-od", str(out), HOST, str(port),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = sorted(str(pydicom.dcmread(p).PatientName) for p in out.iterdir())
    assert names == ["MOVE^ONE", "MOVE^TWO"]
    unknown = dcmtk("movescu", *common, "-aem", "NOBODY", "-v", HOST, str(port))
    assert "Refused: MoveDestinationUnknown" in unknown.stderr, unknown.stderr  # 0xA801
    assert destinations == ["MOVESCU", "NOBODY"]


def test_a_pynetdicom_c_get_scp_stores_into_our_requestors_evt_c_store() -> None:
    """The SCU side: the C-STORE sub-operations of a C-GET from pynetdicom's
    SCP reach the EVT_C_STORE handler given to ``associate``; the handler
    given to the AE's callback is not used; EVT_DIMSE_RECV sees the C-STOREs."""
    from peers import pynetdicom_scp
    from pynetdicom import evt as pynetdicom_evt

    matches = [ct("GOT^ONE"), ct("GOT^TWO")]

    def their_get(event: Any) -> Iterator[object]:
        yield len(matches)
        for ds in matches:
            yield 0xFF00, ds

    stored: list[tuple[str, str]] = []
    received: list[int] = []

    def handle_store(event: Any) -> int:
        stored.append((str(event.dataset.PatientName), event.file_meta.TransferSyntaxUID))
        return 0x0000

    def handle_dimse(event: Any) -> None:
        received.append(event.message.command_field)

    ae = AE(ae_title="OURSCU")
    ae.add_requested_context(GET_PATIENT)
    ae.add_requested_context(CT, [ExplicitVRLittleEndian], scu_role=False, scp_role=True)
    ae.on_c_store = lambda dataset: 0xC000  # type: ignore[method-assign]
    handlers = [(pynetdicom_evt.EVT_C_GET, their_get)]
    with pynetdicom_scp("THEIRSCP", [GET_PATIENT], handlers, both_roles=[CT]) as port:
        assoc = ae.associate(
            HOST,
            port,
            ae_title="THEIRSCP",
            evt_handlers=[(evt.EVT_C_STORE, handle_store), (evt.EVT_DIMSE_RECV, handle_dimse)],
        )
        assert assoc.is_established
        query = Dataset()
        query.QueryRetrieveLevel = "PATIENT"
        query.PatientID = "P1"
        statuses = [int(status) for status, _ in assoc.send_c_get(query, GET_PATIENT)]
        assoc.release()
    assert statuses[-1] == 0x0000
    assert stored == [("GOT^ONE", ExplicitVRLittleEndian), ("GOT^TWO", ExplicitVRLittleEndian)]
    assert received.count(0x0001) == 2  # C-STORE-RQ (PS3.7 E.1)


#: pynetdicom's PDU class names, as dicomul's (:mod:`dicomul.pdu`).
PDU_NAMES = {
    "A_ASSOCIATE_RQ": "AssociateRQ",
    "A_ASSOCIATE_AC": "AssociateAC",
    "A_ASSOCIATE_RJ": "AssociateRJ",
    "P_DATA_TF": "PDataTF",
    "A_RELEASE_RQ": "ReleaseRQ",
    "A_RELEASE_RP": "ReleaseRP",
    "A_ABORT_RQ": "AbortRQ",
}


def _acceptor_report(serve: Any, evt_module: Any) -> tuple[list[tuple[str, ...]], bytes]:
    """What an acceptor's handlers are told while a pynetdicom requestor
    associates, echoes and releases: the PDUs and transitions in order, and
    the bytes received.  ``serve(handlers) -> (port, stop)`` starts it."""
    seen: list[tuple[str, ...]] = []
    received: list[bytes] = []
    idle = threading.Event()

    def note(event: Any) -> None:
        if event.event is evt_module.EVT_FSM_TRANSITION:
            step = (event.current_state, event.fsm_event, event.action, event.next_state)
            seen.append(("FSM", *step))
            if event.next_state == "Sta1":
                idle.set()
        elif event.event in (evt_module.EVT_PDU_RECV, evt_module.EVT_PDU_SENT):
            name = type(event.pdu).__name__
            seen.append((event.event.name, PDU_NAMES.get(name, name)))
        else:
            received.append(bytes(event.data))

    kinds = [evt_module.EVT_FSM_TRANSITION, evt_module.EVT_PDU_RECV, evt_module.EVT_PDU_SENT]
    port, stop = serve([(kind, note) for kind in [*kinds, evt_module.EVT_DATA_RECV]])
    try:
        peer = pynetdicom_scu("PYNETSCU", {VERIFICATION: None})
        assoc = peer.associate(HOST, port, ae_title="EVSCP")
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
        assert idle.wait(5)
    finally:
        stop()
    return seen, b"".join(received)


def test_the_scp_reports_the_association_set_up_as_pynetdicom_does(scp: AE) -> None:
    """The same pynetdicom requestor against a pynetdicom acceptor and ours:
    the acceptor's handlers are told of the same PDUs and the same PS3.8
    Table 9-10 transitions, in the same order, from the A-ASSOCIATE-RQ on
    (Sta1-AE-5-Sta2, Sta2-AE-6-Sta3, Sta3-AE-7-Sta6 included), and of the
    same bytes received."""
    import pynetdicom
    from pynetdicom import evt as pynetdicom_evt

    def pynetdicom_acceptor(handlers: list[Any]) -> tuple[int, Any]:
        ae = pynetdicom.AE(ae_title="EVSCP")
        ae.add_supported_context(VERIFICATION)
        port = free_port()
        server = ae.start_server((HOST, port), block=False, evt_handlers=handlers)
        return port, server.shutdown

    def ours(handlers: list[Any]) -> tuple[int, Any]:
        return start(scp, handlers), scp.stop

    reference, reference_bytes = _acceptor_report(pynetdicom_acceptor, pynetdicom_evt)
    report, report_bytes = _acceptor_report(ours, evt)

    def transitions(seen: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
        return [entry[1:] for entry in seen if entry[0] == "FSM"]

    def pdus(seen: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
        return [entry for entry in seen if entry[0] != "FSM"]

    assert transitions(report) == transitions(reference)
    assert transitions(report)[:3] == [
        ("Sta1", "Evt5", "AE-5", "Sta2"),
        ("Sta2", "Evt6", "AE-6", "Sta3"),
        ("Sta3", "Evt7", "AE-7", "Sta6"),
    ]
    assert pdus(report) == pdus(reference)
    assert pdus(report)[:2] == [("EVT_PDU_RECV", "AssociateRQ"), ("EVT_PDU_SENT", "AssociateAC")]
    assert report_bytes == reference_bytes  # the same requestor sent the same bytes
    # Each PDU received is reported after the transition into the state it arrives in.
    first_pdu = report.index(("EVT_PDU_RECV", "AssociateRQ"))
    assert report.index(("FSM", "Sta1", "Evt5", "AE-5", "Sta2")) < first_pdu
    assert first_pdu < report.index(("FSM", "Sta2", "Evt6", "AE-6", "Sta3"))
