"""TLS (PS3.15 B.1) on dicomul_sync's SCU and SCP: between themselves, and
against DCMTK's TLS-enabled echoscu and storescp; a peer that cannot complete
the handshake never stops the server."""

from __future__ import annotations

import os
import pathlib
import socket
import ssl
import subprocess

import pytest
from dcmtk_tools import dcmtk_path
from dicomul_sync import AE
from peers import HOST, free_port, wait_listening
from peers import serving as serving_plain
from test_sync_seed_examples import ct_file
from tls_certs import Pki, make_pki

from dicomul.testing import split_pdus

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_scp(pki: Pki, *, require_client: bool = True) -> AE:
    ae = AE(ae_title="TLSSCP", scp_sop_class=[VERIFICATION, CT])
    ae.ssl_context = pki.server_context(require_client=require_client)
    ae.acse_timeout = 5
    return ae


def test_our_scu_and_scp_over_mutual_tls(pki: Pki, tmp_path: pathlib.Path) -> None:
    scp = tls_scp(pki)
    scp.store_directory = str(tmp_path)
    path = ct_file(tmp_path / "ct.src")
    with serving_plain(scp) as port:
        scu = AE(scu_sop_class=[VERIFICATION, CT])
        assoc = scu.associate(HOST, port, "TLSSCP", ssl_context=pki.client_context())
        assert assoc.is_established
        echo = assoc.send_c_echo()
        assert echo is not None
        assert echo.Status == 0
        stored = assoc.send_c_store(path)
        assert stored is not None
        assert stored.Status == 0
        assoc.release()
        assert assoc.is_released
    assert len(list(tmp_path.glob("*.dcm"))) == 1


def test_failed_handshakes_leave_the_server_serving(pki: Pki) -> None:
    scp = tls_scp(pki)
    scu = AE(scu_sop_class=[VERIFICATION])
    with serving_plain(scp) as port:
        # No client certificate, while the server requires one.
        anonymous = scu.associate(
            HOST, port, ssl_context=pki.client_context(with_certificate=False)
        )
        assert not anonymous.is_established
        # A client that does not trust the server's CA.
        import ssl

        untrusting = scu.associate(HOST, port, ssl_context=ssl.create_default_context())
        assert untrusting.is_aborted
        assert not untrusting.is_established
        # Plain DICOM at a TLS port.
        plain = scu.associate(HOST, port)
        assert not plain.is_established
        # A connection that never says anything holds only its own worker.
        with socket.create_connection((HOST, port)):
            good = scu.associate(HOST, port, ssl_context=pki.client_context())
            assert good.is_established
            echo = good.send_c_echo()
            assert echo is not None
            assert echo.Status == 0
            good.release()


def run_dcmtk(*args: str) -> subprocess.CompletedProcess[str]:
    tool, *rest = args
    return subprocess.run(
        [dcmtk_path(tool), *rest],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TCP_NODELAY": "1"},
    )


def test_dcmtk_echoscu_over_tls_to_our_scp(pki: Pki) -> None:
    scp = tls_scp(pki)
    with serving_plain(scp) as port:
        done = run_dcmtk(
            "echoscu", "-aec", "TLSSCP", "+tls", str(pki.client_key), str(pki.client_cert),
            "+cf", str(pki.ca), HOST, str(port),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout
        # Without TLS, DCMTK fails and the server goes on.
        plain = run_dcmtk("echoscu", "-to", "5", "-aec", "TLSSCP", HOST, str(port))
        assert plain.returncode != 0


def test_our_scu_over_tls_to_dcmtk_storescp(pki: Pki, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [
            dcmtk_path("storescp"),
            "+tls",
            str(pki.server_key),
            str(pki.server_cert),
            "+cf",
            str(pki.ca),
            "-od",
            str(out),
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TCP_NODELAY": "1"},
    )
    try:
        wait_listening(port)
        path = ct_file(tmp_path / "ct.dcm")
        scu = AE(scu_sop_class=[VERIFICATION, CT])
        assoc = scu.associate(HOST, port, ssl_context=pki.client_context())
        assert assoc.is_established
        stored = assoc.send_c_store(path)
        assert stored is not None
        assert stored.Status == 0
        assoc.release()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert len([p for p in out.iterdir() if p.is_file()]) == 1


class BioSocket:
    """A TLS client over a plain socket through memory BIOs, so that a test
    can put half a TLS record on the wire (which ssl.SSLSocket never does)."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self.incoming.write(self.sock.recv(65536))
        self._flush()

    def _flush(self) -> None:
        if data := self.outgoing.read():
            self.sock.sendall(data)

    def sendall(self, data: bytes) -> None:
        self.tls.write(data)
        self._flush()

    def records(self, data: bytes) -> bytes:
        """``data`` as TLS records, not yet sent."""
        self.tls.write(data)
        return self.outgoing.read()

    def recv(self, size: int) -> bytes:
        while True:
            try:
                return self.tls.read(size)
            except ssl.SSLWantReadError:
                received = self.sock.recv(65536)
                if not received:
                    return b""
                self.incoming.write(received)


def test_half_a_tls_record_does_not_stop_a_c_find(pki: Pki) -> None:
    """The SCP looks for a C-CANCEL between matches.  Before, a TLS record
    half arrived made that look block until the rest came, so the query
    stalled; now the matches go on and the half record waits its turn."""
    from peers import RawPeer
    from test_sync_robustness import PATIENT_ROOT_FIND, slow_find_scp

    from dicomul import (
        Command,
        CommandField,
        Priority,
        Released,
        RequestRelease,
        encode_dataset,
    )

    scp, query = slow_find_scp()
    scp.ssl_context = pki.server_context(require_client=False)
    with serving_plain(scp) as port:
        peer = RawPeer(port)
        client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=pki.ca)
        tls = BioSocket(peer.sock, client)
        peer.sock = tls  # type: ignore[assignment]
        peer.request(sop_classes=[PATIENT_ROOT_FIND])
        find = Command(
            command_field=CommandField.C_FIND_RQ,
            message_id=1,
            affected_sop_class_uid=PATIENT_ROOT_FIND,
            priority=Priority.MEDIUM,
            command_data_set_type=0,
        )
        peer.send(1, find, encode_dataset(query, "1.2.840.10008.1.2"))
        cancel = Command(command_field=CommandField.C_CANCEL_RQ, message_id_being_responded_to=1)
        peer.conn.send_message(1, cancel)
        wire = b"".join(tls.records(pdu) for pdu in split_pdus(peer.conn.data_to_send()))
        tls.sock.sendall(wire[: len(wire) // 2])  # half the C-CANCEL's TLS record
        tls.sock.settimeout(10)
        statuses = []
        while not statuses or statuses[-1] == 0xFF00:
            event = peer.next_event()
            if type(event).__name__ == "CommandReceived":
                statuses.append(event.command.status)  # type: ignore[attr-defined]
        tls.sock.sendall(wire[len(wire) // 2 :])  # a C-CANCEL too late: ignored
        peer.conn.send(RequestRelease())
        tls.sendall(peer.conn.data_to_send())
        assert isinstance(peer.next_event(), Released)
        tls.sock.close()
    assert statuses == [0xFF00] * 50 + [0x0000]  # every match: the query never stalled
