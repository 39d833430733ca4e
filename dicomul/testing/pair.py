"""Two connected :class:`~dicomul.Connection` objects in memory, with a virtual clock.

:class:`ConnectionPair` wires a requestor to an acceptor without a socket:
what one side writes is fed to the other (whole, or cut into pieces of
``chunk_size`` bytes to exercise framing), time moves only when
:meth:`ConnectionPair.advance` says so, and every byte is recorded in
:attr:`ConnectionPair.transcript`.  :func:`replay` feeds recorded bytes from
a real session into a fresh connection, to reproduce an interop bug
deterministically.

This module does no I/O and needs no hypothesis.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dicomul._command import Command
from dicomul._connection import Connection, Role
from dicomul._events import NEED_DATA, ConnectionClosed
from dicomul._fsm import State
from dicomul._wire import BytesLike
from dicomul.pdu import PDU_HEADER_SIZE, peek_header

__all__ = ["ConnectionPair", "replay", "split_pdus"]

REQUESTOR = "requestor"
ACCEPTOR = "acceptor"


@dataclass
class ConnectionPair:
    """A requestor and an acceptor joined by an in-memory, lossless byte pipe."""

    requestor: Connection = field(default_factory=lambda: Connection(Role.REQUESTOR))
    acceptor: Connection = field(default_factory=lambda: Connection(Role.ACCEPTOR))
    #: Deliver bytes in pieces of this size (None: as written).
    chunk_size: int | None = None
    #: The virtual clock, in seconds.
    now: float = 0.0
    #: Every write, in order: (writer, bytes).
    transcript: list[tuple[str, bytes]] = field(default_factory=list)
    #: Events each side has produced, in order.
    events: dict[str, list[object]] = field(default_factory=lambda: {REQUESTOR: [], ACCEPTOR: []})
    _in_flight: dict[str, bytearray] = field(
        default_factory=lambda: {REQUESTOR: bytearray(), ACCEPTOR: bytearray()}
    )
    _closed: set[str] = field(default_factory=set)
    #: Sides whose peer closed the transport: they read end-of-stream once
    #: the bytes still in flight to them are delivered (TCP's order).
    _eof_due: set[str] = field(default_factory=set)

    def side(self, name: str) -> Connection:
        return self.requestor if name == REQUESTOR else self.acceptor

    @staticmethod
    def other(name: str) -> str:
        return ACCEPTOR if name == REQUESTOR else REQUESTOR

    def write(self, writer: str, data: bytes) -> None:
        """Send ``data`` from ``writer`` towards the other side, and tell the
        writer it is written (:meth:`Connection.wrote`), as an adapter does."""
        if data:
            self.transcript.append((writer, bytes(data)))
            self._in_flight[self.other(writer)] += data
            self.side(writer).wrote(now=self.now)

    def connect(self) -> None:
        """Open the transport: the acceptor's Evt5, then the requestor's Evt2.

        The requestor must have been sent a RequestAssociation first.
        """
        self.acceptor.transport_connected(now=self.now)
        self.flush(ACCEPTOR)
        self.requestor.transport_connected(now=self.now)
        self.flush(REQUESTOR)

    def flush(self, writer: str) -> None:
        """Put what ``writer`` has queued (Connection.data_to_send) on the wire."""
        self.write(writer, self.side(writer).data_to_send())

    def send(self, writer: str, event: object) -> None:
        """``writer``'s Connection.send(event), its bytes put on the wire."""
        self.side(writer).send(event, now=self.now)
        self.flush(writer)

    def send_message(
        self, writer: str, context_id: int, command: Command, data_set: BytesLike | None = None
    ) -> None:
        """``writer``'s Connection.send_message, its PDUs put on the wire."""
        self.side(writer).send_message(context_id, command, data_set, now=self.now)
        self.flush(writer)

    def pump(self) -> dict[str, list[object]]:
        """Deliver bytes both ways until nothing is in flight; return the new events."""
        new: dict[str, list[object]] = {REQUESTOR: [], ACCEPTOR: []}
        progress = True
        while progress:
            progress = False
            for name in (REQUESTOR, ACCEPTOR):
                conn = self.side(name)
                pending = self._in_flight[name]
                if pending and name not in self._closed:
                    size = self.chunk_size or len(pending)
                    piece = bytes(pending[:size])
                    del pending[:size]
                    conn.receive_data(piece, now=self.now)
                    progress = True
                elif name in self._eof_due:
                    self._eof_due.discard(name)
                    if name not in self._closed:
                        conn.receive_data(b"", now=self.now)
                        progress = True
                progress |= self._drain(name, new[name])
        return new

    def _drain(self, name: str, sink: list[object]) -> bool:
        conn = self.side(name)
        found = False
        while (event := conn.next_event()) is not NEED_DATA:
            found = True
            sink.append(event)
            self.events[name].append(event)
            self.write(name, conn.data_to_send())
            if isinstance(event, ConnectionClosed):
                self.close(name)
                break
        self.write(name, conn.data_to_send())
        return found

    def is_closed(self, name: str) -> bool:
        """True once ``name`` closed the transport (on its ConnectionClosed)."""
        return name in self._closed

    def close(self, name: str) -> None:
        """``name`` closes the transport: the other side reads end-of-stream
        (on the next :meth:`pump`, after every byte ``name`` wrote before)."""
        if name in self._closed:
            return
        self._closed.add(name)
        other = self.other(name)
        peer = self.side(other)
        never_connected = peer.state is State.STA1 and not peer._connected
        if other not in self._closed and not never_connected:
            self._eof_due.add(other)

    def advance(self, seconds: float) -> dict[str, list[object]]:
        """Move the clock, fire due timers on both sides, and pump."""
        self.now += seconds
        for name in (REQUESTOR, ACCEPTOR):
            conn = self.side(name)
            deadline = conn.next_deadline
            if deadline is not None and deadline <= self.now:
                conn.handle_timeout(now=self.now)
                self.write(name, conn.data_to_send())
        return self.pump()


def split_pdus(data: bytes) -> list[bytes]:
    """Cut what :meth:`Connection.data_to_send` gave into its PDUs (PS3.8
    9.3.1: a six-byte header whose last four bytes are the length of the
    rest), for a test that writes some of them only, or one at a time."""
    pdus = []
    at = 0
    while (header := peek_header(data[at:])) is not None:
        end = at + PDU_HEADER_SIZE + header[1]
        pdus.append(data[at:end])
        at = end
    if at != len(data):
        raise ValueError(f"{len(data) - at} bytes after the last whole PDU")
    return pdus


def replay(connection: Connection, incoming: Iterable[bytes]) -> tuple[list[object], bytes]:
    """Feed recorded bytes from a peer into ``connection``.

    Returns the events it produced and the bytes it would have written in
    answer (data_to_send).  ``incoming`` is the peer's side of a recorded
    session, in order, for instance from ConnectionPair.transcript or a
    packet capture.
    """
    events: list[object] = []
    written = bytearray()
    for data in incoming:
        connection.receive_data(data)
        while (event := connection.next_event()) is not NEED_DATA:
            events.append(event)
        written += connection.data_to_send()
    return events, bytes(written)
