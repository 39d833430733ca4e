"""One association's byte mover on anyio: the loop every async role shares.

A :class:`Driver` owns a byte stream and the core's
:class:`dicomul.Connection`: it writes what the core queues (its one way out
for bytes, :meth:`~dicomul.Connection.data_to_send_buffers`: large views
of a data set unjoined), reads when the core needs data, fires the core's
timers on the event loop's clock
(``anyio.current_time``) through :meth:`~dicomul.Connection.handle_timeout`
at :attr:`~dicomul.Connection.next_deadline`, and answers a peer's
A-RELEASE-RQ when the core says so (:attr:`~dicomul.Connection.release_to_answer`).
The SCU side (``_client``) and the SCP side both drive their association
through it; neither holds a protocol rule.

With event handlers bound (``evt_handlers``), its :attr:`Driver.wire`
(:class:`dicomul_common.events.WireEvents`, the blocking adapter's) is told
of every byte written and read (EVT_DATA_SENT/RECV, and the PDUs they
frame, EVT_PDU_SENT/RECV), every DIMSE message started (EVT_DIMSE_SENT) or
received (EVT_DIMSE_RECV), and the state machine's transitions
(EVT_FSM_TRANSITION), where they happen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from dicomul import (
    NEED_DATA,
    Abort,
    BytesLike,
    Command,
    Connection,
    ConnectionClosed,
    OutgoingMessage,
    RespondRelease,
)

if TYPE_CHECKING:
    from dicomul_common.events import WireEvents

    from ._direct import DirectIO

__all__ = ["GONE", "RECEIVE_SIZE", "SEND_UNJOINED_FROM", "Driver"]

#: What a stream raises when the peer or the connection is gone.
GONE = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError)
#: Bytes asked of the stream per read.
RECEIVE_SIZE = 65536
#: A queued buffer this large is written as it is (not copied); smaller ones
#: are joined, into writes of about this size (see :meth:`Driver._write`).
SEND_UNJOINED_FROM = 65536


def _joined(run: list[BytesLike]) -> bytes:
    """``run`` as one ``bytes`` (no copy for a lone ``bytes``)."""
    first = run[0]
    return first if len(run) == 1 and isinstance(first, bytes) else b"".join(run)


class Driver:
    """Moves one association's bytes between ``stream`` and ``conn``."""

    def __init__(
        self, stream: anyio.abc.ByteStream, conn: Connection, direct: DirectIO | None = None
    ) -> None:
        self.stream = stream
        self.conn = conn
        #: ``stream``'s socket, read and written directly (a plain TCP
        #: connection: see ``_direct``), or None (TLS: through ``stream``).
        self.direct = direct
        #: The connection is closed (or known gone): nothing more is read.
        self.closed = False
        # One write at a time: tasks sharing an association (a pipelining
        # SCU's senders and its reader) never mix their bytes mid-PDU.  Taken
        # without a trip through the event loop when free (the write that
        # follows is one, if it has to wait).
        self._write_lock = anyio.Lock(fast_acquire=True)
        # The wait of a read in progress, and whether it was woken (see
        # deadline_changed) rather than timed out.
        self._waiting: anyio.CancelScope | None = None
        self._woken = False
        #: The event notifications of what crosses the connection, if any
        #: handler is bound (see the module's docstring).
        self.wire: WireEvents | None = None
        #: Told of each event the core gives (the association's lifecycle
        #: notifications), if set.
        self.observe: Callable[[object], None] | None = None

    async def flush(self) -> None:
        """Write whatever the core has queued, and tell the core it went.

        The bytes are taken from the core under the write lock, so that what
        several tasks queue goes out in the order it was queued."""
        wire = self.wire
        if wire is not None:
            wire.transitions(self.conn)
        if not self.conn.data_pending:
            return
        async with self._write_lock:
            buffers = self.conn.data_to_send_buffers()
            if buffers:
                if self.direct is not None:
                    await self.direct.send_buffers(buffers)
                else:
                    await self._write(buffers)
                self.conn.wrote(now=anyio.current_time())
                if wire is not None and wire.watches_bytes(sent=True):
                    for buffer in buffers:
                        wire.sent(buffer)

    async def _write(self, buffers: list[BytesLike]) -> None:
        """Write the core's queued buffers in order, copying only small ones.

        An anyio stream writes one bytes-like object per ``send`` and has no
        gathering write, and each ``send`` costs a trip through the event
        loop (and a system call): many small sends would be slower than one
        joined one.  So runs of small buffers (PDU headers, short commands,
        16 KiB fragments) are joined into sends of about
        :data:`SEND_UNJOINED_FROM` bytes, and a buffer at least that large (a
        view of a data set pushed whole, in large PDUs) is sent as it is,
        never copied."""
        run: list[BytesLike] = []
        size = 0
        for buffer in buffers:
            n = buffer.nbytes if isinstance(buffer, memoryview) else len(buffer)
            if n >= SEND_UNJOINED_FROM:
                if run:
                    await self.stream.send(_joined(run))
                    run, size = [], 0
                # A bytes-like object: every anyio byte stream (asyncio's
                # transport.write, trio's send_all, TLS) takes a memoryview.
                await self.stream.send(buffer)  # type: ignore[arg-type]
                continue
            run.append(buffer)
            size += n
            if size >= SEND_UNJOINED_FROM:
                await self.stream.send(_joined(run))
                run, size = [], 0
        if run:
            await self.stream.send(_joined(run))

    async def send(self, event: object) -> None:
        """Hand ``event`` (RequestRelease, AcceptAssociation...) to the core and
        write what it queues."""
        self.conn.send(event, now=anyio.current_time())
        await self.flush()

    async def send_message(
        self, context_id: int, command: Command, data: BytesLike | None = None
    ) -> None:
        """Send one DIMSE message whose data set (if any) is in memory."""
        if self.wire is not None:
            self.wire.message_sent(context_id, command)
        self.conn.send_message(context_id, command, data, now=anyio.current_time())
        await self.flush()

    def start_message(self, context_id: int, command: Command) -> OutgoingMessage:
        """Start one DIMSE message whose data set is pushed as it is read
        (:meth:`dicomul.Connection.start_message`)."""
        if self.wire is not None:
            self.wire.message_sent(context_id, command)
        return self.conn.start_message(context_id, command, now=anyio.current_time())

    async def next_event(self) -> object:
        """The core's next event, reading and keeping its timers as needed;
        a gone connection gives :class:`dicomul.ConnectionClosed`."""
        while True:
            event = self.conn.next_event()
            await self.flush()
            if self.conn.release_to_answer:  # the peer asked (or a collision): PS3.8 7.2
                await self.send(RespondRelease())
            if event is not NEED_DATA:
                if self.wire is not None:
                    self.wire.event(event)
                if self.observe is not None:
                    self.observe(event)
                if isinstance(event, ConnectionClosed):  # the core's one signal to close
                    self.closed = True
                return event
            if self.closed:
                return ConnectionClosed()
            await self._read()

    async def _read(self) -> None:
        """Read once, or fire the core's timer if its deadline comes first."""
        if self.direct is not None:
            await self._read_direct(self.direct)
            return
        deadline = self.conn.next_deadline
        timeout = None if deadline is None else max(0.0, deadline - anyio.current_time())
        data = b""
        received = False
        with anyio.move_on_after(timeout) as waiting:
            self._waiting = waiting
            try:
                data = await self.stream.receive(RECEIVE_SIZE)
            except (anyio.EndOfStream, *GONE):
                data = b""
            finally:
                self._waiting = None
            received = True
        woken, self._woken = self._woken, False
        if received:
            if self.wire is not None and data:
                self.wire.received(data)
            self.conn.receive_data(data, now=anyio.current_time())
            if self.wire is not None:
                self.wire.transitions(self.conn)
        elif not woken:  # (woken: the deadline moved, wait again on the new one)
            self.conn.handle_timeout(now=anyio.current_time())

    async def _read_direct(self, direct: DirectIO) -> None:
        """:meth:`_read` on the socket itself: what is there already is read
        first, before any timer fires (as the blocking adapter does); a
        large PDU's bytes go straight into the core's buffer."""
        conn = self.conn
        try:
            data = direct.receive_into_nowait(conn, RECEIVE_SIZE)
            if data is not None:
                await direct.progressed()
            else:
                deadline = conn.next_deadline
                timeout = None if deadline is None else deadline - anyio.current_time()
                with anyio.move_on_after(timeout) as waiting:
                    self._waiting = waiting
                    try:
                        data = await direct.receive_into(conn, RECEIVE_SIZE, wait_first=True)
                    finally:
                        self._waiting = None
                woken, self._woken = self._woken, False
                if data is None:
                    if not woken:  # (woken: the deadline moved, wait again on the new one)
                        conn.handle_timeout(now=anyio.current_time())
                    return
        except (anyio.EndOfStream, *GONE):
            data = memoryview(b"")
            conn.receive_data(b"", now=anyio.current_time())
        if self.wire is not None:
            if data:
                self.wire.received(data)
            self.wire.transitions(conn)

    def deadline_changed(self) -> None:
        """The core's :attr:`~dicomul.Connection.next_deadline` may have moved
        under a read waiting in another task (a message this side finished
        starts the wait for its response): wake that read, which then waits
        on the new deadline.  A woken receive loses no data (an anyio stream
        gives bytes only when the receive completes)."""
        if self._waiting is not None:
            self._woken = True
            self._waiting.cancel()

    async def abort(self) -> None:
        """Send an A-ABORT if the association still stands, then close."""
        if self.conn.can_send_messages and not self.closed:
            with contextlib.suppress(*GONE):
                await self.send(Abort())
        await self.close()

    async def close(self) -> None:
        """Close the stream (once the core is done with it, or on abort)."""
        self.closed = True
        with contextlib.suppress(*GONE):
            await self.stream.aclose()
