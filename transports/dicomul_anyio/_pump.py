"""A byte stream read ahead by a task, so that an SCP can look at what the
peer sent without waiting (a C-CANCEL between C-FIND matches, PS3.7
9.3.2.3) while a single task does all the writing.

The :class:`~._driver.Driver` reads from it as from any stream; the
service layer takes what is already there with :meth:`PumpedStream.receive_nowait`.
At most :data:`AHEAD` chunks are read ahead: a peer that sends faster than
the server serves is held back by TCP, not buffered here.
"""

from __future__ import annotations

import anyio
import anyio.abc

from ._driver import GONE, RECEIVE_SIZE

__all__ = ["AHEAD", "PumpedStream"]

#: Chunks (of RECEIVE_SIZE bytes at most) read ahead of the association.
AHEAD = 2


class PumpedStream(anyio.abc.ByteStream):
    """``stream``, whose reads :meth:`pump` (run in a task) makes ahead."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self._in, self._out = anyio.create_memory_object_stream[bytes](AHEAD)

    async def pump(self) -> None:
        """Read until the end of the stream (or its loss), then end the reads."""
        with self._in:
            while True:
                try:
                    data = await self.stream.receive(RECEIVE_SIZE)
                except (anyio.EndOfStream, *GONE):
                    return
                try:
                    await self._in.send(data)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return

    async def receive(self, max_bytes: int = RECEIVE_SIZE) -> bytes:
        try:
            return await self._out.receive()
        except anyio.ClosedResourceError:
            raise anyio.EndOfStream from None

    def receive_nowait(self) -> bytes:
        """What has been read and not yet taken; b"" if nothing (or the end)."""
        chunks: list[bytes] = []
        while True:
            try:
                chunks.append(self._out.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return b"".join(chunks)

    async def send(self, item: bytes) -> None:
        await self.stream.send(item)

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def aclose(self) -> None:
        self._out.close()
        await self.stream.aclose()
