"""A TCP connection read and written on its socket directly (no TLS).

anyio's own TCP stream costs, on asyncio, a trip through the event loop per
``send`` (a checkpoint even when the kernel took every byte), a pause and a
resume of the transport's reading per ``receive`` (two ``epoll_ctl`` calls),
and it can neither gather a write nor read into a buffer given.  A DIMSE
exchange is mostly short messages and runs of PDUs, so the async adapters
read and write a plain TCP connection the way the blocking adapter does
(``dicomul_sync._socket_io``): the socket is non-blocking, an operation is
tried first and waited for (``anyio.wait_readable``/``wait_writable``) only
if the kernel has nothing to give or no room; a burst of queued buffers
goes out in one ``sendmsg`` (never joined into one ``bytes``), and a large
PDU is read straight into the core's buffer of its size
(:meth:`dicomul.Connection.pdu_buffer`).

A run of operations that never wait still lets the event loop run (and a
cancellation land) every :data:`YIELD_EVERY` operations, so that one busy
association does not starve the others a server serves.

:class:`DirectSocketStream` is an ``anyio.abc.SocketStream`` as well, so what
looks at a stream's attributes (the peer's address) or reads it as a byte
stream works unchanged.  TLS connections keep anyio's streams.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
from collections.abc import Sequence
from typing import Any, Protocol

import anyio
import anyio.abc
import anyio.lowlevel
from dicomul_common.iov import IOV_MAX

from dicomul import BytesLike, Connection

__all__ = ["FINISH_WRITING", "YIELD_EVERY", "DirectIO", "DirectSocketStream", "open_direct"]

#: Operations done without waiting before the event loop is let run once.
YIELD_EVERY = 16
#: Longest wait for room to finish a write begun (even if cancelled): a peer
#: that takes nothing more for this long is given up, as by the blocking
#: adapter (its WRITE_TIMEOUT).  A peer busy between reads (writing a large
#: data set to a slow disk) must not be taken for a gone one.
FINISH_WRITING = 60.0


class DirectIO(Protocol):
    """What the :class:`~._driver.Driver` reads and writes a direct socket
    through (:class:`DirectSocketStream`, or the server's stream over one)."""

    async def send_buffers(self, buffers: Sequence[BytesLike]) -> None: ...

    async def receive_into(
        self, conn: Connection, size: int, *, wait_first: bool = False
    ) -> memoryview: ...

    def receive_into_nowait(self, conn: Connection, size: int) -> memoryview | None: ...

    async def progressed(self) -> None: ...


class DirectSocketStream(anyio.abc.SocketStream):
    """A connected TCP socket, now owned by this stream (closed with it)."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        with contextlib.suppress(OSError):  # PDUs are written whole: no Nagle wait
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._closed = False
        # Operations done since the event loop last ran (see YIELD_EVERY).
        self._streak = 0

    @property
    def _raw_socket(self) -> socket.socket:
        return self._sock

    async def progressed(self) -> None:
        """Count one operation done without waiting; one in every
        :data:`YIELD_EVERY` lets the event loop run (a checkpoint)."""
        self._streak += 1
        if self._streak >= YIELD_EVERY:
            self._streak = 0
            await anyio.lowlevel.checkpoint()

    def _check_open(self) -> None:
        if self._closed:
            raise anyio.ClosedResourceError

    # ------------------------------------------------------------ reading

    def receive_nowait(self, max_bytes: int = 65536) -> bytes | None:
        """What the kernel has (at most ``max_bytes``) without waiting: None if
        nothing, ``b""`` at the end of the stream; OSError if the connection failed."""
        self._check_open()
        try:
            return self._sock.recv(max_bytes)
        except BlockingIOError:
            return None

    async def receive(self, max_bytes: int = 65536) -> bytes:
        while True:
            data = self.receive_nowait(max_bytes)
            if data is not None:
                if not data:
                    raise anyio.EndOfStream
                await self.progressed()
                return data
            await self._wait_readable()

    async def receive_into(
        self, conn: Connection, size: int, *, wait_first: bool = False
    ) -> memoryview:
        """Read once into ``conn`` (up to ``size`` bytes, a large PDU's straight
        into its buffer), waiting if nothing is there: what was read (a view,
        valid until the next read; empty at the end of the stream, which
        the core is told of as ``b""``).  ``wait_first``: a read just found
        nothing, so wait before trying (one system call fewer)."""
        if wait_first:
            await self._wait_readable()
        while True:
            got = self.receive_into_nowait(conn, size)
            if got is not None:
                await self.progressed()
                return got
            await self._wait_readable()

    def receive_into_nowait(self, conn: Connection, size: int) -> memoryview | None:
        """:meth:`receive_into` without waiting: None if nothing is there.
        The core is told what was read, with ``now`` its clock."""
        self._check_open()
        buffer = conn.pdu_buffer(size)
        try:
            if buffer is None:
                data = self._sock.recv(size)
            else:
                count = self._sock.recv_into(buffer)
        except BlockingIOError:
            return None
        now = anyio.current_time()
        if buffer is None:
            conn.receive_data(data, now=now)
            return memoryview(data)
        if not count:
            conn.receive_data(b"", now=now)
            return _NOTHING
        conn.buffer_updated(count, now=now)
        return buffer[:count]

    async def _wait_readable(self) -> None:
        self._streak = 0
        try:
            await anyio.wait_readable(self._sock)
        except ValueError:  # the descriptor was closed meanwhile (fileno() -1)
            raise anyio.ClosedResourceError from None
        self._check_open()

    # ------------------------------------------------------------ writing

    async def send(self, item: bytes) -> None:
        await self.send_buffers([item])

    async def send_buffers(self, buffers: Sequence[BytesLike]) -> None:
        """Write every buffer, in order, with ``sendmsg`` (gathered, none
        copied), waiting only while the kernel has no room.

        A write once begun is finished even if the task is cancelled
        meanwhile (within :data:`FINISH_WRITING` seconds per wait, then
        TimeoutError), so that the peer never sees a torn PDU; cancelled
        before any byte went out, nothing is written."""
        self._check_open()
        pending = [b for b in buffers if len(b)]
        index, count = 0, len(pending)
        begun = waited = False
        while index < count:
            try:
                sent = self._sock.sendmsg(pending[index : index + IOV_MAX])
            except BlockingIOError:
                waited = True
                if begun:
                    await self._finish_writing()
                else:
                    await self._wait_writable()
                continue
            begun = True
            while sent:
                size = len(pending[index])
                if sent < size:
                    pending[index] = memoryview(pending[index])[sent:]
                    break
                sent -= size
                index += 1
        if not waited:
            await self.progressed()

    async def _finish_writing(self) -> None:
        """Wait for room to write the rest of a write begun, shielded."""
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + FINISH_WRITING
            await self._wait_writable()
        if scope.cancelled_caught:
            raise TimeoutError("the peer did not take the rest of a PDU in time")

    async def _wait_writable(self) -> None:
        self._streak = 0
        try:
            await anyio.wait_writable(self._sock)
        except ValueError:
            raise anyio.ClosedResourceError from None
        self._check_open()

    def detach(self) -> socket.socket:
        """The socket, no longer this stream's (which is closed now, without
        closing it): for anyio's stream to take over (TLS)."""
        self._closed = True
        return self._sock

    async def send_eof(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError, ValueError):
                if self._sock.fileno() >= 0:
                    anyio.notify_closing(self._sock)  # wakes a task waiting on it
            self._sock.close()
        await anyio.lowlevel.checkpoint()


_NOTHING = memoryview(b"")


async def open_direct(host: str, port: int) -> DirectSocketStream:
    """Connect to ``host``:``port`` over TCP, trying each address it resolves
    to in turn; OSError (the last failure) if none answers.  An IP address
    is not looked up (a lookup is a trip to a worker thread)."""
    infos: Sequence[tuple[int, int, int, str, tuple[Any, ...]]]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    else:
        ip_family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        infos = [(ip_family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))]
    last: OSError | None = None
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            try:
                sock.connect(address)
            except BlockingIOError:
                await anyio.wait_writable(sock)
                failure = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if failure:
                    raise OSError(failure, os.strerror(failure)) from None
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        return DirectSocketStream(sock)
    raise last if last is not None else OSError(errno.EADDRNOTAVAIL, f"cannot resolve {host}")
