"""A byte stream read ahead by a task, so that an SCP can look at what the
peer sent without waiting (a C-CANCEL between C-FIND matches, PS3.7
9.3.2.3) while a single task does all the writing.

The :class:`~._driver.Driver` reads from it as from any stream; the
service layer takes what is already there with :meth:`PumpedStream.receive_nowait`.
One chunk at most is read ahead (the one the pump holds until it is
taken, plus :data:`AHEAD` queued): a peer that sends faster than the
server serves is held back by TCP, not buffered here.

Over a plain TCP connection (a :class:`~._direct.DirectSocketStream`) there
is no pump: what the peer sent is looked at with a read that does not wait,
and the Driver reads and writes the socket itself
(:attr:`PumpedStream.direct`), without a task hand-off per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import anyio
import anyio.abc

from dicomul import BytesLike, Connection

from ._direct import DirectSocketStream
from ._driver import GONE

__all__ = ["AHEAD", "READ_SIZE", "PumpedStream"]

#: Chunks queued besides the one the pump holds.
AHEAD = 0
#: Bytes asked of the socket per read: a PDU of the default maximum length
#: (16 KiB).  A pending read holds a buffer of this size, so it is what an
#: idle association costs; a server with many associations stays small.
READ_SIZE = 16 * 1024


class PumpedStream(anyio.abc.ByteStream):
    """``stream``, whose reads :meth:`pump` (run in a task) makes ahead;
    ``before_send`` runs before each write (the server frees an ended
    association's slot there, before the peer can read our A-RELEASE-RP
    or A-ABORT and try again)."""

    def __init__(
        self, stream: anyio.abc.ByteStream, before_send: Callable[[], None] | None = None
    ) -> None:
        self.stream = stream
        self.before_send = before_send
        #: The socket, read and written directly (no pump), for a plain TCP
        #: connection; None otherwise.
        self.direct = stream if isinstance(stream, DirectSocketStream) else None
        self._in, self._out = anyio.create_memory_object_stream[bytes](AHEAD)

    async def pump(self) -> None:
        """Read until the end of the stream (or its loss), then end the reads
        (nothing to do for a direct socket)."""
        if self.direct is not None:
            return
        with self._in:
            while True:
                try:
                    data = await self.stream.receive(READ_SIZE)
                except (anyio.EndOfStream, *GONE):
                    return
                try:
                    await self._in.send(data)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return

    async def receive(self, max_bytes: int = READ_SIZE) -> bytes:
        if self.direct is not None:
            return await self.direct.receive(max_bytes)
        try:
            return await self._out.receive()
        except anyio.ClosedResourceError:
            raise anyio.EndOfStream from None

    def receive_nowait(self) -> bytes:
        """What has been read and not yet taken; b"" if nothing (or the end)."""
        if self.direct is not None:
            try:
                return self.direct.receive_nowait() or b""
            except (*GONE, anyio.EndOfStream):
                return b""  # the next read finds the connection gone
        chunks: list[bytes] = []
        while True:
            try:
                chunks.append(self._out.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return b"".join(chunks)

    async def send(self, item: bytes) -> None:
        if self.before_send is not None:
            self.before_send()
        await self.stream.send(item)

    # What the Driver uses on a direct socket (``_direct.DirectIO``).

    async def send_buffers(self, buffers: Sequence[BytesLike]) -> None:
        assert self.direct is not None
        if self.before_send is not None:
            self.before_send()
        await self.direct.send_buffers(buffers)

    async def receive_into(
        self, conn: Connection, size: int, *, wait_first: bool = False
    ) -> memoryview:
        assert self.direct is not None
        return await self.direct.receive_into(conn, size, wait_first=wait_first)

    def receive_into_nowait(self, conn: Connection, size: int) -> memoryview | None:
        assert self.direct is not None
        return self.direct.receive_into_nowait(conn, size)

    async def progressed(self) -> None:
        assert self.direct is not None
        await self.direct.progressed()

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def aclose(self) -> None:
        self._out.close()
        await self.stream.aclose()
