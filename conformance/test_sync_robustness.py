"""Regressions from the review of the blocking transport: each test failed
before its fix.  Peers that misbehave must never stop or stall the server,
and statuses must follow PS3.4."""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import socket
import stat
import struct
import threading
import time
from collections.abc import Iterator

import pydicom
import pytest
from dicomul_common.storage import DurableFile
from dicomul_sync import AE
from dicomul_sync.association import Association
from peers import (
    HOST,
    Gate,
    RawPeer,
    a_large_store,
    assert_provider_abort,
    cancel_a_query_with_a_store_pipelined,
    gated_matches,
    many_echo_requests,
    nth_match,
    push_instead_of_answering_a_get,
    push_while_a_query_is_served,
    serving,
)
from test_sync_services import retrieve_scp

from dicomul import (
    AssociationRejected,
    Command,
    CommandField,
    RequestRelease,
)

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT = "1.2.840.10008.1.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"


def echo_ok(port: int, called: str = "ANY-SCP") -> bool:
    scu = AE(scu_sop_class=[VERIFICATION])
    scu.acse_timeout = 5
    assoc = scu.associate(HOST, port, called)
    response = assoc.send_c_echo() if assoc.is_established else None
    assoc.release()
    return response is not None and response.Status == 0


def test_connections_reset_during_tls_setup_do_not_end_the_server() -> None:
    """Before: wrap_socket raised for a connection reset with data queued,
    and the exception ended AE.start()."""
    import ssl

    from tls_certs import make_pki

    pki = make_pki(pathlib.Path(__import__("tempfile").mkdtemp()))
    ae = AE(scp_sop_class=[VERIFICATION])
    ae.ssl_context = pki.server_context(require_client=False)
    with serving(ae) as port:
        for _ in range(100):
            sock = socket.create_connection((HOST, port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.send(b"\x16")
            sock.close()  # RST with a byte queued
        client = ssl.create_default_context(cafile=pki.ca)
        assoc = AE(scu_sop_class=[VERIFICATION]).associate(HOST, port, ssl_context=client)
        assert assoc.is_established
        assoc.release()


def test_a_rejected_peer_that_floods_cannot_stall_the_loop() -> None:
    """Before: the accept loop read it for as long as data came, so nobody
    else was accepted and its ARTIM never fired."""
    ae = AE(ae_title="SCP", scp_sop_class=[VERIFICATION])
    ae.require_called_aet = "SCP"
    ae.acse_timeout = 1
    with serving(ae) as port:
        flooder = RawPeer(port)
        assert isinstance(flooder.request(called="WRONG"), AssociationRejected)
        blob = bytes.fromhex("0500000000040000 0000".replace(" ", "")) * 8192
        stop = threading.Event()
        cut_after: list[float] = []

        def flood() -> None:
            started = time.monotonic()
            try:
                while not stop.is_set():
                    flooder.sock.sendall(blob)
            except OSError:
                cut_after.append(time.monotonic() - started)

        thread = threading.Thread(target=flood)
        thread.start()
        try:
            started = time.monotonic()
            assert echo_ok(port, "SCP")
            assert time.monotonic() - started < 3
            thread.join(10)  # ARTIM (1 s) closes the flooder
        finally:
            stop.set()
            thread.join(10)
            flooder.sock.close()
    assert cut_after
    assert cut_after[0] < 5


def test_peers_lingering_after_release_hold_no_worker() -> None:
    """Before: a worker waited out ARTIM for each released peer that kept
    its connection open, and a new association's AC waited in the queue."""
    ae = AE(scp_sop_class=[VERIFICATION])
    ae.maximum_associations = 1
    ae.acse_timeout = 8
    with serving(ae) as port:
        lingering = []
        for _ in range(3):
            peer = RawPeer(port)
            peer.associate()
            peer.conn.send(RequestRelease())
            peer.sock.sendall(peer.conn.data_to_send())
            assert type(peer.next_event()).__name__ == "Released"
            lingering.append(peer)  # the TCP connection stays open
        started = time.monotonic()
        assert echo_ok(port)
        assert time.monotonic() - started < 2
        for peer in lingering:
            peer.sock.close()


def test_a_late_c_cancel_does_not_cancel_the_next_request() -> None:
    def one_match(identifier: pydicom.Dataset) -> list[pydicom.Dataset]:
        match = pydicom.Dataset()
        match.PatientName = "A^B"
        return [match]

    find = "1.2.840.10008.5.1.4.1.2.1.1"
    ae = AE(scp_sop_class=[find])
    ae.on_c_find = one_match  # type: ignore[method-assign]
    query = pydicom.Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    with serving(ae) as port:
        assoc = AE(scu_sop_class=[find]).associate(HOST, port)
        assert [int(s) for s, _ in assoc.send_c_find(query, msg_id=1)] == [0xFF00, 0]
        # A C-CANCEL that arrives after the final response, as from a peer
        # whose cancel crossed it (sent raw: our SCU would refuse to).
        cancel = Command(command_field=CommandField.C_CANCEL_RQ, message_id_being_responded_to=1)
        negotiated = assoc.negotiated
        assert negotiated is not None
        context = next(iter(negotiated.contexts))
        from dicomul import encode_command, pdu

        pdv = pdu.PresentationDataValue(
            context_id=context, control_header=0x03, data=encode_command(cancel)
        )
        assoc._channel.sock.sendall(pdu.encode(pdu.PDataTF(pdvs=(pdv,))))  # type: ignore[union-attr]
        assert [int(s) for s, _ in assoc.send_c_find(query, msg_id=1)] == [0xFF00, 0]
        assoc.release()


def test_a_full_disk_leaves_no_partial_file(tmp_path: pathlib.Path) -> None:
    """Before: closing the temporary file flushed, failed again (ENOSPC), and
    the file was never removed."""
    durable = DurableFile(
        tmp_path, sop_class_uid=CT, sop_instance_uid="1.2.3", transfer_syntax="1.2.840.10008.1.2"
    )

    class FullDisk:
        closed = False

        def close(self) -> None:
            raise OSError(28, "No space left on device")

    durable._file.close()
    durable._file = FullDisk()  # type: ignore[assignment]
    durable.discard()
    assert list(tmp_path.iterdir()) == []


def test_a_handler_returning_no_status_answers_a_failure() -> None:
    ae = AE(scp_sop_class=[VERIFICATION])
    ae.on_c_echo = pydicom.Dataset  # type: ignore[method-assign, assignment]
    with serving(ae) as port:
        assoc = AE(scu_sop_class=[VERIFICATION]).associate(HOST, port)
        response = assoc.send_c_echo()
        assert response is not None
        assert response.Status == 0x0110  # processing failure; the association goes on
        assert assoc.send_c_echo() is not None
        assoc.release()


def test_sub_operation_statuses(tmp_path: pathlib.Path) -> None:
    """All failed: 0xA702; warnings are counted, not listed as failed;
    nothing matched: Success with no association to the destination."""
    from test_sync_seed_examples import ct_file

    files = [ct_file(tmp_path / f"ct{n}.dcm") for n in range(3)]
    scp, _ = retrieve_scp(files)
    answers = iter([0xB007, 0xA700, 0x0000])  # warning, failure, success
    store = AE(ae_title="STORE", scp_sop_class=[CT])
    store.on_c_store = lambda dataset: next(answers)  # type: ignore[method-assign]
    query = pydicom.Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    with serving(store) as store_port, serving(scp) as port:
        scp.move_destinations = {"STORE": (HOST, store_port)}
        assoc = AE(scu_sop_class=[PATIENT_ROOT_MOVE, PATIENT_ROOT_GET]).associate(
            HOST, port, "QRSCP"
        )
        query.PatientID = "ALL"
        *_, (status, identifier) = assoc.send_c_move(query, "STORE")
        assert int(status) == 0xB000
        final = assoc.last_response
        assert final is not None
        counts = (
            final.NumberOfCompletedSuboperations,
            final.NumberOfFailedSuboperations,
            final.NumberOfWarningSuboperations,
        )
        assert counts == (1, 1, 1)
        assert identifier is not None
        failed_uid = pydicom.dcmread(files[1]).SOPInstanceUID
        assert identifier.FailedSOPInstanceUIDList == failed_uid  # the warning is not listed
        # C-GET with no storage context for the SCP to send on: every one fails.
        *_, (status, _) = assoc.send_c_get(query)
        assert int(status) == 0xA702
        query.PatientID = "NOBODY"
        assert [int(s) for s, _ in assoc.send_c_move(query, "STORE")] == [0x0000]
        assoc.release()


def test_a_timer_already_due_sends_an_a_abort(caplog: pytest.LogCaptureFixture) -> None:
    """Before: a deadline in the past made the read non-blocking, and the
    BlockingIOError was taken for the peer closing (no A-ABORT sent)."""
    import logging

    def slow(identifier: pydicom.Dataset) -> Iterator[pydicom.Dataset]:
        yield pydicom.Dataset()
        time.sleep(1.5)  # the next response comes well after the SCU's deadline
        yield pydicom.Dataset()

    find = "1.2.840.10008.5.1.4.1.2.1.1"
    scp = AE(scp_sop_class=[find])
    scp.on_c_find = slow  # type: ignore[method-assign]
    aborted = threading.Event()
    scp.on_association_aborted = lambda negotiated: aborted.set()  # type: ignore[method-assign]
    query = pydicom.Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    with caplog.at_level(logging.ERROR, logger="dicomul"), serving(scp) as port:
        scu = AE(scu_sop_class=[find])
        scu.dimse_timeout = 0.3
        assoc = scu.associate(HOST, port)
        for _ in assoc.send_c_find(query):
            time.sleep(0.6)  # the DIMSE deadline passes while we are busy
        assert assoc.is_aborted
        assert aborted.wait(5)  # the SCP got an A-ABORT, not a dropped connection
    assert "DIMSE timeout" in caplog.text


def test_requests_on_the_wrong_context_are_refused(tmp_path: pathlib.Path) -> None:
    """Before: a C-STORE on the Verification context was stored and answered
    Success; now 0x0211 and nothing written, and the association goes on."""
    ae = AE(scp_sop_class=[VERIFICATION, CT])
    ae.store_directory = str(tmp_path)
    with serving(ae) as port:
        peer = RawPeer(port)
        peer.associate()
        store = Command(
            command_field=CommandField.C_STORE_RQ,
            message_id=7,
            affected_sop_class_uid=CT,
            affected_sop_instance_uid="1.2.3.4",
            priority=0,
            command_data_set_type=0,
        )
        peer.send(1, store, b"\x08\x00\x18\x00\x08\x00\x00\x001.2.3.4\x00")  # on Verification
        response = peer.next_event()
        assert response.command.status == 0x0211  # type: ignore[attr-defined]
        peer.send(3, dataclasses.replace(store, affected_sop_class_uid=VERIFICATION), b"")
        response = peer.next_event()
        assert response.command.status == 0x0122  # type: ignore[attr-defined]
        peer.sock.close()
    assert list(tmp_path.iterdir()) == []


PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"


def slow_find_scp(started: threading.Event | None = None) -> tuple[AE, pydicom.Dataset]:
    """An SCP answering any C-FIND with 50 matches, 20 ms apart (time for a
    C-CANCEL to arrive before the end), setting ``started`` when it begins;
    and a query for it."""

    def many(identifier: pydicom.Dataset) -> Iterator[pydicom.Dataset]:
        if started is not None:
            started.set()
        for _ in range(50):
            yield pydicom.Dataset()
            time.sleep(0.02)

    ae = AE(scp_sop_class=[PATIENT_ROOT_FIND, VERIFICATION])
    ae.on_c_find = many  # type: ignore[method-assign]
    query = pydicom.Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    return ae, query


def assert_cancelled_and_usable(assoc: Association) -> None:
    """The last query ended in Cancel, and the association still serves."""
    assert assoc.last_response is not None
    assert assoc.last_response.Status == 0xFE00
    echo = assoc.send_c_echo()
    assert echo is not None
    assert echo.Status == 0


def test_leaving_a_query_loop_early_keeps_the_association_usable() -> None:
    """Before: the request stayed outstanding, and the next one raised."""
    ae, query = slow_find_scp()
    with serving(ae) as port:
        assoc = AE(scu_sop_class=[PATIENT_ROOT_FIND, VERIFICATION]).associate(HOST, port)
        for status, _ in assoc.send_c_find(query):
            assert status == "Pending"
            break  # cancels, then reads up to the final response
        assert_cancelled_and_usable(assoc)
        assoc.release()
        assert assoc.is_released


def test_queries_made_before_any_is_read_each_get_their_answers() -> None:
    """send_c_find is lazy, as pynetdicom's: its request goes at the first
    next(), so two queries may be made before either is read, or an echo
    sent between making a query and reading it (the operations window of
    one outstanding request, PS3.7 D.3.3.3, is never exceeded)."""

    def three(identifier: pydicom.Dataset) -> Iterator[pydicom.Dataset]:
        for n in range(3):
            match = pydicom.Dataset()
            match.PatientID = str(n)
            yield match

    ae = AE(scp_sop_class=[PATIENT_ROOT_FIND, VERIFICATION])
    ae.on_c_find = three  # type: ignore[method-assign]
    query = pydicom.Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    with serving(ae) as port:
        assoc = AE(scu_sop_class=[PATIENT_ROOT_FIND, VERIFICATION]).associate(HOST, port)
        queries = [assoc.send_c_find(query) for _ in range(2)]
        later = assoc.send_c_find(query)
        echo = assoc.send_c_echo()
        answers = [[int(status) for status, _ in responses] for responses in [*queries, later]]
        assoc.release()
    assert echo is not None
    assert echo.Status == 0
    assert answers == [[0xFF00, 0xFF00, 0xFF00, 0x0000]] * 3


def test_a_peer_that_releases_or_collides_is_answered() -> None:
    """Before: the SCU ignored an A-RELEASE-RQ from its peer, and a release
    collision waited for ever (PS3.8 9.2.9)."""
    from dicomul import (
        NEED_DATA,
        AcceptAssociation,
        AcceptorConfig,
        AssociationRequested,
        Connection,
        ReleaseRequested,
        RespondRelease,
        Role,
        SupportedContext,
    )

    listener = socket.create_server((HOST, 0))
    port = listener.getsockname()[1]
    seen: list[str] = []

    def releasing_acceptor() -> None:
        sock, _ = listener.accept()
        conn = Connection(Role.ACCEPTOR)
        conn.transport_connected()
        while data := sock.recv(65536):
            conn.receive_data(data)
            while (event := conn.next_event()) is not NEED_DATA:
                seen.append(type(event).__name__)
                if isinstance(event, AssociationRequested):
                    config = AcceptorConfig(
                        ae_title="SCP",
                        supported={
                            VERIFICATION: SupportedContext(
                                transfer_syntaxes=("1.2.840.10008.1.2",)
                            )
                        },
                    )
                    conn.send(AcceptAssociation(config=config))
                    sock.sendall(conn.data_to_send())
                    conn.send(RequestRelease())  # the acceptor releases
                    sock.sendall(conn.data_to_send())
                elif type(event).__name__ == "Released" and conn.state.name == "STA12":
                    conn.send(RespondRelease())  # collision: acceptor answers last
                    sock.sendall(conn.data_to_send())
                elif isinstance(event, ReleaseRequested) and not event.collision:
                    conn.send(RespondRelease())
                    sock.sendall(conn.data_to_send())
                sock.sendall(conn.data_to_send())
        sock.close()

    thread = threading.Thread(target=releasing_acceptor, daemon=True)
    thread.start()
    scu = AE(scu_sop_class=[VERIFICATION])
    scu.acse_timeout = 5
    assoc = scu.associate(HOST, port, "SCP")
    time.sleep(0.3)  # the acceptor's A-RELEASE-RQ is on its way: our release collides
    started = time.monotonic()
    assoc.release()
    assert time.monotonic() - started < 3
    assert assoc.is_released
    assert not assoc.is_aborted
    thread.join(5)
    listener.close()
    assert "ReleaseRequested" in seen


def test_stop_with_abort_ends_idle_associations_at_once() -> None:
    ae = AE(scp_sop_class=[VERIFICATION])  # no network or DIMSE timeout
    ae.port = 0
    thread = threading.Thread(target=ae.start)
    thread.start()
    assert ae.listening.wait(5)
    idle = AE(scu_sop_class=[VERIFICATION]).associate(HOST, ae.port)
    assert idle.is_established
    started = time.monotonic()
    ae.stop(abort=True)
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2
    assert idle.send_c_echo() is None  # the association is gone


def test_a_full_disk_answers_out_of_resources_end_to_end(tmp_path: pathlib.Path) -> None:
    """An SCP whose writes fail part-way (a file-size limit stands in for a
    full disk): DCMTK's storescu gets 0xA700, nothing is left in the
    directory, and the next (small) instance is stored."""
    import os
    import subprocess
    import sys

    from dcmtk_tools import dcmtk_path
    from peers import free_port, wait_listening
    from test_sync_seed_examples import ct_file

    out = tmp_path / "store"
    out.mkdir()
    script = tmp_path / "scp.py"
    script.write_text(
        "import resource, signal, sys\n"
        "from dicomul_sync import AE\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write raises instead\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))\n"
        "ae = AE(scp_sop_class=['1.2.840.10008.1.1', '1.2.840.10008.5.1.4.1.1.2'],"
        " port=int(sys.argv[1]))\n"
        "ae.store_directory = sys.argv[2]\n"
        "ae.start()\n"
    )
    big = ct_file(tmp_path / "big.dcm", rows=512)  # 512 KiB: over the limit
    small = ct_file(tmp_path / "small.dcm", rows=64)
    port = free_port()
    server = subprocess.Popen([sys.executable, str(script), str(port), str(out)])
    env = {**os.environ, "TCP_NODELAY": "1"}
    try:
        wait_listening(port)
        failed = subprocess.run(
            [dcmtk_path("storescu"), "-v", HOST, str(port), str(big)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=env,
        )
        stored = subprocess.run(
            [dcmtk_path("storescu"), HOST, str(port), str(small)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=env,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "Refused: OutOfResources" in failed.stdout + failed.stderr
    assert stored.returncode == 0, stored.stderr
    assert [p.name for p in out.iterdir()] == [f"{pydicom.dcmread(small).SOPInstanceUID}.dcm"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_stored_files_get_the_mode_the_umask_gives(tmp_path: pathlib.Path, umask: int) -> None:
    """Before: every stored file was 0600 (tempfile.mkstemp), unreadable to
    the site's other programs whatever the umask; DCMTK's are 0644."""
    previous = os.umask(umask)
    try:
        durable = DurableFile(
            tmp_path, sop_class_uid=CT, sop_instance_uid="1.2.3", transfer_syntax=IMPLICIT
        )
    finally:
        os.umask(previous)
    assert stat.S_IMODE(durable.temporary_path.stat().st_mode) == 0o666 & ~umask
    durable.write(b"\0" * 8)
    stored = durable.commit()
    assert stat.S_IMODE(pathlib.Path(stored).stat().st_mode) == 0o666 & ~umask


def test_release_then_abort_during_a_c_get_ends_quietly(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A C-GET SCU that, instead of answering a sub-operation, sends an
    A-RELEASE-RQ and then an A-ABORT (DCMTK getscu does, after a failed
    sub-operation).  Before: the release request, held while the C-GET
    waited, was answered after the abort: a traceback in the server log."""
    from peers import RawPeer
    from test_sync_seed_examples import ct_file
    from test_sync_services import PATIENT_ROOT_GET, query, retrieve_scp

    from dicomul import (
        AssociationAccepted,
        AssociationRequest,
        CommandReceived,
        Priority,
        RequestAssociation,
        RoleProposal,
        encode_dataset,
        propose_contexts,
    )

    files = [ct_file(tmp_path / f"ct{n}.dcm") for n in range(3)]
    scp, _ = retrieve_scp(files)
    with caplog.at_level(logging.DEBUG, logger="dicomul"), serving(scp) as port:
        peer = RawPeer(port)
        request = AssociationRequest(
            calling_ae_title="GETTER",
            called_ae_title="QRSCP",
            contexts=propose_contexts([PATIENT_ROOT_GET, CT], ["1.2.840.10008.1.2"]),
            roles=(RoleProposal(sop_class=CT, scu=False, scp=True),),
        )
        peer.conn.send(RequestAssociation(request=request))
        peer.conn.transport_connected()
        peer.sock.sendall(peer.conn.data_to_send())
        assert isinstance(peer.next_event(), AssociationAccepted)
        get = Command(
            command_field=CommandField.C_GET_RQ,
            message_id=1,
            affected_sop_class_uid=PATIENT_ROOT_GET,
            priority=Priority.MEDIUM,
            command_data_set_type=0,
        )
        peer.send(1, get, encode_dataset(query("ALL"), "1.2.840.10008.1.2"))
        while not isinstance(event := peer.next_event(), CommandReceived):
            pass  # up to the first C-STORE sub-operation
        assert event.command.command_field == CommandField.C_STORE_RQ
        release = bytes.fromhex("05000000000400000000")  # A-RELEASE-RQ
        abort = bytes.fromhex("07000000000400000000")  # A-ABORT, service user
        peer.sock.sendall(release + abort)
        assert peer.closed_within(5) < 5
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert "release request of an association since aborted: ignored" in caplog.text


MPPS = "1.2.840.10008.3.1.2.3.3"


@pytest.mark.parametrize(("service", "expected"), [("C-FIND", 0xC000), ("N-SET", 0x0110)])
def test_a_data_set_too_large_is_answered_with_the_status_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, service: str, expected: int
) -> None:
    """Before: an identifier over MAX_REQUEST_DATA_SET (64 MB) logged
    "answering 0xC000" and sent 0x0110.  Now the sink's failure is both
    logged and sent, the service's own: "Unable to process" for C-FIND
    (PS3.4 C.4.1.1.4), "Processing failure" for N-SET (PS3.7 10.1.3.1.10).
    The limit is lowered here so that a 70 kB data set passes it as a
    70 MB one would."""
    from dicomul_sync import _sinks

    monkeypatch.setattr(_sinks, "MAX_REQUEST_DATA_SET", 64 * 1024)
    ae = AE(scp_sop_class=[PATIENT_ROOT_FIND, MPPS])
    ae.on_n_set = lambda request: 0  # type: ignore[method-assign]
    big = pydicom.Dataset()
    big.QueryRetrieveLevel = "PATIENT"
    big.TextValue = "x" * 70 * 1024  # UT: no maximum length
    with serving(ae) as port, caplog.at_level(logging.ERROR, logger="dicomul"):
        assoc = AE(scu_sop_class=[PATIENT_ROOT_FIND, MPPS]).associate(HOST, port)
        if service == "C-FIND":
            sent = [int(status) for status, _ in assoc.send_c_find(big)]
        else:
            status, _ = assoc.send_n_set(big, MPPS, "1.2.3")
            sent = [] if status is None else [int(status.Status)]
        assoc.release()
    logged = [r.getMessage() for r in caplog.records if "answering" in r.getMessage()]
    assert sent == [expected]
    assert len(logged) == 1, logged
    assert logged[0].endswith(f"answering 0x{expected:04X}")
    assert "MAX_REQUEST_DATA_SET" in logged[0]


@pytest.mark.parametrize("window", [1, 4])
def test_a_peer_pushing_data_while_a_get_sub_operation_waits_is_aborted(
    window: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """While the SCP waits for the response to a C-GET's C-STORE
    sub-operation it must read on, and keeps what else arrives for later: a
    peer pushing a data set instead of answering is not held without bound.
    Past the cap (lowered here) it is aborted (A-P-ABORT), logged (before:
    the abort, queued behind the C-GET, was never logged), nothing it sent
    is served, and the SCP goes on serving others."""
    from dicomul_common import handling

    monkeypatch.setattr(handling, "MAX_HELD_DATA", 200_000)
    get_model = "1.2.840.10008.5.1.4.1.2.1.3"
    verification = "1.2.840.10008.1.1"
    ae = AE(
        ae_title="SCP", port=0, scp_sop_class=[verification, get_model, CT], scu_sop_class=[CT]
    )
    ae.maximum_operations_performed = window
    stored: list[object] = []
    ae.on_c_store = lambda dataset, *_: stored.append(dataset) or 0  # type: ignore[method-assign]
    match = pydicom.Dataset()
    match.SOPClassUID, match.SOPInstanceUID, match.PatientID = CT, "1.2.3.4", "1"
    ae.on_c_get = lambda identifier: [match]  # type: ignore[method-assign]
    with serving(ae) as port, caplog.at_level(logging.WARNING, logger="dicomul"):
        data = push_instead_of_answering_a_get(port, "SCP", window)
        assert_provider_abort(data)
        assert not stored  # nothing of what it pushed was served
        other = AE(scu_sop_class=[verification]).associate(HOST, port)
        assert other.is_established
        status = other.send_c_echo()
        assert status is not None
        assert status.Status == 0
        other.release()
    assert "Association Aborted: the peer sent over 200000 bytes" in caplog.text


#: The bound on what is held, lowered for the tests below (64 MiB by default).
HELD = 100_000


@pytest.mark.parametrize(
    ("service", "push"),
    [("C-FIND", "a data set"), ("C-FIND", "requests"), ("C-MOVE", "a data set")],
)
def test_a_peer_pushing_while_a_query_is_performed_is_aborted(
    service: str, push: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Before each C-FIND match and each C-MOVE sub-operation the SCP looks
    for a C-CANCEL (PS3.7 9.3.2.3, 9.3.4.3), keeping whatever else arrived
    for after the query: a peer pushing a data set (or a flood of requests)
    meanwhile had it all held, without bound.  Now past the bound (lowered
    here) it gets an A-P-ABORT, the query stops, nothing it pushed is served,
    and the SCP goes on serving others."""
    from dicomul_common import handling

    monkeypatch.setattr(handling, "MAX_HELD_DATA", HELD)
    gate = Gate()
    destination = AE(ae_title="DEST", scp_sop_class=[CT])
    destination.on_c_store = lambda dataset: gate.step() or 0  # type: ignore[method-assign]
    ae = AE(
        ae_title="SCP",
        scp_sop_class=[VERIFICATION, PATIENT_ROOT_FIND, PATIENT_ROOT_MOVE, CT],
        scu_sop_class=[CT],
    )
    served: list[str] = []
    ae.on_c_echo = lambda: served.append("echo") or 0  # type: ignore[method-assign]
    ae.on_c_store = lambda dataset: served.append("store") or 0  # type: ignore[method-assign]
    ae.on_c_find = lambda identifier: gated_matches(gate, 300)  # type: ignore[method-assign]
    ae.on_c_move = lambda identifier, aet: [nth_match(n) for n in range(300)]  # type: ignore[method-assign]
    pieces = a_large_store(4 * HELD) if push == "a data set" else many_echo_requests(HELD // 100)
    with (
        serving(destination) as destination_port,
        serving(ae) as port,
        caplog.at_level(logging.WARNING, logger="dicomul"),
    ):
        ae.move_destinations = {"DEST": (HOST, destination_port)}
        seen = push_while_a_query_is_served(port, "SCP", gate, pieces, service=service)
        assert seen.provider_abort
        assert seen.statuses
        assert set(seen.statuses) == {0xFF00}  # cut short: no final response
        assert served == []  # nothing of what it pushed was served
        assert echo_ok(port)
        assert served == ["echo"]
    aborted = [r.getMessage() for r in caplog.records if "Association Aborted" in r.getMessage()]
    assert aborted == [
        f"Association Aborted: the peer sent over {HELD} bytes of other requests' data "
        f"while a {service} was performed (beyond its operations window)"
    ]


def test_a_cancel_and_a_store_within_the_window_are_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a well-behaved peer sends while its C-FIND is performed is all
    served: a C-STORE its operations window of two allows (PS3.7 D.3.3.3)
    and a C-CANCEL (PS3.7 9.3.2.3), twice.  Each store is over half the
    bound (lowered here): what is held counts only until it is served."""
    from dicomul_common import handling

    from dicomul import encode_dataset

    monkeypatch.setattr(handling, "MAX_HELD_DATA", HELD)
    gate = Gate()
    ae = AE(ae_title="SCP", scp_sop_class=[PATIENT_ROOT_FIND, CT])
    ae.maximum_operations_performed = 2
    stored: list[str] = []
    ae.on_c_store = lambda dataset: stored.append(dataset.SOPInstanceUID) or 0  # type: ignore[method-assign]
    ae.on_c_find = lambda identifier: gated_matches(gate, 300)  # type: ignore[method-assign]
    stores = []
    for n in range(2):
        instance = nth_match(100 + n)
        instance.TextValue = "x" * (HELD * 6 // 10)  # UT: no maximum length
        stores.append((instance.SOPInstanceUID, encode_dataset(instance, IMPLICIT)))
    with serving(ae) as port:
        rounds = cancel_a_query_with_a_store_pipelined(port, "SCP", gate, stores)
    for answers in rounds:
        *pending, cancelled, store = answers
        assert pending
        assert set(pending) == {("C-FIND", 0xFF00)}
        assert (cancelled, store) == (("C-FIND", 0xFE00), ("C-STORE", 0x0000))
    assert stored == [uid for uid, _ in stores]
