"""The socket operations both sides of the blocking transport need.

Reading waits (``poll``) no longer than the engine's next deadline, then
lets its timers fire; bytes already waiting are read first, so a timer
never fires while the peer's data sit unread behind a slow handler.  A
failed read or write is the peer closing the connection (Evt17) as far as
the engine is concerned.  On the acceptor side a :class:`Waker` lets the
accept loop look at an association while its worker waits for the peer,
and interrupt that wait.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from dicomul_common.iov import IOV_MAX

from dicomul import BytesLike, Connection

if TYPE_CHECKING:
    import ssl

__all__ = ["RECEIVE_SIZE", "Poller", "Waker", "read_into", "write_to"]

LOGGER = logging.getLogger("dicomul.sync")

#: Bytes asked of each recv().
RECEIVE_SIZE = 65536
#: Seconds a write may block on a peer that does not read before the
#: connection is given up (a write half done cannot be resumed: PDUs would
#: interleave).
WRITE_TIMEOUT = 60.0


def _as_tls(sock: socket.socket) -> ssl.SSLSocket | None:
    """``sock`` if it is a TLS socket, else None.

    ``ssl`` is not imported here (it costs a fast-starting app, such as
    ``dicomul echoscu``, 5 ms): a socket can be a TLS one only once
    something (the caller's SSLContext) has imported it."""
    ssl_module = sys.modules.get("ssl")
    if ssl_module is not None and isinstance(sock, ssl_module.SSLSocket):
        return cast("ssl.SSLSocket", sock)
    return None


def _tls_error(exc: OSError) -> ssl.SSLError | None:
    """``exc`` if it is an ``ssl.SSLError`` (see :func:`_as_tls` for why
    ``ssl`` is looked up, not imported), else None."""
    ssl_module = sys.modules.get("ssl")
    if ssl_module is not None and isinstance(exc, ssl_module.SSLError):
        return cast("ssl.SSLError", exc)
    return None


def _tls_would_block(exc: OSError) -> bool:
    """``exc`` is a TLS socket's SSLWantReadError or SSLWantWriteError."""
    ssl_module = sys.modules.get("ssl")
    return ssl_module is not None and isinstance(
        exc, ssl_module.SSLWantReadError | ssl_module.SSLWantWriteError
    )


class Waker:
    """Another thread's way into one association's worker.

    The worker holds :attr:`lock` at all times except while it waits for
    the peer.  So another thread that takes the lock (never blocking: if it
    cannot, the worker is busy) sees the engine at rest, waiting for the
    peer; :meth:`wake`, called with the lock held, makes the worker run
    ``on_wake`` before it reads anything more.
    """

    def __init__(self, on_wake: Callable[[], None]) -> None:
        self.lock = threading.Lock()
        self.on_wake = on_wake
        self._requested = False
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    def fileno(self) -> int:
        return self._reader.fileno()

    def wake(self) -> None:
        """With :attr:`lock` held: have the worker run ``on_wake`` next."""
        self._requested = True
        with contextlib.suppress(OSError):  # full of wake-ups already, or closed
            self._writer.send(b"\0")

    @property
    def requested(self) -> bool:
        """True if :meth:`wake` was called and not yet taken."""
        return self._requested

    def take(self) -> bool:
        """In the worker, lock held: True (once) if :meth:`wake` was called."""
        if not self._requested:
            return False
        self._requested = False
        with contextlib.suppress(OSError):
            self._reader.recv(64)
        return True

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


class _Ready(enum.Enum):
    DATA = "data"
    TIMEOUT = "timeout"
    WOKEN = "woken"


def read_into(
    conn: Connection,
    sock: socket.socket,
    *,
    wait: bool = True,
    waker: Waker | None = None,
    more: bool = False,
    poller: Poller | None = None,
) -> tuple[memoryview, bool]:
    """Read once from ``sock`` into ``conn``: what was read (a view, valid
    until the next read) and whether it filled the buffer (then more is
    likely waiting: pass ``more`` next time, to read before waiting).

    A large PDU's bytes are read straight into the engine's buffer of its
    size (:meth:`dicomul.Connection.pdu_buffer`), so that they are never
    copied out of reads and joined.  If
    the engine's next deadline passes first with nothing to read, fire its
    timers and return nothing.  With ``wait`` false, take only what is
    there (a TLS record half arrived returns nothing at once).  With a
    ``waker``, its lock is released while waiting, and a wake-up runs its
    ``on_wake`` instead of reading.  ``poller``, the :class:`Poller` of
    ``sock`` and ``waker`` kept by the caller, spares making one each wait.
    """
    while True:
        if more and not (waker is not None and waker.requested):
            more = False  # once: a read that finds nothing waits below
            got = _receive_into(sock, conn)
            if got is not None:
                return got
        ready = _wait(sock, _wait_time(conn) if wait else 0.0, waker, poller)
        if ready is _Ready.WOKEN:
            assert waker is not None
            waker.on_wake()
            return _NOTHING, False
        if ready is _Ready.TIMEOUT:
            if wait:
                conn.handle_timeout(now=time.monotonic())
            return _NOTHING, False
        got = _receive_into(sock, conn)
        if got is None:  # readable, but no whole TLS record yet
            if wait:
                continue
            return _NOTHING, False
        return got


_NOTHING = memoryview(b"")


def _wait_time(conn: Connection) -> float | None:
    deadline = conn.next_deadline
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class Poller:
    """A ``poll`` object with ``sock`` (and ``waker``, if any) registered:
    made once per connection by its reader (:class:`._channel.Channel`),
    where making and registering one for every wait is three calls more
    per message.  Made anew if the socket or the waker changes (a socket
    wrapped for TLS is another object, over the same descriptor)."""

    __slots__ = ("fd", "poll", "sock", "waker")

    def __init__(self, sock: socket.socket, waker: Waker | None) -> None:
        self.sock = sock
        self.waker = waker
        self.fd = sock.fileno()
        self.poll = select.poll()
        self.poll.register(self.fd, select.POLLIN)
        if waker is not None:
            self.poll.register(waker.fileno(), select.POLLIN)


def _wait(
    sock: socket.socket,
    timeout: float | None,
    waker: Waker | None,
    poller: Poller | None = None,
) -> _Ready:
    """Wait until ``sock`` is readable, ``timeout`` seconds pass, or ``waker`` wakes.

    ``poll``, not ``select``: a busy process has descriptors above 1024.
    ``poller`` is ``sock``'s and ``waker``'s :class:`Poller`, if the caller keeps one.
    """
    if waker is not None and waker.take():
        return _Ready.WOKEN
    tls = _as_tls(sock)
    if tls is not None and tls.pending():
        return _Ready.DATA  # decrypted already
    if poller is None:
        poller = Poller(sock, waker)
    if waker is None:
        ready = poller.poll.poll(_milliseconds(timeout))
    else:
        waker.lock.release()
        try:
            ready = poller.poll.poll(_milliseconds(timeout))
        finally:
            waker.lock.acquire()
        if waker.take():
            # Checked with the lock held again: what another thread decided
            # with the lock held is carried out before anything more is read.
            return _Ready.WOKEN
    fd = poller.fd
    for ready_fd, _ in ready:
        if ready_fd == fd:
            return _Ready.DATA
    return _Ready.TIMEOUT


def _milliseconds(timeout: float | None) -> int | None:
    """poll()'s timeout, rounded up: waking a little early would only wait again."""
    return None if timeout is None else math.ceil(timeout * 1000)


def _non_blocking(sock: socket.socket) -> None:
    """Put ``sock`` in non-blocking mode unless it is already (each change
    is a system call; reads leave it so, and so do writes that complete at
    once)."""
    if sock.gettimeout() != 0.0:
        sock.settimeout(0.0)


def _receive_into(sock: socket.socket, conn: Connection) -> tuple[memoryview, bool] | None:
    """One read that does not block, reported to the engine (the end of the
    stream as ``b""``): what was read and whether it filled the buffer;
    None if nothing could be read after all.  A large PDU's bytes are read
    straight into its buffer (:meth:`dicomul.Connection.pdu_buffer`), any
    others with recv(), whose ``bytes`` the engine keeps as they are."""
    _non_blocking(sock)
    buffer = conn.pdu_buffer(RECEIVE_SIZE)
    try:
        if buffer is None:
            data = sock.recv(RECEIVE_SIZE)
            count = len(data)
        else:
            count = sock.recv_into(buffer)
    except BlockingIOError:
        return None
    except OSError as exc:
        if _tls_would_block(exc):
            return None
        tls_error = _tls_error(exc)
        if tls_error is not None:
            # A TLS alert (a refused certificate, say): the engine sees the
            # connection close; the reason is only here, so it is logged.
            LOGGER.error("TLS error: %s", tls_error.reason or tls_error)
        count = 0
    if not count:
        conn.receive_data(b"", now=time.monotonic())
        return _NOTHING, False
    if buffer is None:
        conn.receive_data(data, now=time.monotonic())
        return memoryview(data), count == RECEIVE_SIZE
    conn.buffer_updated(count, now=time.monotonic())
    return buffer[:count], count == len(buffer)


def write_to(
    conn: Connection,
    sock: socket.socket,
    data: BytesLike | Sequence[BytesLike],
    timeout: float | None = WRITE_TIMEOUT,
) -> bool:
    """Write ``data`` (bytes, or the buffers of
    :meth:`dicomul.Connection.data_to_send_buffers`, in order) within
    ``timeout`` seconds; False (and the connection closed, as far as the
    engine is concerned) if the write fails, as when a peer stops reading
    for that long.  A write done is progress for the engine's timers
    (:meth:`dicomul.Connection.wrote`)."""
    buffers = [data] if isinstance(data, bytes | memoryview) else list(data)
    total = sum(map(len, buffers))
    if not total:
        return True
    try:
        tls = _as_tls(sock)
        if tls is not None:
            _write_tls(tls, buffers, timeout)
        else:
            _write_gathered(sock, buffers, timeout, total)
    except OSError:
        conn.receive_data(b"", now=time.monotonic())
        return False
    conn.wrote(now=time.monotonic())
    return True


def _write_gathered(
    sock: socket.socket, buffers: list[BytesLike], timeout: float | None, total: int = -1
) -> None:
    """Write every buffer with ``sendmsg``: PDU headers and the data set's
    fragments (views of what was read from a file, say) go to the kernel as
    they are, never joined into one ``bytes``.  A burst leaves in as few
    calls as the kernel allows: one, for a command and its data set's first
    chunk.  The socket stays non-blocking (on a socket with a timeout Python
    polls before every send, and switching modes is a system call each way);
    only what the kernel does not take at once is waited for.

    ``total``, the bytes of all the buffers when the caller knows it: then
    a burst the kernel takes whole at once (nearly always: a response, a
    small file) is one call and nothing more."""
    if sock.gettimeout() != 0.0:
        sock.settimeout(0.0)
    deadline: float | None = None
    index, count = 0, len(buffers)
    first = total >= 0 and count <= IOV_MAX  # try it all at once, no deadline yet
    if not first:
        deadline = None if timeout is None else time.monotonic() + timeout
        index = _skip_empty(buffers, 0)
    while index < count:
        try:
            sent = sock.sendmsg(buffers if first else buffers[index : index + IOV_MAX])
        except BlockingIOError:
            sent = 0
        if first:
            first = False
            if sent == total:
                return
            deadline = None if timeout is None else time.monotonic() + timeout
        if not sent:
            _wait_writable(sock, deadline)
            continue
        while sent:
            size = len(buffers[index])
            if sent < size:
                buffers[index] = memoryview(buffers[index])[sent:]
                break
            sent -= size
            index += 1
        index = _skip_empty(buffers, index)


def _skip_empty(buffers: list[BytesLike], index: int) -> int:
    while index < len(buffers) and not len(buffers[index]):
        index += 1
    return index


def _wait_writable(sock: socket.socket, deadline: float | None) -> None:
    """Wait until ``sock`` takes more bytes; TimeoutError past ``deadline``."""
    left = None if deadline is None else deadline - time.monotonic()
    if left is not None and left <= 0:
        raise TimeoutError("the peer did not read what was written")
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    poller.poll(_milliseconds(left))


#: Bytes of queued buffers joined into one write on a TLS socket (which
#: encrypts from one buffer: there is no sendmsg) at most.
_TLS_BATCH = 1024 * 1024


def _write_tls(sock: ssl.SSLSocket, buffers: list[BytesLike], timeout: float | None) -> None:
    batch: list[BytesLike] = []
    size = 0
    for buffer in buffers:
        batch.append(buffer)
        size += len(buffer)
        if size >= _TLS_BATCH:
            _send_all(sock, b"".join(batch), timeout)
            batch, size = [], 0
    if size:
        _send_all(sock, b"".join(batch), timeout)


def _send_all(sock: socket.socket, data: bytes, timeout: float | None) -> None:
    # First without waiting (see _write_gathered); the rest with sendall.
    sent = _send_now(sock, data)
    if sent < len(data):
        sock.settimeout(timeout)
        sock.sendall(memoryview(data)[sent:])


def _send_now(sock: socket.socket, data: bytes) -> int:
    """Send what the kernel takes without waiting; the number of bytes sent."""
    _non_blocking(sock)
    try:
        return sock.send(data)
    except BlockingIOError:
        return 0
    except OSError as exc:
        if _tls_would_block(exc):
            return 0
        raise
