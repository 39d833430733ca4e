"""dicomul_sync's SCP (AE.start) against DCMTK's echoscu and storescu, and
against its own SCU: echo, store, a raising handler, the association limit,
AE title matching, and stop()."""

from __future__ import annotations

import logging
import pathlib
import socket
import subprocess
import time
from collections.abc import Iterator

import pydicom
import pytest
from dcmtk_tools import dcmtk_path
from dicomul_sync import AE
from peers import free_port, serving, wait_listening
from test_sync_seed_examples import ct_file

from dicomul.testing import split_pdus

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"


def dcmtk(*args: str) -> subprocess.CompletedProcess[str]:
    tool, *rest = args
    return subprocess.run(
        [dcmtk_path(tool), *rest], capture_output=True, text=True, timeout=30, check=False
    )


def test_dcmtk_echoscu(caplog: pytest.LogCaptureFixture) -> None:
    ae = AE(ae_title="ECHOSCP", scp_sop_class=[VERIFICATION])
    # caplog outermost: the server's threads are joined before capture stops.
    with caplog.at_level(logging.INFO, logger="dicomul"), serving(ae) as port:
        done = dcmtk("echoscu", "127.0.0.1", str(port))
    assert done.returncode == 0, done.stderr
    for line in (
        "Association Received",
        "Association Acknowledged",
        "Received Echo Request (MsgID 1)",
        "Association Released",
    ):
        assert line in caplog.text


def test_dcmtk_storescu_and_a_raising_handler(tmp_path: pathlib.Path) -> None:
    received: list[pydicom.Dataset] = []
    fail_next = [True]

    def on_c_store(dataset: pydicom.Dataset) -> int:
        if fail_next[0]:
            fail_next[0] = False
            raise RuntimeError("disk on fire")
        received.append(dataset)
        return 0x0000

    ae = AE(scp_sop_class=[VERIFICATION, CT])
    ae.on_c_store = on_c_store  # type: ignore[method-assign]
    path = ct_file(tmp_path / "ct.dcm")
    with serving(ae) as port:
        first = dcmtk("storescu", "127.0.0.1", str(port), str(path))
        second = dcmtk("storescu", "127.0.0.1", str(port), str(path))
        echo = dcmtk("echoscu", "127.0.0.1", str(port))
    assert "0xc000" in (first.stdout + first.stderr).lower() or first.returncode != 0
    assert second.returncode == 0, second.stderr
    assert echo.returncode == 0  # the server went on after the handler raised
    (dataset,) = received
    assert dataset.PixelData == pydicom.dcmread(path).PixelData


def test_association_limit_and_title_matching() -> None:
    ae = AE(ae_title="STORESCP", scp_sop_class=[VERIFICATION])
    ae.maximum_associations = 1
    ae.require_called_aet = "STORESCP"
    scu = AE(scu_sop_class=[VERIFICATION])
    with serving(ae) as port:
        wrong = scu.associate("127.0.0.1", port, ae_title="SOMEONE")
        assert wrong.is_rejected
        assert wrong.rejection is not None
        assert wrong.rejection.reason_text == "called-AE-title-not-recognized"
        held = scu.associate("127.0.0.1", port, ae_title="STORESCP")
        assert held.is_established
        refused = scu.associate("127.0.0.1", port, ae_title="STORESCP")
        assert refused.is_rejected
        assert refused.rejection is not None
        assert refused.rejection.reason_text == "local-limit-exceeded"
        status = held.send_c_echo()
        assert status is not None
        assert status.Status == 0
        held.release()
        assert held.is_released
        again = scu.associate("127.0.0.1", port, ae_title="STORESCP")
        assert again.is_established
        again.release()


def test_durable_store_to_directory_byte_for_byte(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "store"
    out.mkdir()
    stored: list[pathlib.Path] = []
    ae = AE(scp_sop_class=[CT])
    ae.store_directory = str(out)
    ae.on_c_stored = stored.append  # type: ignore[method-assign]
    path = ct_file(tmp_path / "ct.dcm", rows=512)
    with serving(ae) as port:
        done = dcmtk("storescu", "-xe", "127.0.0.1", str(port), str(path))
    assert done.returncode == 0, done.stderr
    (written,) = stored
    assert list(out.iterdir()) == [written]  # no temporary file left behind
    original, copy = path.read_bytes(), written.read_bytes()
    # The data set after the meta group is the sender's, byte for byte.
    assert (
        copy[144 + int.from_bytes(copy[140:144], "little") :]
        == original[144 + int.from_bytes(original[140:144], "little") :]
    )
    assert pydicom.dcmread(written).SOPInstanceUID == pydicom.dcmread(path).SOPInstanceUID


def test_store_failure_answers_out_of_resources_and_leaves_nothing(
    tmp_path: pathlib.Path,
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_bytes(b"")
    ae = AE(scp_sop_class=[VERIFICATION, CT])
    ae.store_directory = str(not_a_directory)
    path = ct_file(tmp_path / "ct.dcm")
    with serving(ae) as port:
        failed = dcmtk("storescu", "127.0.0.1", str(port), str(path))
        echo = dcmtk("echoscu", "127.0.0.1", str(port))
    assert "0xa700" in (failed.stdout + failed.stderr).lower() or failed.returncode != 0
    assert echo.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.dcm", "file"]


def test_peer_vanishing_mid_store_leaves_no_file(tmp_path: pathlib.Path) -> None:
    """The SCU sends the command and half the data set, then drops the
    connection: no file appears, and the server serves the next peer."""
    from dicomul import (
        AssociationRequest,
        Command,
        CommandField,
        Connection,
        RequestAssociation,
        Role,
        propose_contexts,
    )

    out = tmp_path / "store"
    out.mkdir()
    ae = AE(scp_sop_class=[VERIFICATION, CT])
    ae.store_directory = str(out)
    with serving(ae) as port:
        conn = Connection(Role.REQUESTOR)
        conn.send(RequestAssociation(request=AssociationRequest(
            calling_ae_title="VANISH", called_ae_title="ANY",
            contexts=propose_contexts([CT], ["1.2.840.10008.1.2"]),
        )))  # fmt: skip
        sock = socket.create_connection(("127.0.0.1", port))
        conn.transport_connected()
        sock.sendall(conn.data_to_send())
        while conn.negotiated is None:
            conn.receive_data(sock.recv(65536))
            conn.next_event()
        store = Command(
            command_field=CommandField.C_STORE_RQ,
            message_id=1,
            affected_sop_class_uid=CT,
            affected_sop_instance_uid="1.2.3.4",
            priority=0,
            command_data_set_type=0,
        )
        conn.send_message(1, store, bytes(200_000))
        for pdu in split_pdus(conn.data_to_send())[:5]:
            sock.sendall(pdu)
        sock.close()
        echo = dcmtk("echoscu", "127.0.0.1", str(port))
    # Leaving `serving` joined every association's thread: the vanished one is done.
    assert echo.returncode == 0
    assert list(out.iterdir()) == []


def test_hostile_instance_uid_is_not_a_file_name(tmp_path: pathlib.Path) -> None:
    from dicomul_common.storage import file_name_for

    assert file_name_for("1.2.3") == "1.2.3.dcm"
    for hostile in ("../../etc/passwd", "1.2/3", "", "1." * 40):
        with pytest.raises(ValueError, match="not a UID"):
            file_name_for(hostile)


def test_a_hostile_instance_uid_is_refused_in_one_log_line(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A C-STORE whose SOP Instance UID is a path: 0xC000, nothing written,
    and one E: line (before: a traceback in the log for the peer's data)."""
    from peers import RawPeer

    out = tmp_path / "out"
    out.mkdir()
    ae = AE(scp_sop_class=[VERIFICATION, CT])
    ae.store_directory = str(out)
    with caplog.at_level(logging.INFO, logger="dicomul"), serving(ae) as port:
        peer = RawPeer(port)
        peer.associate()
        response = peer.store("../evil", bytes(64))
        peer.sock.close()
    assert response.command.status == 0xC000  # type: ignore[attr-defined]
    assert list(out.iterdir()) == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "cannot receive the data set: '../evil' is not a UID; refusing it as a file name; "
        "answering 0xC000"
    ]
    assert errors[0].exc_info is None


def test_hostile_peers_do_not_stop_the_server() -> None:
    """An idle connection, a byte-at-a-time sender and a 4 GiB length
    announcement, all at once: DCMTK's echoscu is still served, and the
    oversized one is aborted at its header."""
    import struct

    from dicomul import pdu

    ae = AE(scp_sop_class=[VERIFICATION])
    with serving(ae) as port:
        idle = socket.create_connection(("127.0.0.1", port))
        trickle = socket.create_connection(("127.0.0.1", port))
        trickle.sendall(b"\x01\x00")  # the start of an A-ASSOCIATE-RQ, then nothing more
        huge = socket.create_connection(("127.0.0.1", port))
        huge.sendall(struct.pack(">BBL", 1, 0, 0xFFFFFFFF))
        huge.settimeout(10)
        answer = huge.recv(100)
        echo = dcmtk("echoscu", "127.0.0.1", str(port))
        for sock in (idle, trickle, huge):
            sock.close()
    assert echo.returncode == 0, echo.stderr
    # Sta2 + a PDU the framer refuses: AA-1, an A-ABORT (PS3.8 Table 9-10, Evt19)
    assert isinstance(pdu.decode(answer), pdu.AbortRQ)


def test_association_notifications() -> None:
    seen: list[str] = []
    ae = AE(scp_sop_class=[VERIFICATION])
    ae.on_association_accepted = lambda n: seen.append(f"accepted {n.calling_ae_title}")  # type: ignore[method-assign]
    ae.on_association_released = lambda n: seen.append("released")  # type: ignore[method-assign]
    ae.on_association_aborted = lambda n: seen.append("aborted")  # type: ignore[method-assign]
    with serving(ae) as port:
        assert dcmtk("echoscu", "-aet", "NOTIFY", "127.0.0.1", str(port)).returncode == 0
        assert dcmtk("echoscu", "--abort", "127.0.0.1", str(port)).returncode == 0
    assert seen == ["accepted NOTIFY", "released", "accepted ECHOSCU", "aborted"]


PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"


def patients(identifier: pydicom.Dataset) -> Iterator[pydicom.Dataset]:
    for name in ("DOE^JOHN", "ROE^JANE"):
        match = pydicom.Dataset()
        match.PatientName = name
        match.QueryRetrieveLevel = "PATIENT"
        yield match


def test_dcmtk_findscu_against_our_find_scp() -> None:
    ae = AE(scp_sop_class=[PATIENT_ROOT_FIND])
    ae.on_c_find = patients  # type: ignore[method-assign]
    with serving(ae) as port:
        done = dcmtk(
            "findscu", "-v", "-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientName=",
            "127.0.0.1", str(port),
        )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "DOE^JOHN" in output
    assert "ROE^JANE" in output


def test_our_scu_cancels_our_find_scp() -> None:
    def endless(identifier: pydicom.Dataset) -> Iterator[pydicom.Dataset]:
        n = 0
        while True:
            match = pydicom.Dataset()
            match.PatientName = f"P^{n}"
            n += 1
            yield match

    ae = AE(scp_sop_class=[PATIENT_ROOT_FIND])
    ae.on_c_find = endless  # type: ignore[method-assign]
    query = pydicom.Dataset()
    query.PatientName = "*"
    query.QueryRetrieveLevel = "PATIENT"
    with serving(ae) as port:
        assoc = AE(scu_sop_class=[PATIENT_ROOT_FIND]).associate("127.0.0.1", port)
        statuses = []
        for status, _ in assoc.send_c_find(query):
            statuses.append(status)
            if len(statuses) == 5:
                assoc.send_c_cancel()
        assoc.release()
    assert statuses[-1] == "Cancel"
    assert all(s == "Pending" for s in statuses[:-1])


def test_a_failing_find_handler_answers_a_failure() -> None:
    def broken(identifier: pydicom.Dataset) -> Iterator[pydicom.Dataset]:
        yield from patients(identifier)
        raise RuntimeError("database gone")

    ae = AE(scp_sop_class=[PATIENT_ROOT_FIND])
    ae.on_c_find = broken  # type: ignore[method-assign]
    query = pydicom.Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    with serving(ae) as port:
        assoc = AE(scu_sop_class=[PATIENT_ROOT_FIND]).associate("127.0.0.1", port)
        statuses = [status for status, _ in assoc.send_c_find(query)]
        assoc.release()
    assert [str(s.category.value) for s in statuses] == ["Pending", "Pending", "Failure"]


def rejected_request() -> bytes:
    """An A-ASSOCIATE-RQ our SCP rejects (a called AE title it does not answer to)."""
    from dicomul import AssociationRequest, build_associate_rq, propose_contexts
    from dicomul.pdu import encode

    request = AssociationRequest(
        calling_ae_title="LINGER",
        called_ae_title="NOT-THIS-ONE",
        contexts=propose_contexts([VERIFICATION], ["1.2.840.10008.1.2"]),
    )
    return encode(build_associate_rq(request))


def test_many_silent_or_lingering_peers_hold_no_worker() -> None:
    """Far more connections than workers (maximum_associations + 1 = 3): 40
    that never speak, 20 rejected that never close.  None holds a worker, so
    echoscu is answered at once; stop() then returns at once too."""
    ae = AE(scp_sop_class=[VERIFICATION])
    ae.maximum_associations = 2
    ae.require_called_aet = "ECHOSCP"
    held: list[socket.socket] = []
    with serving(ae) as port:
        try:
            held += [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
            for _ in range(20):
                lingering = socket.create_connection(("127.0.0.1", port))
                lingering.sendall(rejected_request())
                lingering.settimeout(10)
                assert lingering.recv(10)[:1] == b"\x03"  # an A-ASSOCIATE-RJ
                held.append(lingering)
            started = time.monotonic()
            echo = dcmtk("echoscu", "-aec", "ECHOSCP", "127.0.0.1", str(port))
            assert echo.returncode == 0, echo.stderr
            assert time.monotonic() - started < 5
        finally:
            for sock in held:  # still open while serving() stops the server
                sock.close()


def test_a_flood_of_silent_connections_is_capped_oldest_first(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Past MAX_PENDING connections without an association, the oldest is
    closed for each new one (and a warning logged once): a flood cannot
    hold descriptors without end, and a real peer is still answered."""
    from dicomul_sync import _accept

    monkeypatch.setattr(_accept, "MAX_PENDING", 10)
    ae = AE(scp_sop_class=[VERIFICATION])
    held: list[socket.socket] = []
    with caplog.at_level(logging.WARNING, logger="dicomul"), serving(ae) as port:
        try:
            for _ in range(15):
                held.append(socket.create_connection(("127.0.0.1", port)))
                time.sleep(0.02)  # in order: the first come are the oldest
            echo = dcmtk("echoscu", "127.0.0.1", str(port))
            assert echo.returncode == 0, echo.stderr
            closed = []
            for sock in held:
                sock.settimeout(0.2)
                try:
                    closed.append(sock.recv(10) == b"")
                except TimeoutError:
                    closed.append(False)  # still held by the server
        finally:
            for sock in held:
                sock.close()
    # 15 silent ones and the echo's: the 6 oldest were closed, the 9 newest held.
    assert closed == [True] * 6 + [False] * 9
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["10 connections without an association: closing the oldest ones"]


def test_running_out_of_file_descriptors_pauses_accepting(tmp_path: pathlib.Path) -> None:
    """accept() failing with EMFILE must not end the server: once descriptors
    are free again, it serves (found by the concurrency bench)."""
    import sys

    script = tmp_path / "scp.py"
    script.write_text(
        "import resource, sys\n"
        "from dicomul_sync import AE\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "ae = AE(scp_sop_class=['1.2.840.10008.1.1'], port=int(sys.argv[1]))\n"
        "ae.maximum_associations = 100\n"
        "ae.start()\n"
    )
    port = free_port()
    server = subprocess.Popen([sys.executable, str(script), str(port)], stderr=subprocess.PIPE)
    try:
        wait_listening(port)
        flood = [socket.create_connection(("127.0.0.1", port)) for _ in range(80)]
        time.sleep(0.5)  # the server hits its limit of 64 descriptors
        for sock in flood:
            sock.close()
        echo = dcmtk("echoscu", "-to", "10", "127.0.0.1", str(port))
        assert echo.returncode == 0, echo.stderr
        assert server.poll() is None
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=10)
    assert b"Too many open files" in errors


def test_log_lines_follow_dcmtk(caplog: pytest.LogCaptureFixture) -> None:
    """The SCU's and SCP's INFO lines, in DCMTK's words and order."""
    ae = AE(scp_sop_class=[VERIFICATION, PATIENT_ROOT_FIND])
    ae.on_c_find = patients  # type: ignore[method-assign]
    query = pydicom.Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    with caplog.at_level(logging.INFO, logger="dicomul"), serving(ae) as port:
        scu = AE(scu_sop_class=[VERIFICATION, PATIENT_ROOT_FIND])
        assoc = scu.associate("127.0.0.1", port)
        assoc.send_c_echo()
        list(assoc.send_c_find(query))
        assoc.release()
    scu_lines = [r.getMessage() for r in caplog.records if r.name == "dicomul.sync"]
    assert scu_lines == [
        "Requesting Association",
        "Association Accepted (Max Send PDV: 16370)",
        "Sending Echo Request (MsgID 1)",
        "Received Echo Response (Success)",
        "Sending Find Request (MsgID 2)",
        "Received Final Find Response (Success)",  # the pending ones at DEBUG
        "Releasing Association",
    ]
    scp_lines = [r.getMessage() for r in caplog.records if r.name.startswith("dicomul.sync.")]
    assert scp_lines == [
        "Association Received",
        "Association Acknowledged",
        "Received Echo Request (MsgID 1)",
        "Received Find Request (MsgID 2)",
        "Association Released",
    ]
