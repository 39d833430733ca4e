"""The accept loop: every connection, until its association is accepted.

One ``selectors`` loop owns the listening socket and every connection whose
association is not yet accepted: it runs the TLS handshake, reads the
A-ASSOCIATE-RQ, lets the core negotiate, writes the AC or RJ, and fires
ARTIM, all without blocking.  Only an accepted association is handed, with
its socket and live :class:`dicomul.Connection`, to a worker thread.  So a
peer that connects and says nothing, trickles its request, is rejected and
lingers, or fails its handshake, holds a file descriptor until ARTIM and
never a worker (bench/README.md, "Concurrency model", has the figures that
led here).
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import ssl
import time
from collections.abc import Callable

from dicomul import (
    NEED_DATA,
    AcceptAssociation,
    AcceptorConfig,
    AssociationRequested,
    Connection,
    State,
)

from ._socket_io import RECEIVE_SIZE
from ._trace import PduTrace, trace_if_debugging

__all__ = ["AcceptLoop"]

LOGGER = logging.getLogger("dicomul.sync.server")

#: accept() failures that mean "out of resources for now" (file descriptors,
#: buffers): accepting pauses this long instead of ending the server.
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_PAUSE = 0.1

#: Hands an accepted association to a worker: the socket (blocking again),
#: its Connection, the bytes still to write (the tail of the AC), and its
#: PDU trace if debugging.
HandOff = Callable[[socket.socket, Connection, bytes, PduTrace | None], None]


class _Pending:
    """A connection whose association is not accepted yet."""

    __slots__ = ("conn", "handshaking", "out", "sock", "trace")

    def __init__(self, sock: socket.socket, conn: Connection, *, handshaking: bool) -> None:
        self.sock = sock
        self.conn = conn
        self.out = bytearray()
        self.handshaking = handshaking
        self.trace = trace_if_debugging()


class AcceptLoop:
    """Accept connections and negotiate their associations without blocking."""

    def __init__(
        self,
        listener: socket.socket,
        wake: socket.socket,
        *,
        new_connection: Callable[[], Connection],
        config: Callable[[], AcceptorConfig],
        claim: Callable[[], int],
        release: Callable[[], None],
        hand_off: HandOff,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.listener = listener
        self.wake = wake
        self.new_connection = new_connection
        self.config = config
        self.claim = claim
        self.release = release
        self.hand_off = hand_off
        self.ssl_context = ssl_context
        self.selector = selectors.DefaultSelector()
        self.pending: dict[socket.socket, _Pending] = {}
        self._accept_paused_until: float | None = None

    def run(self, stopping: Callable[[], bool]) -> None:
        """Serve until ``stopping()`` is true after a wake-up; then close what is pending."""
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.selector.register(self.wake, selectors.EVENT_READ)
        try:
            while not stopping():
                for key, mask in self.selector.select(self._timeout()):
                    if key.fileobj is self.wake:
                        self.wake.recv(64)
                    elif key.fileobj is self.listener:
                        self._accept()
                    else:
                        pending = self.pending.get(key.fileobj)  # type: ignore[call-overload]
                        if pending is not None:
                            self._service(pending, mask)
                self._fire_timers()
        finally:
            for pending in list(self.pending.values()):
                self._drop(pending)
            self.selector.close()

    # ---------------------------------------------------------------- timing

    def _timeout(self) -> float | None:
        deadlines = [p.conn.next_deadline for p in self.pending.values()]
        deadlines.append(self._accept_paused_until)
        known = [d for d in deadlines if d is not None]
        return max(0.0, min(known) - time.monotonic()) if known else None

    def _fire_timers(self) -> None:
        now = time.monotonic()
        if self._accept_paused_until is not None and now >= self._accept_paused_until:
            self._accept_paused_until = None
            self.selector.register(self.listener, selectors.EVENT_READ)
        for pending in list(self.pending.values()):
            deadline = pending.conn.next_deadline
            if deadline is not None and now >= deadline:
                pending.conn.handle_timeout(now=now)
                self._progress(pending)

    # ------------------------------------------------------------- accepting

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno not in _RESOURCE_ERRORS:
                    raise
                LOGGER.error("Cannot accept a connection (%s); pausing", exc.strerror)
                self.selector.unregister(self.listener)
                self._accept_paused_until = time.monotonic() + ACCEPT_PAUSE
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handshaking = self.ssl_context is not None
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
            conn = self.new_connection()
            pending = _Pending(sock, conn, handshaking=handshaking)
            pending.out += conn.transport_connected(now=time.monotonic())  # starts ARTIM
            self.pending[sock] = pending
            self.selector.register(sock, selectors.EVENT_READ)
            if handshaking:
                self._handshake(pending)

    # ------------------------------------------------------------ one socket

    def _service(self, pending: _Pending, mask: int) -> None:
        if pending.handshaking:
            self._handshake(pending)
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(pending)
        if mask & selectors.EVENT_READ:
            self._read(pending)

    def _handshake(self, pending: _Pending) -> None:
        sock = pending.sock
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self.selector.modify(sock, selectors.EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            self.selector.modify(sock, selectors.EVENT_WRITE)
            return
        except (ssl.SSLError, OSError) as exc:
            LOGGER.error("TLS handshake with a peer failed: %s", exc)
            self._drop(pending)
            return
        pending.handshaking = False
        self._progress(pending)

    def _read(self, pending: _Pending) -> None:
        conn = pending.conn
        while pending.sock in self.pending:
            try:
                data = pending.sock.recv(RECEIVE_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            except OSError:
                data = b""
            if pending.trace is not None and data:
                pending.trace.received(data)
            conn.receive_data(data, now=time.monotonic())
            self._progress(pending)
            if not data:
                break

    def _progress(self, pending: _Pending) -> None:
        """Take the engine's events; negotiate a request; hand off or close."""
        conn = pending.conn
        while (event := conn.next_event()) is not NEED_DATA:
            if isinstance(event, AssociationRequested):
                self._negotiate(pending)
                if conn.negotiated is not None:
                    self._hand_off(pending)
                    return
        pending.out += conn.data_to_send()
        self._flush(pending)
        if pending.sock in self.pending and conn.state is State.STA1:
            self._drop(pending)  # closed, timed out, or done after a rejection

    def _negotiate(self, pending: _Pending) -> None:
        LOGGER.info("Association Received")
        others = self.claim()
        pending.out += pending.conn.send(
            AcceptAssociation(config=self.config(), active_associations=others),
            now=time.monotonic(),
        )
        if pending.conn.negotiated is None:
            self.release()  # rejected: holds no slot (PS3.8 9.3.4)
            LOGGER.info("Association Rejected")

    def _flush(self, pending: _Pending) -> None:
        if pending.handshaking or pending.sock not in self.pending:
            return
        try:
            while pending.out:
                sent = pending.sock.send(pending.out)
                if pending.trace is not None:
                    pending.trace.sent(bytes(pending.out[:sent]))
                del pending.out[:sent]
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass
        except OSError:
            pending.out.clear()
            pending.conn.receive_data(b"", now=time.monotonic())
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if pending.out else 0)
        self.selector.modify(pending.sock, events)

    def _hand_off(self, pending: _Pending) -> None:
        del self.pending[pending.sock]
        self.selector.unregister(pending.sock)
        out = bytes(pending.out) + pending.conn.data_to_send()
        pending.sock.setblocking(True)
        self.hand_off(pending.sock, pending.conn, out, pending.trace)

    def _drop(self, pending: _Pending) -> None:
        if self.pending.pop(pending.sock, None) is not None:
            self.selector.unregister(pending.sock)
        pending.sock.close()
