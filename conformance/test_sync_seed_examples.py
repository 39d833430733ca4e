"""The seed document's Verification SCU example, run as written (import line
changed to dicomul_sync), against DCMTK's storescp and against peers that
refuse, reject or stay silent (../shared/seed/pynetdicom3-docs.txt)."""

from __future__ import annotations

import contextlib
import io
import logging
import pathlib
import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from dicomul_sync import AE
from peers import free_port, pynetdicom_scp, serving, storescp

CT = "1.2.840.10008.5.1.4.1.1.2"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"

SEED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "seed" / "pynetdicom3-docs.txt"


def seed_example(title: str, until: str) -> str:
    """The code of a seed example, from its first import to the next heading."""
    text = SEED.read_text()
    start = text.index(title)
    end = text.index(until, start)
    lines = text[start:end].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("from "))
    code = "\n".join(lines[first:])
    return code.replace("from pynetdicom3 import", "from dicomul_sync import")


VERIFICATION_SCU = seed_example("\nVerification SCU\n", "\nStorage SCU\n")


def run_example(code: str, port: int) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "seed-verification-scu", "exec"), {"addr": "127.0.0.1", "port": port})
    return out.getvalue()


def test_the_example_is_the_seeds_text() -> None:
    assert "ae = AE(scu_sop_class=['1.2.840.10008.1.1'])" in VERIFICATION_SCU
    assert "status = assoc.send_c_echo()" in VERIFICATION_SCU
    assert "from dicomul_sync import AE" in VERIFICATION_SCU


def test_verification_scu_against_dcmtk() -> None:
    with storescp() as port:
        out = run_example(VERIFICATION_SCU, port)
    assert out.splitlines() == [
        "Requesting Association with the peer",
        "Association accepted by the peer",
        "C-ECHO Response: 0x0000",
    ]


def test_verification_scu_rejected() -> None:
    with storescp("--refuse") as port:
        out = run_example(VERIFICATION_SCU, port)
    assert out.splitlines()[-1] == "Association was rejected by the peer"


def test_verification_scu_nobody_listening(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="dicomul"):
        out = run_example(VERIFICATION_SCU, free_port())
    assert out.splitlines()[-1] == "Received an A-ABORT from the peer during Association"
    assert "TCP Initialisation Error: (Connection refused)" in caplog.text


def test_acse_timeout_with_a_silent_peer() -> None:
    """A peer that accepts the TCP connection and never answers: the
    association is aborted after acse_timeout, not hung."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    ae = AE(scu_sop_class=["1.2.840.10008.1.1"])
    ae.acse_timeout = 0.5
    started = time.monotonic()
    assoc = ae.associate("127.0.0.1", listener.getsockname()[1])
    elapsed = time.monotonic() - started
    assert assoc.is_aborted
    assert not assoc.is_established
    assert 0.4 < elapsed < 5
    for sock in accepted:
        sock.close()
    listener.close()


def test_no_acceptable_context(caplog: pytest.LogCaptureFixture) -> None:
    ae = AE(scu_sop_class=["1.2.3.4.5.6"])
    with storescp() as port, caplog.at_level(logging.ERROR, logger="dicomul"):
        assoc = ae.associate("127.0.0.1", port)
        assert assoc.is_established
        assert assoc.send_c_echo() is None
        assoc.release()
    assert "No Acceptable Presentation Contexts" in caplog.text
    assert assoc.is_released


STORAGE_SCU = (
    seed_example("\nStorage SCU\n", "\nQuery/Retrieve - Find SCU\n")
    .replace(
        "from pynetdicom3 import StorageSOPClassList",
        "from dicomul_sync import StorageSOPClassList",
    )
    # The two slips of the seed text that DEVELOPERS.md names:
    .replace("from pydicom import read_file", "from pydicom import dcmread as read_file")
    .replace("assoc.send_c_echo(dataset)", "assoc.send_c_store(dataset)")
)


def ct_file(path: pathlib.Path, rows: int = 64) -> pathlib.Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = "SEED^STORE"
    ds.Modality = "CT"
    ds.Rows = ds.Columns = rows
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(256)) * (rows * rows * 2 // 256)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def test_storage_scu_example_against_dcmtk(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pydicom

    monkeypatch.chdir(tmp_path)
    sent = pydicom.dcmread(ct_file(tmp_path / "dcmfile"))
    received = tmp_path / "received"
    received.mkdir()
    with storescp("-od", str(received)) as port:
        out = run_example(STORAGE_SCU, port)
    assert "Association accepted by the peer" in out
    assert "C-STORE status: (0000,0002) Affected SOP Class UID" in out
    assert re.search(r"\(0000,0900\) Status +US: 0\n", out)
    (stored,) = received.iterdir()
    copy = pydicom.dcmread(stored)
    assert copy.SOPInstanceUID == sent.SOPInstanceUID
    assert copy.PixelData == sent.PixelData


def test_store_a_large_file_streamed_from_disk(tmp_path: pathlib.Path) -> None:
    """A 24 MiB file sent by path (read in chunks, never decoded) arrives
    with its data set byte for byte."""
    import pydicom

    path = ct_file(tmp_path / "big.dcm", rows=3500)
    assert path.stat().st_size > 20 * 1024 * 1024
    received = tmp_path / "received"
    received.mkdir()
    ae = AE(scu_sop_class=["1.2.840.10008.5.1.4.1.1.2"])
    with storescp("-od", str(received)) as port:
        assoc = ae.associate("127.0.0.1", port)
        assert assoc.is_established
        status = assoc.send_c_store(str(path))
        assoc.release()
    assert status is not None
    assert status.Status == 0
    (stored,) = received.iterdir()
    original, copy = pydicom.dcmread(path), pydicom.dcmread(stored)
    assert copy.SOPInstanceUID == original.SOPInstanceUID
    assert copy.PixelData == original.PixelData


FIND_SCU = seed_example("\nQuery/Retrieve - Find SCU\n", "\nSCP examples\n")


def pynetdicom_find_scp(names: list[str]) -> contextlib.AbstractContextManager[int]:
    """A pynetdicom Patient Root C-FIND SCP answering one match per name."""
    from pydicom.dataset import Dataset
    from pynetdicom import evt

    def handle_find(event: evt.Event) -> Iterator[tuple[int, Dataset]]:
        for name in names:
            match = Dataset()
            match.PatientName = name
            match.QueryRetrieveLevel = "PATIENT"
            yield 0xFF00, match

    return pynetdicom_scp("FINDSCP", [PATIENT_ROOT_FIND], [(evt.EVT_C_FIND, handle_find)])


def test_find_scu_example_against_pynetdicom() -> None:
    with pynetdicom_find_scp(["DOE^JOHN", "ROE^JANE"]) as port:
        out = run_example(FIND_SCU, port)
    assert "Association accepted by the peer" in out
    assert out.count("(0010,0010) Patient's Name") == 2
    assert "DOE^JOHN" in out
    assert "ROE^JANE" in out
    assert out.rstrip().endswith("C-FIND finished, releasing the association")


def test_find_statuses_compare_to_names_and_codes() -> None:
    from pydicom.dataset import Dataset

    query = Dataset()
    query.PatientName = "*"
    query.QueryRetrieveLevel = "PATIENT"
    ae = AE(scu_sop_class=["1.2.840.10008.5.1.4.1.2.1.1"])
    with pynetdicom_find_scp(["A^B"]) as port:
        assoc = ae.associate("127.0.0.1", port)
        responses = list(assoc.send_c_find(query, query_model="P"))
        assoc.release()
    (pending, pending_match), (final, final_match) = responses
    assert pending == "Pending"
    assert pending == 0xFF00
    assert pending_match is not None
    assert pending_match.PatientName == "A^B"
    assert final == "Success"
    assert final_match is None
    with pytest.raises(ValueError, match="query_model must be one of O, P, S, W"):
        next(assoc.send_c_find(query, query_model="X"))


def test_c_move_from_pynetdicom_to_our_own_scp(tmp_path: pathlib.Path) -> None:
    """C-MOVE: a pynetdicom Q/R SCP sends the matches to a dicomul_sync SCP
    (started here with a store directory); our SCU watches the progress."""
    import pydicom
    from pydicom.dataset import Dataset
    from pynetdicom import evt

    images = [pydicom.dcmread(ct_file(tmp_path / f"ct{n}.dcm")) for n in range(3)]
    store = AE(ae_title="DEST", scp_sop_class=["1.2.840.10008.5.1.4.1.1.2"])
    out = tmp_path / "moved"
    out.mkdir()
    store.store_directory = str(out)

    def handle_move(event: evt.Event) -> Iterator[object]:
        yield "127.0.0.1", store.port
        yield len(images)
        for image in images:
            yield 0xFF00, image

    move_model = "1.2.840.10008.5.1.4.1.2.1.2"
    handlers = [(evt.EVT_C_MOVE, handle_move)]
    with serving(store), pynetdicom_scp("QRSCP", [move_model], handlers, requested=[CT]) as port:
        query = Dataset()
        query.QueryRetrieveLevel = "PATIENT"
        query.PatientID = "*"
        assoc = AE(scu_sop_class=[move_model]).associate("127.0.0.1", port)
        statuses = [status for status, _ in assoc.send_c_move(query, "DEST", query_model="P")]
        final = assoc.last_response
        assoc.release()
    assert statuses[-1] == "Success"
    assert all(status == "Pending" for status in statuses[:-1])
    assert final is not None
    assert final.NumberOfCompletedSuboperations == 3
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{i.SOPInstanceUID}.dcm" for i in images
    )


def test_c_get_from_pynetdicom_stores_on_this_association(tmp_path: pathlib.Path) -> None:
    """C-GET: a pynetdicom Q/R SCP sends the matches back over the same
    association as C-STORE sub-operations; the SCU, proposing the SCP role
    for CT Image Storage (PS3.7 D.3.3.4), stores them durably."""
    import pydicom
    from pydicom.dataset import Dataset
    from pynetdicom import evt

    images = [pydicom.dcmread(ct_file(tmp_path / f"ct{n}.dcm")) for n in range(2)]

    def handle_get(event: evt.Event) -> Iterator[object]:
        yield len(images)
        for image in images:
            yield 0xFF00, image

    out = tmp_path / "got"
    out.mkdir()
    get_model = "1.2.840.10008.5.1.4.1.2.1.3"
    scu = AE(scu_sop_class=[get_model], scp_sop_class=[CT])
    scu.store_directory = str(out)
    handlers = [(evt.EVT_C_GET, handle_get)]
    with pynetdicom_scp("QRSCP", [get_model], handlers, both_roles=[CT]) as port:
        query = Dataset()
        query.QueryRetrieveLevel = "PATIENT"
        query.PatientID = "*"
        assoc = scu.associate("127.0.0.1", port)
        assert assoc.is_established
        statuses = [status for status, _ in assoc.send_c_get(query, query_model="P")]
        final = assoc.last_response
        assoc.release()
    assert statuses[-1] == "Success"
    assert final is not None
    assert final.NumberOfCompletedSuboperations == 2
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{i.SOPInstanceUID}.dcm" for i in images
    )


def test_c_cancel_stops_a_pynetdicom_find() -> None:
    from pydicom.dataset import Dataset
    from pynetdicom import evt

    def handle_find(event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        for n in range(1000):
            if event.is_cancelled:
                yield 0xFE00, None
                return
            match = Dataset()
            match.PatientName = f"P^{n}"
            yield 0xFF00, match
            time.sleep(0.001)  # the peer's pace; our side never sleeps

    handlers = [(evt.EVT_C_FIND, handle_find)]
    with pynetdicom_scp("FINDSCP", [PATIENT_ROOT_FIND], handlers) as port:
        query = Dataset()
        query.PatientName = "*"
        query.QueryRetrieveLevel = "PATIENT"
        assoc = AE(scu_sop_class=[PATIENT_ROOT_FIND]).associate("127.0.0.1", port)
        statuses = []
        for status, _ in assoc.send_c_find(query, query_model="P"):
            statuses.append(status)
            if len(statuses) == 3:
                assoc.send_c_cancel()
        assoc.release()
    assert statuses[-1] == "Cancel"
    assert len(statuses) < 1000


def test_the_scu_examples_against_our_own_scp(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Verification, Storage and Find SCU examples, each as written,
    against one dicomul_sync SCP serving all three."""
    from dicomul_sync import QueryRetrieveSOPClassList, StorageSOPClassList, VerificationSOPClass
    from pydicom.dataset import Dataset

    def on_c_find(identifier: Dataset) -> Iterator[Dataset]:
        for name in ("DOE^JOHN", "ROE^JANE"):
            match = Dataset()
            match.PatientName = name
            match.QueryRetrieveLevel = identifier.QueryRetrieveLevel
            yield match

    monkeypatch.chdir(tmp_path)
    ct_file(tmp_path / "dcmfile")
    received = tmp_path / "received"
    received.mkdir()
    scp = AE(
        ae_title="ANY-SCP",
        scp_sop_class=[VerificationSOPClass, *StorageSOPClassList, *QueryRetrieveSOPClassList],
    )
    scp.store_directory = str(received)
    scp.on_c_find = on_c_find  # type: ignore[method-assign]
    with serving(scp) as port:
        verification = run_example(VERIFICATION_SCU, port)
        storage = run_example(STORAGE_SCU, port)
        find = run_example(FIND_SCU, port)
    assert verification.splitlines()[-1] == "C-ECHO Response: 0x0000"
    assert re.search(r"\(0000,0900\) Status +US: 0\n", storage)
    assert len(list(received.glob("*.dcm"))) == 1
    assert find.count("(0010,0010) Patient's Name") == 2
    assert find.rstrip().endswith("C-FIND finished, releasing the association")


RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"


def non_image_file(path: pathlib.Path, sop_class: str) -> pathlib.Path:
    """A minimal RT Plan or Encapsulated PDF instance as a Part 10 file."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
    ds.PatientName, ds.PatientID = "SEED^NONIMAGE", "NI1"
    if sop_class == ENCAPSULATED_PDF:
        ds.Modality, ds.MIMETypeOfEncapsulatedDocument = "DOC", "application/pdf"
        ds.EncapsulatedDocument = b"%PDF-1.4\n%%EOF\n"
    else:
        ds.Modality, ds.RTPlanLabel = "RTPLAN", "PLAN1"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("sop_class", [RT_PLAN, ENCAPSULATED_PDF])
def test_storage_scu_example_sends_rt_plan_and_pdf_to_dcmtk(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, sop_class: str
) -> None:
    """StorageSOPClassList proposes at most 128 contexts (PS3.8 9.3.2.2);
    its order keeps RT and Encapsulated PDF among them."""
    import pydicom

    monkeypatch.chdir(tmp_path)
    sent = pydicom.dcmread(non_image_file(tmp_path / "dcmfile", sop_class))
    received = tmp_path / "received"
    received.mkdir()
    with storescp("-od", str(received)) as port:
        out = run_example(STORAGE_SCU, port)
    assert re.search(r"\(0000,0900\) Status +US: 0\n", out), out
    (stored,) = received.iterdir()
    assert pydicom.dcmread(stored).SOPInstanceUID == sent.SOPInstanceUID


def test_sending_a_class_not_proposed_says_so(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    plan = non_image_file(tmp_path / "plan.dcm", RT_PLAN)
    ae = AE(scu_sop_class=[CT])
    with storescp() as port, caplog.at_level(logging.ERROR, logger="dicomul"):
        assoc = ae.associate("127.0.0.1", port)
        assert assoc.send_c_store(str(plan)) is None
        assoc.release()
    assert (
        f"Cannot send C-STORE of RT Plan Storage ({RT_PLAN}): it was not proposed" in caplog.text
    )


def test_sending_a_class_the_peer_rejected_says_why(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    plan = non_image_file(tmp_path / "plan.dcm", RT_PLAN)
    ae = AE(scu_sop_class=[CT, RT_PLAN])
    with pynetdicom_scp("CTONLY", [CT], []) as port, caplog.at_level(logging.ERROR, "dicomul"):
        assoc = ae.associate("127.0.0.1", port)
        assert assoc.is_established
        assert assoc.send_c_store(str(plan)) is None
        assoc.release()
    assert (
        f"Cannot send C-STORE of RT Plan Storage ({RT_PLAN}): the peer rejected it: "
        "abstract syntax not supported" in caplog.text
    )
