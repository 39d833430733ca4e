"""dicomul_sync serving every DIMSE service: the DIMSE-N services, C-GET and
C-MOVE as SCP, and a C-STORE taken as a byte stream; against its own SCU,
DCMTK (getscu, movescu) and pynetdicom."""

from __future__ import annotations

import logging
import pathlib
import subprocess
import threading
from collections.abc import Iterator

import pydicom
import pytest
from dcmtk_tools import dcmtk_path
from dicomul_common.outgoing import read_part10_meta
from dicomul_sync import AE
from dicomul_sync._services import ServiceRequest
from peers import HOST, free_port, pynetdicom_scp, pynetdicom_scu, serving
from test_sync_seed_examples import ct_file

CT = "1.2.840.10008.5.1.4.1.1.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
#: Modality Performed Procedure Step (N-CREATE, N-SET) and Storage Commitment
#: Push Model (N-ACTION, N-EVENT-REPORT): PS3.4 F and J.
MPPS = "1.2.840.10008.3.1.2.3.3"
COMMITMENT = "1.2.840.10008.1.20.1"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"


def data_set_bytes(path: pathlib.Path) -> bytes:
    """A Part 10 file's data set, as stored (after the file meta group)."""
    _, offset = read_part10_meta(path)
    return path.read_bytes()[offset:]


def dcmtk(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    tool, *rest = args
    return subprocess.run(
        [dcmtk_path(tool), *rest], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def ct_files(tmp_path: pathlib.Path) -> list[pathlib.Path]:
    source = tmp_path / "source"
    source.mkdir()
    return [ct_file(source / f"ct{n}.dcm", rows=32 + 16 * n) for n in range(3)]


# ------------------------------------------------------------------- DIMSE-N


class NormalizedSCP:
    """Handlers for all six DIMSE-N services that record what they were asked."""

    def __init__(self) -> None:
        self.requests: list[ServiceRequest] = []

    def install(self, ae: AE) -> None:
        for name in ("event_report", "get", "set", "action", "create", "delete"):
            setattr(ae, f"on_n_{name}", getattr(self, name))

    def _reply(self, request: ServiceRequest, **values: object) -> tuple[int, pydicom.Dataset]:
        self.requests.append(request)
        reply = pydicom.Dataset()
        for keyword, value in values.items():
            setattr(reply, keyword, value)
        return 0x0000, reply

    def event_report(self, request: ServiceRequest) -> tuple[int, pydicom.Dataset]:
        return self._reply(request, TransactionUID="1.2.3.4")

    def get(self, request: ServiceRequest) -> tuple[int, pydicom.Dataset]:
        return self._reply(request, PatientName="N^GET", PatientID="NG1")

    def set(self, request: ServiceRequest) -> tuple[int, pydicom.Dataset]:
        assert request.dataset is not None
        return self._reply(request, PerformedProcedureStepStatus="COMPLETED")

    def action(self, request: ServiceRequest) -> tuple[int, pydicom.Dataset]:
        return self._reply(request, TransactionUID="1.2.3.5")

    def create(self, request: ServiceRequest) -> tuple[int, pydicom.Dataset]:
        return self._reply(request, PerformedProcedureStepStatus="IN PROGRESS")

    def delete(self, request: ServiceRequest) -> int:
        self.requests.append(request)
        return 0x0000


def test_every_n_service_between_our_scu_and_scp() -> None:
    recorder = NormalizedSCP()
    scp = AE(ae_title="NSCP", scp_sop_class=[MPPS, COMMITMENT])
    recorder.install(scp)
    scu = AE(ae_title="NSCU", scu_sop_class=[MPPS, COMMITMENT])
    attributes = pydicom.Dataset()
    attributes.PerformedProcedureStepStatus = "IN PROGRESS"
    with serving(scp) as port:
        assoc = scu.associate(HOST, port, "NSCP")
        assert assoc.is_established
        status, reply = assoc.send_n_create(attributes, MPPS)
        assert status is not None
        assert status.Status == 0x0000
        assigned = status.AffectedSOPInstanceUID  # PS3.7 10.1.5.1.4: the SCP assigned it
        assert reply is not None
        assert reply.PerformedProcedureStepStatus == "IN PROGRESS"
        status, reply = assoc.send_n_set(attributes, MPPS, assigned)
        assert status is not None
        assert status.Status == 0
        assert status.AffectedSOPInstanceUID == assigned
        assert reply is not None
        assert reply.PerformedProcedureStepStatus == "COMPLETED"
        status, reply = assoc.send_n_get([0x00100010, 0x00100020], MPPS, assigned)
        assert reply is not None
        assert (reply.PatientName, reply.PatientID) == ("N^GET", "NG1")
        status, reply = assoc.send_n_action(attributes, 1, COMMITMENT, "1.2.840.10008.1.20.1.1")
        assert status is not None
        assert status.ActionTypeID == 1
        assert reply is not None
        assert reply.TransactionUID == "1.2.3.5"
        status, reply = assoc.send_n_event_report(None, 2, COMMITMENT, "1.2.840.10008.1.20.1.1")
        assert status is not None
        assert status.EventTypeID == 2
        status, reply = assoc.send_n_delete(MPPS, assigned)
        assert status is not None
        assert status.Status == 0
        assert reply is None
        assoc.release()
    fields = [
        (r.command.command_field, r.sop_class_uid, r.sop_instance_uid) for r in recorder.requests
    ]
    assert fields == [
        (0x0140, MPPS, assigned),
        (0x0120, MPPS, assigned),
        (0x0110, MPPS, assigned),
        (0x0130, COMMITMENT, "1.2.840.10008.1.20.1.1"),
        (0x0100, COMMITMENT, "1.2.840.10008.1.20.1.1"),
        (0x0150, MPPS, assigned),
    ]
    assert recorder.requests[2].command.attribute_identifier_list == (0x00100010, 0x00100020)
    assert recorder.requests[0].calling_ae_title == "NSCU"


def test_unset_and_raising_n_handlers_answer_failures(caplog: pytest.LogCaptureFixture) -> None:
    scp = AE(scp_sop_class=[MPPS])

    def broken(request: ServiceRequest) -> int:
        raise RuntimeError("database down")

    scp.on_n_set = broken  # type: ignore[method-assign]
    scu = AE(scu_sop_class=[MPPS])
    with caplog.at_level(logging.INFO, logger="dicomul"), serving(scp) as port:
        assoc = scu.associate(HOST, port)
        status, _ = assoc.send_n_delete(MPPS, "1.2.3")
        assert status is not None
        assert status.Status == 0x0211
        status, _ = assoc.send_n_set(pydicom.Dataset(), MPPS, "1.2.3")
        assert status is not None
        assert status.Status == 0x0110
        status, _ = assoc.send_n_create(pydicom.Dataset(), MPPS)  # unset: 0x0211 ...
        assert status is not None
        assert status.Status == 0x0211
        assert "AffectedSOPInstanceUID" not in status  # ... and no instance was created
        status, _ = assoc.send_n_create(pydicom.Dataset(), MPPS, "1.2.3.98")
        assert status is not None
        assert status.Status == 0x0211
        assert "AffectedSOPInstanceUID" not in status  # not even the one proposed
        status, _ = assoc.send_n_delete(MPPS, "1.2.3")  # the association goes on
        assert status is not None
        assert status.Status == 0x0211
        assoc.release()
        assert assoc.is_released
    assert "database down" in caplog.text


def test_n_services_against_pynetdicom_both_ways() -> None:
    from pynetdicom import evt

    def on_n_get(event: object) -> tuple[int, pydicom.Dataset]:
        reply = pydicom.Dataset()
        reply.PatientName = "PYNET^GET"
        return 0x0000, reply

    def on_n_action(event: object) -> tuple[int, pydicom.Dataset]:
        reply = pydicom.Dataset()
        reply.TransactionUID = event.action_information.TransactionUID  # type: ignore[attr-defined]
        return 0x0000, reply

    handlers = [(evt.EVT_N_GET, on_n_get), (evt.EVT_N_ACTION, on_n_action)]
    with pynetdicom_scp("PYNSCP", [MPPS, COMMITMENT], handlers) as port:
        assoc = AE(scu_sop_class=[MPPS, COMMITMENT]).associate(HOST, port, "PYNSCP")
        status, reply = assoc.send_n_get([0x00100010], MPPS, "1.2.3.4")
        assert status is not None
        assert status.Status == 0
        assert reply is not None
        assert reply.PatientName == "PYNET^GET"
        info = pydicom.Dataset()
        info.TransactionUID = "1.2.826.0.1.3680043.2.1545.1"
        status, reply = assoc.send_n_action(info, 1, COMMITMENT, "1.2.840.10008.1.20.1.1")
        assert reply is not None
        assert reply.TransactionUID == info.TransactionUID
        assoc.release()

    recorder = NormalizedSCP()
    scp = AE(scp_sop_class=[MPPS])
    recorder.install(scp)
    with serving(scp) as port:
        peer = pynetdicom_scu("PYNSCU", {MPPS: None})
        assoc = peer.associate(HOST, port)
        attributes = pydicom.Dataset()
        attributes.PerformedProcedureStepStatus = "IN PROGRESS"
        status, reply = assoc.send_n_create(attributes, MPPS, "1.2.3.99")
        assert status.Status == 0
        assert reply.PerformedProcedureStepStatus == "IN PROGRESS"
        status, reply = assoc.send_n_set(attributes, MPPS, "1.2.3.99")
        assert status.Status == 0
        assert reply.PerformedProcedureStepStatus == "COMPLETED"
        assoc.release()
    assert [r.sop_instance_uid for r in recorder.requests] == ["1.2.3.99", "1.2.3.99"]
    assert recorder.requests[1].dataset is not None
    assert recorder.requests[1].dataset.PerformedProcedureStepStatus == "IN PROGRESS"


# ---------------------------------------------------------------- C-GET, C-MOVE


def retrieve_scp(files: list[pathlib.Path]) -> tuple[AE, list[pydicom.Dataset]]:
    """A Q/R SCP whose C-GET and C-MOVE match ``files`` for PatientID 'ALL'.

    It prefers Implicit VR Little Endian (the AE default), so a C-GET of these
    Explicit VR files re-encodes them unless the requestor offers only theirs.
    """
    identifiers: list[pydicom.Dataset] = []

    def matches(identifier: pydicom.Dataset, *_: object) -> Iterator[pathlib.Path]:
        identifiers.append(identifier)
        if identifier.PatientID == "ALL":
            yield from files

    ae = AE(
        ae_title="QRSCP",
        scp_sop_class=[PATIENT_ROOT_GET, PATIENT_ROOT_MOVE],
        scu_sop_class=[CT],
    )
    ae.on_c_get = matches  # type: ignore[method-assign]
    ae.on_c_move = matches  # type: ignore[method-assign]
    return ae, identifiers


def query(patient_id: str) -> pydicom.Dataset:
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "PATIENT"
    identifier.PatientID = patient_id
    return identifier


def assert_same_files(
    received: pathlib.Path, sent: list[pathlib.Path], *, as_is: bool = True
) -> None:
    """Each sent file arrived: byte for byte, or (not ``as_is``: re-encoded
    into another native transfer syntax) element for element."""
    stored = {p.name: p for p in received.iterdir() if not p.name.startswith(".")}
    assert len(stored) == len(sent), sorted(stored)
    for path in sent:
        meta, _ = read_part10_meta(path)
        uid = str(meta.MediaStorageSOPInstanceUID)
        match = next(p for name, p in stored.items() if uid in name)
        if as_is:
            assert data_set_bytes(match) == data_set_bytes(path)
        else:
            assert pydicom.dcmread(match) == pydicom.dcmread(path)


def test_dcmtk_getscu_retrieves_from_our_scp(
    ct_files: list[pathlib.Path], tmp_path: pathlib.Path
) -> None:
    ae, identifiers = retrieve_scp(ct_files)
    ae.transfer_syntax = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]  # the files' own first
    out = tmp_path / "got"
    out.mkdir()
    with serving(ae) as port:
        done = dcmtk(
            "getscu", "-aec", "QRSCP", "-P", "-k", "QueryRetrieveLevel=PATIENT",
            "-k", "PatientID=ALL", "-od", str(out), HOST, str(port),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    assert identifiers[0].PatientID == "ALL"
    assert_same_files(out, ct_files)


def test_our_c_get_with_a_cancel(ct_files: list[pathlib.Path], tmp_path: pathlib.Path) -> None:
    many = ct_files * 3  # the same instances again: 9 sub-operations
    scp, _ = retrieve_scp(many)
    out = tmp_path / "got"
    out.mkdir()
    scu = AE(scu_sop_class=[PATIENT_ROOT_GET], scp_sop_class=[CT])
    scu.store_directory = str(out)
    with serving(scp) as port:
        assoc = scu.associate(HOST, port, "QRSCP")
        responses = []
        for status, _ in assoc.send_c_get(query("ALL")):
            responses.append((int(status), assoc.last_response))
            if status == "Pending" and len(responses) == 1:
                assoc.send_c_cancel()
        assoc.release()
    final_status, final = responses[-1]
    assert final_status == 0xFE00  # PS3.4 C.4.3.1.4: Cancel
    assert final is not None
    completed = final.NumberOfCompletedSuboperations
    assert 1 <= completed <= 2  # the cancel lands before the third sub-operation
    assert final.NumberOfRemainingSuboperations == len(many) - completed
    assert [s for s, _ in responses[:-1]] == [0xFF00] * (len(responses) - 1)

    # Uncancelled: every instance arrives, Success with the counts.
    with serving(scp) as port:
        assoc = scu.associate(HOST, port, "QRSCP")
        statuses = [int(status) for status, _ in assoc.send_c_get(query("ALL"))]
        assert assoc.last_response is not None
        assert assoc.last_response.NumberOfCompletedSuboperations == len(many)
        assoc.release()
    assert statuses == [0xFF00] * (len(many) - 1) + [0x0000]
    assert_same_files(out, ct_files, as_is=False)


def test_dcmtk_movescu_moves_through_our_scp(
    ct_files: list[pathlib.Path], tmp_path: pathlib.Path
) -> None:
    ae, _ = retrieve_scp(ct_files)
    out = tmp_path / "moved"
    out.mkdir()
    store_port = free_port()
    ae.move_destinations = {"MOVESCU": (HOST, store_port)}
    with serving(ae) as port:
        done = dcmtk(
            "movescu", "-aec", "QRSCP", "-aet", "MOVESCU", "-aem", "MOVESCU",
            "--port", str(store_port), "-P", "-k", "QueryRetrieveLevel=PATIENT",
            "-k", "PatientID=ALL", "-od", str(out), HOST, str(port),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout
        unknown = dcmtk(
            "movescu", "-v", "-aec", "QRSCP", "-aem", "NOWHERE", "-P",
            "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=ALL", HOST, str(port),
        )  # fmt: skip
    assert_same_files(out, ct_files)
    assert "Refused: MoveDestinationUnknown" in unknown.stdout + unknown.stderr


def test_c_move_between_our_aes_carries_the_originator(
    ct_files: list[pathlib.Path], tmp_path: pathlib.Path
) -> None:
    """SCU -> Q/R SCP -> storage SCP, all dicomul_sync; a compressed (RLE)
    file goes as it is, on a context of its own."""
    from pydicom.uid import RLELossless, generate_uid

    rle = tmp_path / "rle.dcm"
    source = pydicom.dcmread(ct_files[0])
    source.compress(RLELossless)
    source.SOPInstanceUID = source.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    source.save_as(rle, enforce_file_format=True)
    files = [*ct_files, rle]
    scp, _ = retrieve_scp(files)
    received: dict[str, bytes] = {}
    originators: list[tuple[str | None, int | None]] = []

    class Collect:
        def __init__(self, request: ServiceRequest) -> None:
            self.request = request
            self.parts: list[bytes] = []

        def write(self, data: bytes | memoryview) -> None:
            self.parts.append(bytes(data))

        def commit(self) -> int:
            command = self.request.command
            received[self.request.sop_instance_uid or ""] = b"".join(self.parts)
            originators.append(
                (
                    command.move_originator_application_entity_title,
                    command.move_originator_message_id,
                )
            )
            return 0x0000

        def discard(self) -> None:
            raise AssertionError("nothing should be discarded")

    store = AE(
        ae_title="STORE",
        scp_sop_class=[CT],
        transfer_syntax=[RLE_LOSSLESS, "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"],
    )
    store.on_c_store_stream = Collect
    with serving(store) as store_port, serving(scp) as port:
        scp.move_destinations = {"STORE": (HOST, store_port)}
        scu = AE(ae_title="MOVER", scu_sop_class=[PATIENT_ROOT_MOVE])
        assoc = scu.associate(HOST, port, "QRSCP")
        statuses = [int(s) for s, _ in assoc.send_c_move(query("ALL"), "STORE", msg_id=77)]
        unknown = [int(s) for s, _ in assoc.send_c_move(query("ALL"), "ELSEWHERE")]
        assoc.release()
    assert statuses == [0xFF00] * (len(files) - 1) + [0x0000]
    assert unknown == [0xA801]
    assert originators == [("MOVER", 77)] * len(files)
    for path in files:
        meta, _ = read_part10_meta(path)
        assert received[str(meta.MediaStorageSOPInstanceUID)] == data_set_bytes(path), path


def test_c_move_needing_over_128_contexts_uses_several_associations(
    tmp_path: pathlib.Path,
) -> None:
    """65 storage classes in Implicit and Explicit VR: 130 contexts for the
    matches' own syntaxes, so the sub-operations go over two associations
    one after the other (PS3.4 C.4.2.3.1, PS3.8 9.3.2.2), all as they are."""
    from corpus import image, write
    from dicomul_sync import StorageSOPClassList
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    classes = list(StorageSOPClassList)[:65]
    files = []
    for n, sop_class in enumerate(classes):
        for syntax in (ImplicitVRLittleEndian, ExplicitVRLittleEndian):
            ds = image(sop_class=sop_class, rows=4, columns=4, seed=n)
            files.append(write(ds, tmp_path / f"{n:03d}-{syntax}.dcm", syntax))
    scp, _ = retrieve_scp(files)
    moved = tmp_path / "moved"
    moved.mkdir()
    accepted: list[int] = []
    destination = AE(ae_title="DEST", scp_sop_class=classes)
    destination.store_directory = str(moved)
    destination.on_association_accepted = (  # type: ignore[method-assign]
        lambda negotiated: accepted.append(len(negotiated.contexts))
    )
    with serving(destination) as dest_port, serving(scp) as port:
        scp.move_destinations = {"DEST": (HOST, dest_port)}
        assoc = AE(scu_sop_class=[PATIENT_ROOT_MOVE]).associate(HOST, port, "QRSCP")
        responses = list(assoc.send_c_move(query("ALL"), "DEST"))
        final = assoc.last_response
        assoc.release()
    assert [int(status) for status, _ in responses] == [0xFF00] * 129 + [0x0000]
    assert final is not None
    assert final.NumberOfCompletedSuboperations == 130
    # Each class: its two own syntaxes and the fallback, 195 contexts; the
    # class split across the two associations needs its fallback in both.
    assert accepted == [128, 68]
    assert_same_files(moved, files)


def test_c_move_to_an_unreachable_destination_lists_every_failure(
    ct_files: list[pathlib.Path],
) -> None:
    """A known destination nobody listens at: each sub-operation failed, and
    the final response (0xA702) counts and lists them, as dcmqrscp answers
    (before: a bare 0xA702 with no counts)."""
    from peers import free_port

    scp, _ = retrieve_scp(ct_files)
    with serving(scp) as port:
        scp.move_destinations = {"NOBODY": (HOST, free_port())}
        assoc = AE(scu_sop_class=[PATIENT_ROOT_MOVE]).associate(HOST, port, "QRSCP")
        responses = list(assoc.send_c_move(query("ALL"), "NOBODY"))
        final = assoc.last_response
        assoc.release()
    status, identifier = responses[-1]
    assert int(status) == 0xA702
    assert final is not None
    assert final.NumberOfFailedSuboperations == len(ct_files)
    assert final.NumberOfCompletedSuboperations == 0
    assert identifier is not None
    expected = sorted(str(read_part10_meta(p)[0].MediaStorageSOPInstanceUID) for p in ct_files)
    assert sorted(identifier.FailedSOPInstanceUIDList) == expected


def test_failed_sub_operations_are_listed(
    ct_files: list[pathlib.Path], tmp_path: pathlib.Path
) -> None:
    """A destination that refuses some instances: 0xB000 with the failed UIDs."""
    scp, _ = retrieve_scp(ct_files)
    refused = str(read_part10_meta(ct_files[1])[0].MediaStorageSOPInstanceUID)
    store = AE(ae_title="STORE", scp_sop_class=[CT])

    def on_c_store(dataset: pydicom.Dataset) -> int:
        return 0xA700 if dataset.SOPInstanceUID == refused else 0x0000

    store.on_c_store = on_c_store  # type: ignore[method-assign]
    with serving(store) as store_port, serving(scp) as port:
        scp.move_destinations = {"STORE": (HOST, store_port)}
        assoc = AE(scu_sop_class=[PATIENT_ROOT_MOVE]).associate(HOST, port, "QRSCP")
        responses = list(assoc.send_c_move(query("ALL"), "STORE"))
        assoc.release()
    status, identifier = responses[-1]
    assert int(status) == 0xB000
    assert identifier is not None
    assert identifier.FailedSOPInstanceUIDList == refused  # one value (VM 1-n)
    assert assoc.last_response is not None
    assert assoc.last_response.NumberOfFailedSuboperations == 1
    assert assoc.last_response.NumberOfCompletedSuboperations == 2


# ------------------------------------------------------------ C-STORE streams


def test_store_stream_gets_the_bytes_and_a_failing_sink_loses_nothing(
    tmp_path: pathlib.Path,
) -> None:
    path = ct_file(tmp_path / "ct.dcm", rows=512)  # 512 KiB: many PDUs
    chunks: list[int] = []
    kept: list[bytes] = []
    discarded = threading.Event()

    class Sink:
        def __init__(self, request: ServiceRequest) -> None:
            assert request.transfer_syntax == "1.2.840.10008.1.2.1"
            assert request.dataset is None  # never decoded
            self.parts: list[bytes] = []
            self.fail = request.command.message_id == 2

        def write(self, data: bytes | memoryview) -> None:
            if self.fail:
                raise OSError(28, "No space left on device")
            chunks.append(len(data))
            self.parts.append(bytes(data))

        def commit(self) -> None:
            kept.append(b"".join(self.parts))

        def discard(self) -> None:
            discarded.set()

    scp = AE(scp_sop_class=[CT], transfer_syntax=["1.2.840.10008.1.2.1"])
    scp.on_c_store_stream = Sink
    with serving(scp) as port:
        assoc = AE(scu_sop_class=[CT]).associate(HOST, port)
        first = assoc.send_c_store(path, msg_id=1)
        second = assoc.send_c_store(path, msg_id=2)
        assoc.release()
    assert first is not None
    assert first.Status == 0x0000
    assert second is not None
    assert second.Status == 0xA700
    assert discarded.is_set()
    assert kept == [data_set_bytes(path)]
    assert len(chunks) > 1  # fragments as they came, not one buffered whole


def test_pynetdicom_scu_gets_and_moves_from_our_scp(
    ct_files: list[pathlib.Path], tmp_path: pathlib.Path
) -> None:
    """pynetdicom as the Q/R SCU: C-GET (SCP role for CT storage, its
    EVT_C_STORE handler receiving) and C-MOVE to one of our own SCPs."""
    from pynetdicom import build_role, evt

    scp, _ = retrieve_scp(ct_files)
    scp.transfer_syntax = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]
    received: list[str] = []

    def on_store(event: object) -> int:
        received.append(event.dataset.SOPInstanceUID)  # type: ignore[attr-defined]
        return 0x0000

    moved = tmp_path / "moved"
    moved.mkdir()
    destination = AE(ae_title="DEST", scp_sop_class=[CT])
    destination.store_directory = str(moved)
    with serving(destination) as dest_port, serving(scp) as port:
        scp.move_destinations = {"DEST": (HOST, dest_port)}
        peer = pynetdicom_scu(
            "PYNETGET", {PATIENT_ROOT_GET: None, PATIENT_ROOT_MOVE: None, CT: None}
        )
        assoc = peer.associate(
            HOST,
            port,
            ae_title="QRSCP",
            ext_neg=[build_role(CT, scp_role=True)],
            evt_handlers=[(evt.EVT_C_STORE, on_store)],
        )
        assert assoc.is_established
        gets = [
            int(status.Status) for status, _ in assoc.send_c_get(query("ALL"), PATIENT_ROOT_GET)
        ]
        moves = [
            int(status.Status)
            for status, _ in assoc.send_c_move(query("ALL"), "DEST", PATIENT_ROOT_MOVE)
        ]
        assoc.release()
    expected = [str(pydicom.dcmread(path).SOPInstanceUID) for path in ct_files]
    assert gets == [0xFF00] * 2 + [0x0000]
    assert sorted(received) == sorted(expected)
    assert moves == [0xFF00] * 2 + [0x0000]
    assert_same_files(moved, ct_files, as_is=False)


def test_a_retrieve_handler_refuses_with_a_status_pair(
    ct_files: list[pathlib.Path], tmp_path: pathlib.Path
) -> None:
    """An ``on_c_get`` or ``on_c_move`` that yields a (status, None) pair,
    as ``on_c_find`` does, ends the request with that status before any
    sub-operation (qrscp refuses identifiers without their unique keys so,
    0xA900); the association goes on."""

    def refuse(identifier: pydicom.Dataset, *_: object) -> Iterator[object]:
        if identifier.PatientID != "ALL":
            yield 0xA900, None
            return
        yield from ct_files

    scp, _ = retrieve_scp(ct_files)
    scp.on_c_get = refuse  # type: ignore[method-assign]
    scp.on_c_move = refuse  # type: ignore[method-assign]
    moved = tmp_path / "moved"
    moved.mkdir()
    destination = AE(ae_title="DEST", scp_sop_class=[CT])
    destination.store_directory = str(moved)
    scu = AE(scu_sop_class=[PATIENT_ROOT_GET, PATIENT_ROOT_MOVE], scp_sop_class=[CT])
    scu.store_directory = str(tmp_path)
    with serving(destination) as dest_port, serving(scp) as port:
        scp.move_destinations = {"DEST": (HOST, dest_port)}
        assoc = scu.associate(HOST, port, ae_title="QRSCP")
        get = [int(status) for status, _ in assoc.send_c_get(query(""))]
        move = [int(status) for status, _ in assoc.send_c_move(query(""), "DEST")]
        after = [int(status) for status, _ in assoc.send_c_get(query("ALL"))]
        assoc.release()
    assert (get, move) == ([0xA900], [0xA900])
    assert list(moved.iterdir()) == []
    assert after[-1] == 0x0000
    assert len([p for p in tmp_path.iterdir() if p.suffix == ".dcm"]) == len(ct_files)
