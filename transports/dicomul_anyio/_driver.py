"""One association's byte mover on anyio: the loop every async role shares.

A :class:`Driver` owns a byte stream and the core's
:class:`dicomul.Connection`: it writes what the core queues (its one way out
for bytes, :meth:`~dicomul.Connection.data_to_send`), reads when the core
needs data, fires the core's timers on the event loop's clock
(``anyio.current_time``) through :meth:`~dicomul.Connection.handle_timeout`
at :attr:`~dicomul.Connection.next_deadline`, and answers a peer's
A-RELEASE-RQ when the core says so (:attr:`~dicomul.Connection.release_to_answer`).
The SCU side (``_client``) and the SCP side both drive their association
through it; neither holds a protocol rule.
"""

from __future__ import annotations

import contextlib

import anyio
import anyio.abc

from dicomul import (
    NEED_DATA,
    Abort,
    BytesLike,
    Command,
    Connection,
    ConnectionClosed,
    RespondRelease,
)

__all__ = ["GONE", "RECEIVE_SIZE", "Driver"]

#: What a stream raises when the peer or the connection is gone.
GONE = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError)
#: Bytes asked of the stream per read.
RECEIVE_SIZE = 65536


class Driver:
    """Moves one association's bytes between ``stream`` and ``conn``."""

    def __init__(self, stream: anyio.abc.ByteStream, conn: Connection) -> None:
        self.stream = stream
        self.conn = conn
        #: The connection is closed (or known gone): nothing more is read.
        self.closed = False
        # One write at a time: tasks sharing an association (a pipelining
        # SCU's senders and its reader) never mix their bytes mid-PDU.
        self._write_lock = anyio.Lock()
        # The wait of a read in progress, and whether it was woken (see
        # deadline_changed) rather than timed out.
        self._waiting: anyio.CancelScope | None = None
        self._woken = False

    async def flush(self) -> None:
        """Write whatever the core has queued, and tell the core it went.

        The bytes are taken from the core under the write lock, so that what
        several tasks queue goes out in the order it was queued."""
        if not self.conn.data_pending:
            return
        async with self._write_lock:
            data = self.conn.data_to_send()
            if data:
                await self.stream.send(data)
                self.conn.wrote(now=anyio.current_time())

    async def send(self, event: object) -> None:
        """Hand ``event`` (RequestRelease, AcceptAssociation...) to the core and
        write what it queues."""
        self.conn.send(event, now=anyio.current_time())
        await self.flush()

    async def send_message(
        self, context_id: int, command: Command, data: BytesLike | None = None
    ) -> None:
        """Send one DIMSE message whose data set (if any) is in memory."""
        self.conn.send_message(context_id, command, data, now=anyio.current_time())
        await self.flush()

    async def next_event(self) -> object:
        """The core's next event, reading and keeping its timers as needed;
        a gone connection gives :class:`dicomul.ConnectionClosed`."""
        while True:
            event = self.conn.next_event()
            await self.flush()
            if self.conn.release_to_answer:  # the peer asked (or a collision): PS3.8 7.2
                await self.send(RespondRelease())
            if event is not NEED_DATA:
                if isinstance(event, ConnectionClosed):  # the core's one signal to close
                    self.closed = True
                return event
            if self.closed:
                return ConnectionClosed()
            await self._read()

    async def _read(self) -> None:
        """Read once, or fire the core's timer if its deadline comes first."""
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
            self.conn.receive_data(data, now=anyio.current_time())
        elif not woken:  # (woken: the deadline moved, wait again on the new one)
            self.conn.handle_timeout(now=anyio.current_time())

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
