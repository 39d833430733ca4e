"""Association slots under silent, trickling and slow peers (issue 14).

With the seed's default options (no DIMSE or network timeout, ten
associations), peers that associate and then say nothing, or trickle a
message a byte a second, must not lock everyone out: at the limit a new
peer displaces the association idle longest (an A-P-ABORT to it).  An
association making progress, or one whose request the server is working
on, is never displaced.  With a DIMSE timeout, a trickle is aborted at the
timeout although bytes keep flowing.  Each test failed before its fix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import pathlib
import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from corpus import SYNTAXES, data_set_bytes, image, write
from dicomul_sync import AE
from peers import HOST, RawPeer, serving
from test_apps_echo import app_server, dcmtk

from dicomul import (
    DEFAULT_DISPLACE_IDLE_AFTER,
    Aborted,
    AbortReason,
    AbortSource,
    AssociationRejected,
    AssociationRequest,
    Command,
    CommandField,
    build_associate_rq,
    c_store_rq,
    pdu,
    propose_contexts,
)
from dicomul.testing import split_pdus

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
#: The seed's default maximum number of associations.
LIMIT = 10
UID = "1.2.826.0.1.3680043.2.1143.99"
STORE_RQ = c_store_rq(1, CT, UID)


def associated(port: int, count: int) -> list[RawPeer]:
    """``count`` peers associated one after the other (the first is the
    idlest from then on)."""
    peers = []
    for _ in range(count):
        peer = RawPeer(port)
        peer.associate()
        peers.append(peer)
    return peers


def data_set_pdus(peer: RawPeer, data: bytes, uid: str = UID) -> bytes:
    """Send a C-STORE command whole (context 3, CT, ``uid``); the PDUs of
    its data set ``data``, unsent."""
    command = dataclasses.replace(STORE_RQ, affected_sop_instance_uid=uid)
    peer.conn.send_message(3, command, data)
    pdus = split_pdus(peer.conn.data_to_send())
    peer.sock.sendall(pdus[0])
    return b"".join(pdus[1:])


@contextlib.contextmanager
def trickling(peers: list[RawPeer]) -> Iterator[list[int]]:
    """Each peer sends one more byte of a C-STORE data set every second
    until the block ends; yields the bytes sent so far by each."""
    data = [data_set_pdus(peer, bytes(100_000)) for peer in peers]
    sent = [0] * len(peers)
    done = threading.Event()

    def run() -> None:
        while not done.wait(1):
            for n, peer in enumerate(peers):
                with contextlib.suppress(OSError):
                    peer.sock.sendall(data[n][sent[n] : sent[n] + 1])
                    sent[n] += 1

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield sent
    finally:
        done.set()
        thread.join(10)


def wait_until_idle_enough() -> None:
    """Let the peers already associated pass the displacement threshold.

    One wait, not a polling loop: the server marked each association's
    last progress before the peer read its A-ASSOCIATE-AC, so once this
    returns each has been idle at least this long by the server's clock.
    """
    time.sleep(DEFAULT_DISPLACE_IDLE_AFTER + 0.5)


def the_displaced(peers: list[RawPeer]) -> RawPeer:
    """The one peer that received an A-ABORT: source service-provider,
    reason-not-specified (PS3.8 Table 9-26); the others received nothing."""
    readable, _, _ = select.select([p.sock for p in peers], [], [], 10)
    assert len(readable) == 1
    (displaced,) = [p for p in peers if p.sock is readable[0]]
    event = displaced.next_event()
    assert isinstance(event, Aborted)
    assert (event.source, event.reason) == (
        AbortSource.SERVICE_PROVIDER,
        AbortReason.NOT_SPECIFIED,
    )
    others = [p.sock for p in peers if p is not displaced]
    assert select.select(others, [], [], 0)[0] == []
    return displaced


def closing(peers: list[RawPeer]) -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    for peer in peers:
        stack.callback(peer.sock.close)
    return stack


# ------------------------------------------------------- silent or trickling


def test_silent_and_trickling_peers_give_way_to_an_eleventh(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """AE.start() with the default options: five peers associate and say
    nothing, five send a C-STORE a byte a second.  Before: DCMTK's echoscu
    was rejected (local-limit-exceeded) for as long as they stayed.  Now the
    idlest (the first) is displaced, logged, and echoscu answered."""
    ae = AE(scp_sop_class=[VERIFICATION, CT])
    with serving(ae) as port:
        peers = associated(port, LIMIT)
        with closing(peers), trickling(peers[LIMIT // 2 :]) as sent:
            wait_until_idle_enough()
            echo = dcmtk("echoscu", HOST, str(port))
            assert echo.returncode == 0, echo.stdout + echo.stderr
            assert the_displaced(peers) is peers[0]
            assert min(sent) >= 2  # bytes kept flowing
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(
        "Association Aborted: displaced at the association limit (10) by a new peer, after "
    )


@pytest.mark.parametrize("app", ["echoscp", "storescp"])
def test_silent_peers_give_way_to_an_eleventh_in_the_apps(
    app: str, tmp_path: pathlib.Path
) -> None:
    """The server apps with their default options: ten silent peers, then
    DCMTK's echoscu is answered; the displacement is in the log."""
    options = ["-od", str(tmp_path)] if app == "storescp" else []
    with app_server(app, *options) as server:
        peers = associated(server.port, LIMIT)
        with closing(peers):
            wait_until_idle_enough()
            echo = dcmtk("echoscu", HOST, str(server.port))
            assert echo.returncode == 0, echo.stdout + echo.stderr
            assert the_displaced(peers) is peers[0]
    assert "W: Association Aborted: displaced at the association limit (10)" in server.output


# --------------------------------------------------------------- never displaced


def test_progressing_store_and_busy_handler_are_never_displaced(tmp_path: pathlib.Path) -> None:
    """Two slots: a C-STORE arriving at 16 KiB a second and a C-ECHO whose
    handler is busy, both longer than the displacement threshold.  A third
    peer is rejected (PS3.8 Table 9-21: rejected-transient, service-provider
    presentation related, local-limit-exceeded); both operations succeed."""
    release_echo = threading.Event()
    ae = AE(scp_sop_class=[VERIFICATION, CT])
    ae.maximum_associations = 2
    ae.on_c_echo = lambda *_: 0 if release_echo.wait(30) else 0xC000  # type: ignore[method-assign]
    ae.on_c_store = lambda *_: 0  # type: ignore[method-assign]
    ct = image(rows=320, columns=320)  # 200 KiB of pixel data
    body = data_set_bytes(write(ct, tmp_path / "ct.dcm", SYNTAXES["implicit"]))
    with serving(ae) as port:
        storing, echoing = associated(port, 2)
        with closing([storing, echoing]):
            echoing.send(
                1,
                Command(
                    command_field=CommandField.C_ECHO_RQ,
                    message_id=1,
                    affected_sop_class_uid=VERIFICATION,
                ),
            )
            data = data_set_pdus(storing, body, str(ct.SOPInstanceUID))
            began = time.monotonic()
            while time.monotonic() - began < DEFAULT_DISPLACE_IDLE_AFTER + 1.5:
                storing.sock.sendall(data[:8192])
                data = data[8192:]
                time.sleep(0.5)
            rejected = RawPeer(port)
            with closing([rejected]):
                answer = rejected.request()
            assert isinstance(answer, AssociationRejected)
            assert (answer.pdu.result, answer.pdu.source, answer.pdu.reason) == (2, 3, 2)
            storing.sock.sendall(data)
            stored = storing.next_event()
            release_echo.set()
            echoed = echoing.next_event()
    assert stored.command.status == 0  # type: ignore[attr-defined]
    assert echoed.command.status == 0  # type: ignore[attr-defined]


# ------------------------------------------------------------- minimum rate


def test_a_trickled_store_is_aborted_at_the_dimse_timeout(tmp_path: pathlib.Path) -> None:
    """``dicomul storescp -td 2``: a C-STORE data set arriving a byte every
    half second.  Before: every byte restarted the DIMSE timer, so it held
    its association for ever.  Now it is aborted about 2 seconds after the
    command (generous bound: 15), although bytes kept flowing."""
    with app_server("storescp", "-td", "2", "-od", str(tmp_path)) as server:
        (peer,) = associated(server.port, 1)
        with closing([peer]):
            data = data_set_pdus(peer, bytes(100_000))
            began = time.monotonic()
            sent = 0
            while True:  # a byte, then half a second's wait for the A-ABORT
                peer.sock.sendall(data[sent : sent + 1])
                sent += 1
                if select.select([peer.sock], [], [], 0.5)[0]:
                    break
                assert time.monotonic() - began < 15, "never aborted"
            event = peer.next_event()
    assert isinstance(event, Aborted)
    assert sent >= 2
    assert "W: Association Aborted: DIMSE timeout" in server.output


def test_a_trickled_association_request_is_closed_at_artim() -> None:
    """Not yet associated: ARTIM (the ACSE timeout, 2 s here) bounds the
    whole A-ASSOCIATE-RQ (PS3.8 9.1.5), a byte every half second does not
    restart it; the connection is closed (Sta2, Evt18: AA-2)."""
    request = AssociationRequest(
        calling_ae_title="TRICKLE",
        called_ae_title="ANY-SCP",
        contexts=propose_contexts([VERIFICATION], ["1.2.840.10008.1.2"]),
    )
    rq = pdu.encode(build_associate_rq(request))
    ae = AE(scp_sop_class=[VERIFICATION])
    ae.acse_timeout = 2
    with serving(ae) as port, socket.create_connection((HOST, port)) as sock:
        began = time.monotonic()
        sent = 0
        while True:  # a byte, then half a second's wait for the server to close
            sock.sendall(rq[sent : sent + 1])
            sent += 1
            if select.select([sock], [], [], 0.5)[0]:
                break
            assert time.monotonic() - began < 15, "never closed"
        # Closed: a FIN, or a reset if the last byte arrived unread.
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(100) == b""
    assert 2 <= sent < len(rq)
