"""One connection's socket and engine: the loop both sides of the transport run.

Write what the engine says to write, read when it needs data (the read
waits no longer than the engine's next deadline, or until a
:class:`~._socket_io.Waker` interrupts it), and hand its events out.
Events taken early (while a service waits for a particular message, or
looks for a C-CANCEL without blocking) are kept for the main loop, within
a bound (:class:`dicomul_common.handling.HeldEvents`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from dicomul_common.handling import HeldEvents

from dicomul import NEED_DATA, BytesLike, Command, Connection, DataSetSource, RespondRelease

from ._socket_io import Poller, Waker, read_into, write_to
from ._trace import PduTrace, trace_if_debugging

if TYPE_CHECKING:
    from ._events import WireEvents

__all__ = ["Channel"]


class Channel:
    """A socket (None once closed) and the :class:`dicomul.Connection` it carries."""

    def __init__(
        self,
        conn: Connection,
        sock: socket.socket | None,
        *,
        before_write: Callable[[], None] | None = None,
        trace: PduTrace | None = None,
        waker: Waker | None = None,
    ) -> None:
        self.conn = conn
        self.sock = sock
        #: Lets another thread look at the engine while this side waits for
        #: the peer, and interrupt the wait (the server's displacement).
        self.waker = waker
        #: Logs every PDU both ways when PDU debugging is on (see _trace).
        self.trace = trace if trace is not None else trace_if_debugging()
        #: Called before each write (the server frees an association slot
        #: there before the peer can read the answer that ends it).
        self.before_write = before_write
        #: Events taken early, for :meth:`next_event` to return first.
        self.held = HeldEvents()
        # The last read filled its buffer: read again before waiting.
        self._more = False
        # The socket's (and waker's) poll registrations, made at the first wait.
        self._poller: Poller | None = None
        #: Told of the bytes, PDUs and DIMSE messages crossing (event
        #: handlers: :class:`._events.WireEvents`), if set.
        self.observer: WireEvents | None = None

    def next_event(self) -> object | None:
        """The next event (a held one first), reading as the engine needs;
        None once the socket is closed."""
        if self.held:
            return self.held.take()
        return self.read_event()

    def read_event(self) -> object | None:
        """The next event from the connection (none of those held), reading
        as the engine needs; None once the socket is closed."""
        conn = self.conn
        while True:
            event = conn.next_event()
            self.flush()
            if event is not NEED_DATA:
                if self.observer is not None:
                    self.observer.event(event)
                return event
            if self.sock is None:
                return None
            self._read()

    def poll(self) -> list[object]:
        """The events that arrive without waiting (read once if data is there)."""
        if self.sock is not None:
            self._read(wait=False)
        events: list[object] = []
        while (event := self.conn.next_event()) is not NEED_DATA:
            self.flush()
            if self.observer is not None:
                self.observer.event(event)
            events.append(event)
        self.flush()
        return events

    def remaining(self) -> list[object]:
        """The events held and those the engine has without reading more:
        what is left once the association is over (an A-P-ABORT of this
        side's decided while a request was served, its ConnectionClosed)."""
        events: list[object] = []
        while self.held:
            events.append(self.held.take())
        while (event := self.conn.next_event()) is not NEED_DATA:
            events.append(event)
        self.flush()
        return events

    def _read(self, *, wait: bool = True) -> None:
        assert self.sock is not None
        poller = self._poller
        if poller is None or poller.sock is not self.sock or poller.waker is not self.waker:
            poller = self._poller = Poller(self.sock, self.waker)
        data, self._more = read_into(
            self.conn, self.sock, wait=wait, waker=self.waker, more=self._more, poller=poller
        )
        if self.trace is not None and data:
            self.trace.received(data)
        if self.observer is not None and data:
            self.observer.received(data)

    def defer(self, event: object, *, during: str) -> None:
        """Keep an event taken early for :meth:`next_event` to return, in
        order; past the bound on what is held, the association is aborted
        and the A-ABORT written at once (``during`` says what was being
        done, for the log: :meth:`HeldEvents.keep`)."""
        self.held.keep(event, self.conn, during=during, now=time.monotonic())
        self.flush()

    def answer_release(self) -> bool:
        """Answer the peer's A-RELEASE-RQ if the engine says it is due now
        (:attr:`dicomul.Connection.release_to_answer`: after the operations
        being served, and in a collision in the order PS3.8 Table 9-10
        gives); True if answered.  Called after each event handled."""
        if not self.conn.release_to_answer:
            return False
        self.conn.send(RespondRelease(), now=time.monotonic())
        self.flush()
        return True

    def flush(self) -> None:
        """Write what the engine has queued (its one way out for bytes), its
        buffers as they are (:meth:`dicomul.Connection.data_to_send_buffers`)."""
        if self.observer is not None:
            self.observer.transitions(self.conn)
        buffers = self.conn.data_to_send_buffers()
        if buffers:
            self.write(buffers)

    def write(self, data: BytesLike | list[BytesLike]) -> None:
        if not data:
            return
        if self.before_write is not None:
            self.before_write()
        if self.sock is not None:
            if self.trace is not None:
                for buffer in [data] if isinstance(data, bytes | memoryview) else data:
                    self.trace.sent(buffer)
            if self.observer is not None:
                for buffer in [data] if isinstance(data, bytes | memoryview) else data:
                    self.observer.sent(buffer)
            if not write_to(self.conn, self.sock, data):
                # The peer is gone or not reading: nothing more can be written
                # (a PDU half sent cannot be resumed); the engine sees Evt17.
                self.close()

    def send(
        self, context_id: int, command: Command, data_set: DataSetSource | None = None
    ) -> None:
        """Send one DIMSE message, fragmented as the peer's maximum PDU length
        allows; a data set given as chunks is read and written a chunk at a
        time, never held whole."""
        conn = self.conn
        if self.observer is not None:
            self.observer.message_sent(context_id, command)
        if data_set is None or isinstance(data_set, bytes | bytearray | memoryview):
            conn.send_message(context_id, command, data_set, now=time.monotonic())
            self.flush()
            return
        message = conn.start_message(context_id, command, now=time.monotonic())
        try:
            for chunk in data_set:
                # What the previous chunk completed is written once the next
                # one is read: a data set of one chunk (a small file) leaves
                # with its command in one write, its last PDU included.
                self.flush()
                if self.sock is None:
                    return  # the connection failed: stop reading the data set
                message.push(chunk, now=time.monotonic())
            message.finish(now=time.monotonic())
        finally:
            message.abandon(now=time.monotonic())  # if the data set's source failed
            self.flush()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
