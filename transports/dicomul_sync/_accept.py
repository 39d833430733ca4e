"""The accept loop: every connection, until its association is accepted.

One ``selectors`` loop owns the listening socket and every connection whose
association is not yet accepted: it runs the TLS handshake, reads the
A-ASSOCIATE-RQ, lets the core negotiate, writes the AC or RJ, and fires
ARTIM, all without blocking.  Only an accepted association is handed, with
its socket and live :class:`dicomul.Connection`, to a worker thread.  So a
peer that connects and says nothing, trickles its request, is rejected and
lingers, or fails its handshake, holds a file descriptor until ARTIM and
never a worker (bench/README.md, "Concurrency model", has the figures that
led here).  ARTIM runs from the connection to the whole A-ASSOCIATE-RQ
(PS3.8 9.1.5): bytes trickling in do not restart it.  At the association
limit, a request that only the limit refuses may displace the association
idle longest (``displace``, see :mod:`.server`).

A request asserting a user identity (PS3.7 D.3.3.7), when the AE checks
identities (``check_identity``), waits for the check in a small thread pool
(it may do I/O: a directory, a token service) while the loop goes on with
the others; its result wakes the loop, which then negotiates the request.
"""

from __future__ import annotations

import errno
import logging
import queue
import selectors
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from dicomul_common.negotiation import asserted_identity

from dicomul import (
    EVT_CONN_CLOSE,
    EVT_CONN_OPEN,
    EVT_REJECTED,
    EVT_REQUESTED,
    NEED_DATA,
    AcceptAssociation,
    AcceptorConfig,
    AssociationRequested,
    BytesLike,
    Connection,
    ConnectionClosed,
    EventType,
    LocalProtocolError,
    NegotiationAnswers,
    only_the_limit_refuses,
)
from dicomul.pdu import AssociateRQ

from ._socket_io import RECEIVE_SIZE
from ._trace import PduTrace, trace_if_debugging

__all__ = ["AcceptLoop", "HandOff", "Watch"]

LOGGER = logging.getLogger("dicomul.sync.server")

#: accept() failures that mean "out of resources for now" (file descriptors,
#: buffers): accepting pauses this long instead of ending the server.
ACCEPT_PAUSE = 0.1
#: accept() failures that concern only the connection being accepted
#: (accept(2): the pending network errors are passed on; a connection
#: aborted before it was accepted): the next one is tried.
_TRANSIENT_ERRORS = frozenset(
    {
        errno.ECONNABORTED,
        errno.EPROTO,
        errno.EPERM,
        errno.EINTR,
        errno.ENETDOWN,
        errno.ENOPROTOOPT,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
        errno.EOPNOTSUPP,
        errno.ENETUNREACH,
    }
)
#: Seconds between turns of the loop at most while ``each_turn`` asks
#: for them (the fork mode, while children run: each turn reaps them).
TURN_INTERVAL = 0.05
#: Connections accepted per wake-up of the loop at most.
ACCEPT_BATCH = 64
#: Connections the loop holds at most (not yet accepted, or lingering after
#: their association): past it, the oldest one not being accepted is closed
#: for each new one, so that a flood of silent connections cannot keep a
#: real peer out until ARTIM frees them (a real peer asks at once).
MAX_PENDING = 256


class Watch(Protocol):
    """What the server is told of one connection while this loop holds it:
    its notification events, and what crosses it (bytes, and the state
    machine's transitions), so that handlers see an acceptor's connection
    from its first byte as pynetdicom reports it (EVT_DATA_*, EVT_PDU_*,
    EVT_FSM_TRANSITION of Sta1 to Sta2, Sta3, Sta6 or Sta13)."""

    def notify(self, event: EventType, request: AssociateRQ | None) -> None:
        """``event`` happened (EVT_CONN_OPEN...); ``request`` once received."""

    def received(self, data: BytesLike) -> None:
        """Bytes read from the peer."""

    def sent(self, data: BytesLike) -> None:
        """Bytes written to the peer."""

    def transitions(self, conn: Connection) -> None:
        """Report the engine's transitions since the last call."""


#: Hands an accepted association to a worker: the socket (blocking again),
#: its Connection, the bytes still to write (the tail of the AC), its PDU
#: trace if debugging, and its watch.
HandOff = Callable[[socket.socket, Connection, bytes, PduTrace | None, Watch | None], None]
#: Checks the user identity of a request (PS3.7 D.3.3.7): (accepted, server
#: response); called in a worker thread, never in the loop.
CheckIdentity = Callable[[AssociateRQ, Watch | None], tuple[bool, bytes | None]]
#: Makes the watch of a new connection (see :class:`Watch`).
NewWatch = Callable[[socket.socket], Watch]
#: The application's answers to a request's extended negotiation, or None
#: to leave it to the AE's configuration.
NegotiationAnswerer = Callable[[AssociateRQ, Watch | None], NegotiationAnswers | None]
#: Identity checks run at once at most (more wait their turn).
IDENTITY_WORKERS = 4


class _Pending:
    """A connection whose association is not accepted yet."""

    __slots__ = (
        "accepted",
        "claimed",
        "conn",
        "given_back",
        "handshaking",
        "out",
        "sock",
        "trace",
        "watch",
    )

    def __init__(
        self,
        sock: socket.socket,
        conn: Connection,
        *,
        handshaking: bool,
        watch: Watch | None = None,
    ) -> None:
        self.sock = sock
        self.watch = watch
        self.conn = conn
        self.out = bytearray()
        self.handshaking = handshaking
        self.trace = trace_if_debugging()
        #: Accepted: the AC is being written, then the worker takes over.
        self.accepted = False
        #: Holds one of the AE's association slots (to free if dropped).
        self.claimed = False
        #: Served by a worker, back here to wait for the peer's close (Sta13).
        self.given_back = False


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
        displace: Callable[[], bool],
        hand_off: HandOff,
        ssl_context: ssl.SSLContext | None,
        check_identity: CheckIdentity | None = None,
        checks_identity: Callable[[], bool] | None = None,
        wake_up: Callable[[], None] | None = None,
        watch: NewWatch | None = None,
        negotiation_answers: NegotiationAnswerer | None = None,
        each_turn: Callable[[], bool] | None = None,
    ) -> None:
        self.listener = listener
        #: Called at every turn of the loop (the fork mode reaps its
        #: children there); True while it wants to be called again soon.
        self.each_turn = each_turn
        #: The application's answers to a request's extended negotiation
        #: (its EVT_ASYNC_OPS, EVT_SOP_EXTENDED, EVT_SOP_COMMON handlers),
        #: asked in this loop just before negotiating: they must be quick.
        self.negotiation_answers = negotiation_answers
        self.check_identity = check_identity
        #: Whether identities are checked now (None: whenever check_identity is given).
        self.checks_identity = checks_identity
        #: Makes what is told of each connection's events until it is
        #: handed off (see :class:`Watch`): opened, requested, rejected,
        #: closed, and the bytes and transitions.
        self.watch = watch
        #: Wakes the loop from another thread (an identity check done).
        self.wake_up = wake_up
        self._identity_pool: ThreadPoolExecutor | None = None
        self._identified: queue.SimpleQueue[
            tuple[_Pending, AssociateRQ, Future[tuple[bool, bytes | None]]]
        ] = queue.SimpleQueue()
        self.wake = wake
        self.new_connection = new_connection
        self.config = config
        self.claim = claim
        self.release = release
        #: At the limit: frees the slot of an association idle long enough
        #: (True), or finds none (False).
        self.displace = displace
        self.hand_off = hand_off
        self.ssl_context = ssl_context
        self.selector = selectors.DefaultSelector()
        self.pending: dict[socket.socket, _Pending] = {}
        self._accept_paused_until: float | None = None
        self._evicting = False  # warned once that the limit was reached
        self._turn_again = False  # each_turn wants another turn soon
        self._returned: queue.SimpleQueue[
            tuple[socket.socket, Connection, PduTrace | None, Watch | None]
        ] = queue.SimpleQueue()

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
                        self._take_back()
                        self._take_identified()
                    elif key.fileobj is self.listener:
                        self._accept()
                    else:
                        pending = self.pending.get(key.fileobj)  # type: ignore[call-overload]
                        if pending is not None:
                            self._guarded(pending, self._service, mask)
                self._fire_timers()
                if self.each_turn is not None:
                    self._turn_again = self.each_turn()
        finally:
            self._take_back()
            if self._identity_pool is not None:
                self._identity_pool.shutdown(wait=False, cancel_futures=True)
            for pending in list(self.pending.values()):
                self._drop(pending)
            self.selector.close()

    def give_back(
        self,
        sock: socket.socket,
        conn: Connection,
        trace: PduTrace | None,
        watch: Watch | None = None,
    ) -> None:
        """From a worker: a connection whose association has ended (Sta13) and
        that now only waits for the peer to close or ARTIM; the loop keeps it,
        the worker is free (``watch`` is told of its last bytes and
        transitions).  Thread-safe; the caller then wakes the loop."""
        self._returned.put((sock, conn, trace, watch))

    def _take_back(self) -> None:
        while True:
            try:
                sock, conn, trace, watch = self._returned.get_nowait()
            except queue.Empty:
                return
            sock.setblocking(False)
            pending = _Pending(sock, conn, handshaking=False, watch=watch)
            pending.trace = trace
            pending.given_back = True  # its worker told of EVT_CONN_CLOSE
            self.pending[sock] = pending
            self.selector.register(sock, selectors.EVENT_READ)

    def close_in_child(self) -> None:
        """In a child forked for one association: close this process' copies
        of the listener and of every connection the parent holds (the
        parent's stay open), so that only the parent answers them."""
        for sock in (self.listener, self.wake, *self.pending):
            sock.close()
        self.pending.clear()

    def _guarded(self, pending: _Pending, step: Callable[..., None], *args: object) -> None:
        """Run one step for one connection; an error drops that connection only."""
        try:
            step(pending, *args)
        except Exception:
            LOGGER.exception("dropping a connection after an unexpected error")
            self._drop(pending)

    # ---------------------------------------------------------------- timing

    def _timeout(self) -> float | None:
        deadlines = [p.conn.next_deadline for p in self.pending.values()]
        deadlines.append(self._accept_paused_until)
        if self._turn_again:
            deadlines.append(time.monotonic() + TURN_INTERVAL)
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
                self._guarded(pending, self._expire, now)

    def _expire(self, pending: _Pending, now: float) -> None:
        pending.conn.handle_timeout(now=now)
        self._progress(pending)

    # ------------------------------------------------------------- accepting

    def _accept(self) -> None:
        # A bounded batch per wake-up, so that the other connections are served too.
        for _ in range(ACCEPT_BATCH):
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in _TRANSIENT_ERRORS:
                    continue  # that connection failed on its own (accept(2), "Errors")
                # Out of descriptors or memory, or anything unforeseen: pause, never end.
                LOGGER.error("Cannot accept a connection (%s); pausing", exc.strerror or exc)
                self.selector.unregister(self.listener)
                self._accept_paused_until = time.monotonic() + ACCEPT_PAUSE
                return
            try:
                pending = self._new_pending(sock)
            except Exception:
                LOGGER.exception("cannot set up an accepted connection")
                sock.close()
                continue
            if len(self.pending) >= MAX_PENDING:
                self._evict_oldest()
            self.pending[pending.sock] = pending
            self.selector.register(pending.sock, selectors.EVENT_READ)
            self._notify(EVT_CONN_OPEN, pending)
            self._transitions(pending)  # Sta1 to Sta2 (AE-5)
            if pending.handshaking:
                self._guarded(pending, self._handshake)

    def _evict_oldest(self) -> None:
        """Close the connection held longest that is not being accepted."""
        for pending in self.pending.values():  # in the order they came
            if not pending.accepted:
                if not self._evicting:
                    LOGGER.warning(
                        "%d connections without an association: closing the oldest ones",
                        MAX_PENDING,
                    )
                self._evicting = True
                self._drop(pending)
                return

    def _new_pending(self, sock: socket.socket) -> _Pending:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        conn = self.new_connection()
        watch = None if self.watch is None else self.watch(sock)
        pending = _Pending(sock, conn, handshaking=self.ssl_context is not None, watch=watch)
        if watch is not None:
            watch.transitions(conn)  # records them from AE-5 on, if wanted
        conn.transport_connected(now=time.monotonic())  # starts ARTIM
        pending.out += conn.data_to_send()
        return pending

    # ------------------------------------------------------------ one socket

    def _service(self, pending: _Pending, mask: int) -> None:
        if pending.handshaking:
            self._handshake(pending)
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(pending)
            if pending.accepted and not pending.out:
                self._hand_off(pending)
                return
        if mask & selectors.EVENT_READ and not pending.accepted:
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
        except (ssl.SSLEOFError, ConnectionResetError) as exc:
            # Closed before a handshake began or finished: a load balancer's
            # health check, or a port scan; nothing to report above DEBUG.
            LOGGER.debug("connection closed during the TLS handshake: %s", exc)
            self._drop(pending)
            return
        except (ssl.SSLError, OSError) as exc:
            LOGGER.error("TLS handshake with a peer failed: %s", exc)
            self._drop(pending)
            return
        pending.handshaking = False
        self._progress(pending)

    def _read(self, pending: _Pending) -> None:
        """One read per readiness event: a peer that never stops sending
        cannot keep the loop from the others, or from its timers."""
        try:
            data = pending.sock.recv(RECEIVE_SIZE)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:
            data = b""
        if pending.trace is not None and data:
            pending.trace.received(data)
        if pending.watch is not None and data:
            pending.watch.received(data)
        pending.conn.receive_data(data, now=time.monotonic())
        self._progress(pending)

    def _progress(self, pending: _Pending) -> None:
        """Take the engine's events; negotiate a request; hand off or close."""
        conn = pending.conn
        closed = False
        while (event := conn.next_event()) is not NEED_DATA:
            closed |= isinstance(event, ConnectionClosed)
            if isinstance(event, AssociationRequested):
                self._transitions(pending)  # Sta2 to Sta3 (AE-6)
                self._notify(EVT_REQUESTED, pending, event.request)
                if self._identity_to_check(event.request):
                    self._start_identity_check(pending, event.request)
                    continue  # the loop negotiates once the check is done
                self._negotiate(pending, event.request)
                if conn.negotiated is not None:
                    self._write_acceptance(pending)
                    return
        pending.out += conn.data_to_send()
        self._flush(pending)
        if pending.sock in self.pending and closed:
            self._drop(pending)  # closed, timed out, or done after a rejection

    def _write_acceptance(self, pending: _Pending) -> None:
        """Write the AC here; the worker starts once it is out."""
        pending.accepted = True
        pending.out += pending.conn.data_to_send()
        self._flush(pending)
        if not pending.out and pending.sock in self.pending:
            self._hand_off(pending)

    # -------------------------------------------------------- user identity

    def _identity_to_check(self, request: AssociateRQ) -> bool:
        return (
            self.check_identity is not None
            and (self.checks_identity is None or self.checks_identity())
            and asserted_identity(request) is not None
        )

    def _start_identity_check(self, pending: _Pending, request: AssociateRQ) -> None:
        assert self.check_identity is not None
        if self._identity_pool is None:
            self._identity_pool = ThreadPoolExecutor(
                max_workers=IDENTITY_WORKERS, thread_name_prefix="dicomul-identity"
            )
        future = self._identity_pool.submit(self.check_identity, request, pending.watch)

        def done(finished: Future[tuple[bool, bytes | None]]) -> None:
            self._identified.put((pending, request, finished))
            if self.wake_up is not None:
                self.wake_up()

        future.add_done_callback(done)

    def _take_identified(self) -> None:
        """Negotiate the requests whose identity checks are done."""
        while True:
            try:
                pending, request, future = self._identified.get_nowait()
            except queue.Empty:
                return
            if pending.sock not in self.pending:
                continue  # gone meanwhile (closed, evicted)
            self._guarded(pending, self._finish_identified, request, future)

    def _finish_identified(
        self, pending: _Pending, request: AssociateRQ, future: Future[tuple[bool, bytes | None]]
    ) -> None:
        try:
            result = future.result()
        except Exception:
            LOGGER.exception("the user identity check failed: rejecting the association")
            result = (False, None)
        try:
            self._negotiate(pending, request, user_identity_result=result)
        except LocalProtocolError:  # the peer aborted or went away while it was checked
            LOGGER.info("Association gone while its user identity was checked")
            self._drop(pending)
            return
        if pending.conn.negotiated is not None:
            self._write_acceptance(pending)
        else:
            pending.out += pending.conn.data_to_send()
            self._flush(pending)
            if not result[0]:
                LOGGER.warning("Association Rejected: user identity not accepted")

    def _negotiate(
        self,
        pending: _Pending,
        request: AssociateRQ,
        *,
        user_identity_result: tuple[bool, bytes | None] | None = None,
    ) -> None:
        LOGGER.info("Association Received")
        others = self.claim()
        try:
            config = self.config()
            if (
                others >= config.maximum_associations
                and only_the_limit_refuses(request, config)
                and self.displace()
            ):
                others -= 1  # the displaced association's slot is free
            pending.conn.send(
                AcceptAssociation(
                    config=config,
                    active_associations=others,
                    user_identity_result=user_identity_result,
                    peer_address=_peer_ip(pending.sock),
                    negotiation_answers=None
                    if self.negotiation_answers is None
                    else self.negotiation_answers(request, pending.watch),
                ),
                now=time.monotonic(),
            )
        except BaseException:
            self.release()
            raise
        self._transitions(pending)  # Sta3 to Sta6 (AE-7) or Sta13 (AE-8)
        if pending.conn.negotiated is None:
            self.release()  # rejected: holds no slot (PS3.8 9.3.4)
            LOGGER.info("Association Rejected")
            self._notify(EVT_REJECTED, pending, request)
        else:
            pending.claimed = True

    def _flush(self, pending: _Pending) -> None:
        self._transitions(pending)
        if pending.handshaking or pending.sock not in self.pending:
            return
        try:
            while pending.out:
                sent = pending.sock.send(pending.out)
                if pending.trace is not None or pending.watch is not None:
                    written = bytes(pending.out[:sent])
                    if pending.trace is not None:
                        pending.trace.sent(written)
                    if pending.watch is not None and written:
                        pending.watch.sent(written)
                del pending.out[:sent]
                pending.conn.wrote(now=time.monotonic())  # a write done is progress
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass
        except OSError:
            pending.out.clear()
            pending.conn.receive_data(b"", now=time.monotonic())
        reading = 0 if pending.accepted else selectors.EVENT_READ
        events = reading | (selectors.EVENT_WRITE if pending.out else 0)
        self.selector.modify(pending.sock, events or selectors.EVENT_READ)

    def _hand_off(self, pending: _Pending) -> None:
        del self.pending[pending.sock]
        self.selector.unregister(pending.sock)
        pending.sock.setblocking(True)
        pending.claimed = False  # the worker owns the slot now
        try:
            self.hand_off(
                pending.sock, pending.conn, bytes(pending.out), pending.trace, pending.watch
            )
        except BaseException:
            self.release()
            pending.sock.close()
            raise

    def _drop(self, pending: _Pending) -> None:
        self._transitions(pending)
        if self.pending.pop(pending.sock, None) is not None:
            self.selector.unregister(pending.sock)
            if not pending.accepted and not pending.given_back:
                self._notify(EVT_CONN_CLOSE, pending)
        if pending.claimed:
            pending.claimed = False
            self.release()
        pending.sock.close()

    def _notify(
        self, event: EventType, pending: _Pending, request: AssociateRQ | None = None
    ) -> None:
        """Tell the server's handlers of ``event`` (they log their own failures)."""
        if pending.watch is not None:
            try:
                pending.watch.notify(event, request)
            except Exception:
                LOGGER.exception("event notification failed")

    def _transitions(self, pending: _Pending) -> None:
        """Report the state machine's transitions so far (EVT_FSM_TRANSITION)."""
        if pending.watch is not None:
            try:
                pending.watch.transitions(pending.conn)
            except Exception:
                LOGGER.exception("event notification failed")


def _peer_ip(sock: socket.socket) -> str | None:
    """The peer's IP address (None if the socket has none any more)."""
    try:
        return str(sock.getpeername()[0])
    except (OSError, IndexError):
        return None
