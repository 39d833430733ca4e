"""The blocking adapter's writes (dicomul_sync._socket_io, _channel): the
core's buffers go out with sendmsg, in order, in as few calls as the kernel
allows, a command and its data set in one; a peer that stops reading is
given up after the write timeout."""

from __future__ import annotations

import socket
import threading

import pytest
from dicomul_common.iov import IOV_MAX
from dicomul_sync._channel import Channel
from dicomul_sync._socket_io import write_to

from dicomul import (
    AcceptAssociation,
    AcceptorConfig,
    AssociationRequest,
    Connection,
    RequestAssociation,
    Role,
    SupportedContext,
    c_store_rq,
    propose_contexts,
)

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"


class FakeConn:
    def __init__(self) -> None:
        self.writes = 0
        self.closed = False

    def wrote(self, *, now: float) -> None:
        self.writes += 1

    def receive_data(self, data: bytes, *, now: float) -> None:
        assert data == b""
        self.closed = True


def read_all(sock: socket.socket, into: bytearray) -> threading.Thread:
    def run() -> None:
        while chunk := sock.recv(65536):
            into.extend(chunk)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_more_buffers_than_one_sendmsg_takes_arrive_whole_and_in_order() -> None:
    """Thousands of buffers (more than IOV_MAX), some views, written through a
    small socket buffer so that the kernel takes them a part at a time."""
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    payload = bytes(range(256)) * 64
    buffers: list[bytes | memoryview] = []
    for n in range(3 * IOV_MAX):
        buffers.append(n.to_bytes(4, "big"))
        buffers.append(memoryview(payload)[n % 256 : n % 256 + 300])
        buffers.append(b"")  # an empty last fragment is a buffer too
    expected = b"".join(buffers)
    received = bytearray()
    reader = read_all(theirs, received)
    conn = FakeConn()
    assert write_to(conn, ours, buffers)  # type: ignore[arg-type]
    ours.close()
    reader.join(10)
    theirs.close()
    assert received == expected
    assert conn.writes == 1
    assert not conn.closed


def test_a_burst_the_kernel_takes_in_part_is_written_whole_and_in_order() -> None:
    """A few large buffers (one sendmsg would take them all, the kernel
    takes a part), written while the socket is full already: the first
    attempt takes part or nothing, the rest follows in order."""
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    ours.setblocking(False)
    filled = bytearray()
    try:
        while True:
            filled += b"f" * ours.send(b"f" * 4096)
    except BlockingIOError:
        pass
    payload = bytes(range(256)) * 4096
    buffers: list[bytes | memoryview] = [b"head", memoryview(payload), b"", payload[:1000]]
    received = bytearray()
    reader = read_all(theirs, received)
    conn = FakeConn()
    assert write_to(conn, ours, buffers)  # type: ignore[arg-type]
    ours.close()
    reader.join(10)
    theirs.close()
    assert received == bytes(filled) + b"".join(buffers)
    assert conn.writes == 1
    assert not conn.closed


def test_a_peer_that_stops_reading_is_given_up_after_the_timeout() -> None:
    ours, theirs = socket.socketpair()
    conn = FakeConn()
    try:
        assert not write_to(conn, ours, [bytes(8 * 1024 * 1024)], timeout=0.2)  # type: ignore[arg-type]
    finally:
        ours.close()
        theirs.close()
    assert conn.closed
    assert conn.writes == 0


class CountingSocket(socket.socket):
    """A socket that counts its write calls."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.calls: list[int] = []

    def sendmsg(self, buffers, *args):  # type: ignore[no-untyped-def,override]
        sent = super().sendmsg(buffers, *args)
        self.calls.append(sent)
        return sent

    def send(self, data, *args):  # type: ignore[no-untyped-def,override]
        sent = super().send(data, *args)
        self.calls.append(sent)
        return sent

    def sendall(self, data, *args):  # type: ignore[no-untyped-def,override]
        self.calls.append(len(data))
        return super().sendall(data, *args)


def associated(max_pdu: int) -> tuple[Connection, Connection]:
    requestor, acceptor = Connection(Role.REQUESTOR), Connection(Role.ACCEPTOR)
    request = AssociationRequest(
        calling_ae_title="SCU",
        called_ae_title="SCP",
        contexts=propose_contexts([CT], [EXPLICIT]),
        max_pdu_length=max_pdu,
    )
    config = AcceptorConfig(
        ae_title="SCP",
        supported={CT: SupportedContext(transfer_syntaxes=(EXPLICIT,))},
        max_pdu_length=max_pdu,
    )
    requestor.send(RequestAssociation(request=request), now=0.0)
    acceptor.transport_connected(now=0.0)
    requestor.transport_connected(now=0.0)
    acceptor.receive_data(requestor.data_to_send(), now=0.0)
    while acceptor.next_event().__class__.__name__ != "NeedData":
        pass
    acceptor.send(AcceptAssociation(config=config), now=0.0)
    requestor.receive_data(acceptor.data_to_send(), now=0.0)
    while requestor.next_event().__class__.__name__ != "NeedData":
        pass
    assert requestor.can_send_messages
    return requestor, acceptor


@pytest.mark.parametrize("chunked", [False, True])
def test_a_command_and_its_data_set_leave_in_one_write(chunked: bool) -> None:
    """A C-STORE of 64 KiB at 16 KiB PDUs (five PDUs, the command's and four
    of the data set, eleven buffers) is one sendmsg: the command never waits
    on Nagle's algorithm for its data set, nor the PDUs for each other."""
    conn, _ = associated(16384)
    twin, _ = associated(16384)
    data = bytes(range(256)) * 256
    command = c_store_rq(1, CT, "1.2.3")
    twin.send_message(1, command, data, now=0.0)
    expected = twin.data_to_send()
    ours, theirs = socket.socketpair()
    counting = CountingSocket(fileno=ours.detach())
    received = bytearray()
    reader = read_all(theirs, received)
    channel = Channel(conn, counting)
    channel.send(1, command, iter([data]) if chunked else data)
    counting.close()
    reader.join(10)
    theirs.close()
    assert received == expected
    assert counting.calls == [len(expected)]
