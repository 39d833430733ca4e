"""The seed document's SCP examples (AE title matching, maximum number of
associations, timeouts, maximum PDU size) and its SCU maximum-PDU example,
each as written (import line changed, a free port instead of 11112), served
to DCMTK's echoscu and storescu, and the timeouts fired one by one."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import threading
import time

import pytest
from dcmtk_tools import dcmtk_path
from dicomul_sync import AE, VerificationSOPClass
from peers import HOST, RawPeer, serving, storescp
from test_sync_seed_examples import ct_file

from dicomul import (
    NEED_DATA,
    AcceptAssociation,
    AcceptorConfig,
    AssociationRequested,
    Command,
    CommandField,
    Connection,
    Priority,
    Role,
    SupportedContext,
)
from dicomul.testing import split_pdus

CT = "1.2.840.10008.5.1.4.1.1.2"


def dcmtk(*args: str) -> subprocess.CompletedProcess[str]:
    tool, *rest = args
    done = subprocess.run(
        [dcmtk_path(tool), *rest],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TCP_NODELAY": "1"},
    )
    done.stdout += done.stderr
    return done


def test_ae_title_matching_example() -> None:
    ae = AE(port=11112, scp_sop_class=[VerificationSOPClass])
    ae.require_calling_aet = "CALLING_AET"
    ae.require_called_aet = "CALLED_AET"
    with serving(ae) as port:  # ae.start() in a thread, on a free port
        good = dcmtk("echoscu", "-aet", "CALLING_AET", "-aec", "CALLED_AET", HOST, str(port))
        bad_calling = dcmtk("echoscu", "-aet", "SOMEONE", "-aec", "CALLED_AET", HOST, str(port))
        bad_called = dcmtk("echoscu", "-aet", "CALLING_AET", "-aec", "ANY-SCP", HOST, str(port))
    assert good.returncode == 0, good.stdout
    assert bad_calling.returncode != 0
    assert "Calling AE Title Not Recognized" in bad_calling.stdout
    assert bad_called.returncode != 0
    assert "Called AE Title Not Recognized" in bad_called.stdout


def test_maximum_number_of_associations_example() -> None:
    ae = AE(port=11112, scp_sop_class=[VerificationSOPClass])
    ae.maximum_associations = 3
    scu = AE(scu_sop_class=[VerificationSOPClass])
    with serving(ae) as port:
        held = [scu.associate(HOST, port) for _ in range(3)]
        assert all(assoc.is_established for assoc in held)
        fourth = dcmtk("echoscu", "-v", HOST, str(port))
        assert fourth.returncode != 0
        assert "Local Limit Exceeded" in fourth.stdout
        held.pop().release()
        again = dcmtk("echoscu", HOST, str(port))
        assert again.returncode == 0, again.stdout
        for assoc in held:
            assoc.release()


def test_maximum_pdu_size_examples(tmp_path: pathlib.Path) -> None:
    """SCP: the AC announces maximum_pdu_size (None: no limit, so DCMTK uses
    its own maximum).  SCU: each association asks for its own."""
    path = ct_file(tmp_path / "ct.dcm", rows=256)  # 128 KiB of pixels: many PDUs
    announced = {}
    for size in (16382, None):
        ae = AE(port=11112, scp_sop_class=[VerificationSOPClass, CT])
        ae.maximum_pdu_size = size
        ae.store_directory = str(tmp_path)
        with serving(ae) as port:
            done = dcmtk("storescu", "-v", HOST, str(port), str(path))
        assert done.returncode == 0, done.stdout
        announced[size] = done.stdout
    assert "Max Send PDV: 16370" in announced[16382]  # 16382 - 12 bytes of PDV header
    assert "Max Send PDV: 131060" in announced[None]  # DCMTK's own limit

    # The SCU example holds both associations at once: served by our SCP
    # (DCMTK's storescp serves one association at a time).
    ae = AE(scu_sop_class=[VerificationSOPClass])
    with serving(AE(scp_sop_class=[VerificationSOPClass])) as port:
        assoc1 = ae.associate("127.0.0.1", port, max_pdu=16382)
        assoc2 = ae.associate("127.0.0.1", port, max_pdu=None)
        assert assoc1.negotiated is not None
        assert assoc2.negotiated is not None
        assert assoc1.negotiated.requestor_max_pdu_length == 16382
        assert assoc2.negotiated.requestor_max_pdu_length == 0  # PS3.8 D.1: no limit
        for assoc in (assoc1, assoc2):
            status = assoc.send_c_echo()
            assert status is not None
            assert status.Status == 0
            assoc.release()


def test_timeouts_example_values_are_taken() -> None:
    ae = AE(scu_sop_class=[VerificationSOPClass])
    ae.dimse_timeout = 30
    ae.acse_timeout = 60
    ae.network_timeout = 60
    with storescp() as port:
        assoc = ae.associate(HOST, port)
        conn = assoc._conn
        assert (conn.dimse_timeout, conn.acse_timeout, conn.network_timeout) == (30, 60, 60)
        assoc.release()


# ------------------------------------------------------- each timeout fires


@pytest.fixture
def quick_scp() -> AE:
    ae = AE(scp_sop_class=[VerificationSOPClass, CT])
    ae.on_c_store = lambda dataset: 0  # type: ignore[method-assign]
    ae.acse_timeout = 0.5
    ae.network_timeout = 0.5
    ae.dimse_timeout = 0.5
    return ae


def test_network_timeout_aborts_an_idle_association(quick_scp: AE) -> None:
    with serving(quick_scp) as port:
        peer = RawPeer(port)
        peer.associate()
        assert peer.closed_within(5) < 3
        peer.sock.close()
        assert dcmtk("echoscu", HOST, str(port)).returncode == 0


def test_dimse_timeout_aborts_a_message_left_half_sent(quick_scp: AE) -> None:
    quick_scp.network_timeout = None
    with serving(quick_scp) as port:
        peer = RawPeer(port)
        peer.associate()
        command = Command(
            command_field=CommandField.C_STORE_RQ,
            message_id=1,
            affected_sop_class_uid=CT,
            affected_sop_instance_uid="1.2.3",
            priority=Priority.MEDIUM,
            command_data_set_type=0,
        )
        # The command, then silence instead of the data set it announces.
        peer.conn.send_message(1, command, b"\x08\x00\x18\x00" + b"x" * 100)
        peer.sock.sendall(split_pdus(peer.conn.data_to_send())[0])
        assert peer.closed_within(5) < 3
        peer.sock.close()
        assert dcmtk("echoscu", HOST, str(port)).returncode == 0


def test_acse_timeout_on_a_release_left_unanswered(quick_scp: AE) -> None:
    """Our SCU asks to release a peer that never answers: acse_timeout ends it."""
    listener = socket.create_server((HOST, 0))
    port = listener.getsockname()[1]
    scu = AE(scu_sop_class=[VerificationSOPClass])
    scu.acse_timeout = 0.5

    def mute_acceptor() -> None:
        sock, _ = listener.accept()
        conn = Connection(Role.ACCEPTOR)
        conn.transport_connected()
        sock.sendall(conn.data_to_send())
        while True:
            data = sock.recv(65536)
            if not data:
                break
            conn.receive_data(data)
            while (event := conn.next_event()) is not NEED_DATA:
                if isinstance(event, AssociationRequested):
                    config = AcceptorConfig(
                        ae_title="ANY-SCP",
                        supported={
                            VerificationSOPClass: SupportedContext(
                                transfer_syntaxes=("1.2.840.10008.1.2",)
                            )
                        },
                    )
                    conn.send(AcceptAssociation(config=config))
                    sock.sendall(conn.data_to_send())
                # An A-RELEASE-RQ gets no answer.
        sock.close()

    thread = threading.Thread(target=mute_acceptor, daemon=True)
    thread.start()
    assoc = scu.associate(HOST, port)
    assert assoc.is_established
    started = time.monotonic()
    assoc.release()
    assert time.monotonic() - started < 3
    assert assoc.is_aborted
    thread.join(5)
    listener.close()


def test_acse_timeout_with_a_peer_that_never_requests(quick_scp: AE) -> None:
    """A connection that never sends an A-ASSOCIATE-RQ is closed by ARTIM."""
    quick_scp.network_timeout = None
    with serving(quick_scp) as port, socket.create_connection((HOST, port)) as silent:
        silent.settimeout(60)
        started = time.monotonic()
        assert silent.recv(100) == b""
        waited = time.monotonic() - started
    assert waited < 3  # PS3.8 9.1.5: ARTIM, set from the AE's acse_timeout


def test_ae_initialisation_example() -> None:
    """The seed's Initialisation example, as written (import line changed),
    then that AE serving DCMTK's echoscu (on a free port instead of 11112)."""
    from test_sync_seed_examples import SEED

    text = SEED.read_text()
    start = text.index("from pydicom.uid import ImplicitVRLittleEndian")
    code = text[start : text.index("\nService Class User\n", start)]
    code = code.replace("from pynetdicom3 import", "from dicomul_sync import")
    namespace: dict[str, object] = {}
    exec(compile(code, "seed-initialisation", "exec"), namespace)
    ae = namespace["ae"]
    assert isinstance(ae, AE)
    assert (ae.ae_title, ae.port) == ("PYNETDICOM", 11112)
    assert ae.scu_sop_class == ae.scp_sop_class == [VerificationSOPClass]
    assert ae.transfer_syntax == ["1.2.840.10008.1.2"]
    with serving(ae) as port:
        assert dcmtk("echoscu", "-aec", "PYNETDICOM", HOST, str(port)).returncode == 0
