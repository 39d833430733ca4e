"""The SCP side of the blocking transport: accept associations and serve them.

Concurrency (chosen on the bench, bench/README.md "Concurrency model"): one
``selectors`` loop (:mod:`._accept`, woken by a socket pair so that
:meth:`Server.stop` interrupts it at once, no polling) accepts connections
and negotiates their associations without blocking; each accepted
association then gets a worker thread from a pool of
``maximum_associations + 1``, which runs the same socket loop as the SCU side
around its :class:`dicomul.Connection`.  The engine decides everything,
including rejecting an association over the limit (A-ASSOCIATE-RJ 2/3/2,
local limit exceeded).  A handler that raises becomes a failure status to
the peer and a logged traceback; the server goes on.

Association slots: at the limit, a new peer whose request would otherwise
be accepted takes the slot of the association idle longest, if idle at
least ``AE.displace_idle_after`` seconds (:mod:`dicomul._idle` defines idle:
no operation in this side's hands and no progress from the peer, so a peer
trickling a message a byte at a time is idle, one making progress never
is).  That association gets an A-P-ABORT (source service-provider, reason
not specified, PS3.8 Table 9-26), logged as a warning.  Each worker holds
its association's lock (:class:`._socket_io.Waker`) except while it waits
for the peer: the accept loop looks at an association only with that lock
taken, so it sees the engine at rest and the worker aborts in exactly the
state that was judged idle.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from dicomul_common.negotiation import (
    NEGOTIATION_EVENTS,
    asserted_identity,
    identity_verdict,
    negotiation_answers,
    negotiation_questions,
    supported_by_sop_class,
)

from dicomul import (
    EVT_ABORTED,
    EVT_ACCEPTED,
    EVT_CONN_CLOSE,
    EVT_RELEASED,
    EVT_USER_ID,
    Abort,
    Aborted,
    AcceptorConfig,
    BytesLike,
    CommandReceived,
    Connection,
    ConnectionClosed,
    DataSetFragment,
    EventType,
    Negotiated,
    NegotiationAnswers,
    ReleaseRequested,
    Role,
    longest_idle,
)

from ._accept import AcceptLoop, HandOff, Watch
from ._channel import Channel
from ._events import (
    Event,
    EventHandlers,
    HandlerRegistry,
    ServiceUser,
    WireEvents,
    notify,
)
from ._services import Services
from ._socket_io import Waker
from ._trace import PduTrace

if TYPE_CHECKING:
    from dicomul.pdu import AssociateRQ

    from ._events import Handler
    from ._handlers import AcceptorSettings, OpenAssociation

__all__ = ["ServedAssociation", "Server", "listen"]

LOGGER = logging.getLogger("dicomul.sync.server")

#: What an AE whose settings describe no usable configuration answers.
OUT_OF_SERVICE = AcceptorConfig(ae_title="DICOMUL", supported={}, out_of_service=True)


class Server:
    """Serve one AE's SCP side until :meth:`stop`.

    ``ae`` is the AE as far as its SCP side uses it
    (:class:`._handlers.AcceptorSettings`); ``open_association`` requests
    the associations a C-MOVE's sub-operations go over (the AE's: see
    :class:`._services.Services`, which fails them without one).
    """

    def __init__(
        self,
        ae: AcceptorSettings,
        ssl_context: ssl.SSLContext | None = None,
        *,
        open_association: OpenAssociation | None = None,
        registry: HandlerRegistry | None = None,
        fork: bool = False,
    ) -> None:
        self.ae = ae
        if fork and not hasattr(os, "fork"):
            raise ValueError("a process per association (fork) needs a POSIX system")
        #: A child process per association, not a thread (see :meth:`_serve_forking`).
        self.fork = fork
        #: The children serving associations (fork mode): pid to nothing.
        self._children: dict[int, None] = {}
        self.open_association = open_association
        #: The event handlers bound for this server: each association it
        #: serves starts with a copy (see :mod:`._events`).
        self.registry = registry if registry is not None else HandlerRegistry()
        #: With a context, every connection is TLS (PS3.15 B.1): the accept
        #: loop runs the handshake, bounded by ARTIM like the request.
        self.ssl_context = ssl_context
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_writer.setblocking(False)
        self._active = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.listener: socket.socket | None = None
        self._loop: AcceptLoop | None = None
        # The sockets of the associations workers serve (for stop(abort=True)).
        self._active_sockets: set[socket.socket] = set()
        self._aborting = False
        # The last error building the acceptor configuration (logged once).
        self._config_problem: str | None = None
        # The associations workers serve (for displacement), under _lock.
        self._handlers: set[_Handler] = set()

    def config(self) -> AcceptorConfig:
        """The acceptor configuration the AE's attributes describe.

        If they describe none (a setting changed after it was checked, such
        as a list of required titles appended to), every request is rejected
        (RJ 2/1/1, :data:`OUT_OF_SERVICE`) and the error logged once, not a
        traceback per peer: the server goes on, and serves again once the
        setting is fixed.
        """
        try:
            config = acceptor_config(self.ae)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
            if problem != self._config_problem:
                self._config_problem = problem
                LOGGER.error("The AE's settings are unusable, rejecting associations: %s", problem)
            return OUT_OF_SERVICE
        if self._config_problem is not None:
            self._config_problem = None
            LOGGER.info("The AE's settings are usable again")
        return config

    def bind(self, host: str = "", port: int | None = None) -> int:
        """Open the listening socket on ``host`` (see :func:`listen`) and
        ``port`` (default the AE's); return the port (useful with port 0)."""
        listener = listen(host, self.ae.port if port is None else port)
        self.listener = listener
        return int(listener.getsockname()[1])

    @property
    def active_associations(self) -> list[ServedAssociation]:
        """The associations being served now (a snapshot): each from the
        moment a worker takes it, just after the A-ASSOCIATE-AC is sent and
        before any request is answered, until it ends."""
        with self._lock:
            return [handler for handler in self._handlers if handler.counted]

    def serve(self) -> None:
        """Accept and serve associations until :meth:`stop` is called.

        Returns once the associations in progress have ended; connections
        not yet associated are closed at once.
        """
        if self.listener is None:
            self.bind()
        assert self.listener is not None
        if self.fork:
            self._serve_forking(self.listener)
            return
        with ThreadPoolExecutor(
            max_workers=self.ae.maximum_associations + 1, thread_name_prefix="dicomul-assoc"
        ) as pool:

            def hand_off(
                sock: socket.socket,
                conn: Connection,
                out: bytes,
                trace: PduTrace | None,
                watch: Watch | None,
            ) -> None:
                self._active_sockets.add(sock)  # before stop(abort=True) can miss it
                pool.submit(self._serve_one, sock, conn, out, trace, watch)

            self._run_loop(self.listener, hand_off)

    def _run_loop(
        self,
        listener: socket.socket,
        hand_off: HandOff,
        each_turn: Callable[[], bool] | None = None,
    ) -> None:
        self._loop = loop = AcceptLoop(
            listener,
            self._wake_reader,
            new_connection=self._new_connection,
            config=self.config,
            claim=self.claim_association,
            release=self.release_association,
            displace=self.displace_idle,
            hand_off=hand_off,
            ssl_context=self.ssl_context,
            check_identity=self.check_identity,
            checks_identity=self.checks_identity,
            wake_up=self._wake,
            watch=self._watch_connection,
            negotiation_answers=self.negotiation_answers,
            each_turn=each_turn,
        )
        try:
            loop.run(self._stopping.is_set)
        finally:
            listener.close()
            self._wake_reader.close()
            self._wake_writer.close()

    # ------------------------------------------------------------ fork mode

    def _serve_forking(self, listener: socket.socket) -> None:
        """Fork mode (DCMTK's ``--fork``): the accept loop, in this thread,
        forks a child for each accepted association; the child serves it in
        its main thread and exits; this process holds the association's slot
        until it reaps the child, so ``maximum_associations`` counts the
        children.  Returns once every child has ended (``stop(abort=True)``
        sends them SIGTERM)."""
        try:
            self._run_loop(listener, self._fork_one, each_turn=self._reap)
        finally:
            if self._aborting:
                self._signal_children()
            while self._children:
                self._reap(block=True)

    def _fork_one(
        self,
        sock: socket.socket,
        conn: Connection,
        out: bytes,
        trace: PduTrace | None,
        watch: Watch | None,
    ) -> None:
        """Fork a child to serve this accepted association (it holds a slot,
        freed when the child is reaped); the parent keeps only its pid."""
        pid = os.fork()
        if pid:
            self._children[pid] = None
            sock.close()  # the child's copy serves it
            LOGGER.debug("association handed to child process %d", pid)
            return
        status = 1
        try:
            # Ctrl-C reaches the whole process group: the parent decides
            # (a stop waits for the children); SIGTERM ends the child.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            assert self._loop is not None
            self._loop.close_in_child()
            self._loop = None  # a connection left in Sta13 is closed, not given back
            self._children.clear()
            LOGGER.info("Serving the association in child process %d", os.getpid())
            self._serve_one(sock, conn, out, trace, watch)
            status = 0
        except BaseException:
            LOGGER.exception("child process %d failed", os.getpid())
        finally:
            for handler in logging.getLogger().handlers:
                with contextlib.suppress(Exception):
                    handler.flush()
            os._exit(status)

    def _reap(self, *, block: bool = False) -> bool:
        """Free the slots of the children that have ended (any one, if
        ``block``, waiting for it); True while some still run."""
        for pid in list(self._children):
            try:
                done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done == 0:
                continue
            del self._children[pid]
            self.release_association()
            code = os.waitstatus_to_exitcode(status)
            if code:
                LOGGER.warning("child process %d serving an association ended with %d", pid, code)
            if block:
                break
        return bool(self._children)

    def _signal_children(self) -> None:
        for pid in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def stop(self, *, abort: bool = False) -> None:
        """Stop accepting; returns at once.  :meth:`serve` returns when the
        associations in progress have ended; with ``abort`` they end now
        (their connections are shut down, as if each peer had vanished).
        Safe from a signal handler."""
        if abort:
            self._aborting = True
        self._stopping.set()
        self._wake()
        if abort:
            for sock in list(self._active_sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    # ------------------------------------------------------ event handlers

    def bind_handler(
        self, event: EventType, handler: Handler, args: Sequence[object] | None = None
    ) -> None:
        """Bind ``handler`` for this server's new associations and those it serves now."""
        self.registry.bind(event, handler, args)
        for association in self.active_associations:
            association.bind(event, handler, args)

    def unbind_handler(self, event: EventType, handler: Handler) -> None:
        """Unbind ``handler`` from this server and the associations it serves now."""
        self.registry.unbind(event, handler)
        for association in self.active_associations:
            association.unbind(event, handler)

    def _watch_connection(self, sock: socket.socket) -> Connecting:
        """What the accept loop tells of a new connection, before (and
        unless) a worker serves its association: EVT_CONN_OPEN,
        EVT_REQUESTED, EVT_REJECTED, EVT_CONN_CLOSE, and the bytes, PDUs and
        transitions (see :class:`Connecting`)."""
        return Connecting(_peer_address(sock), None, registry=self.registry)

    def checks_identity(self) -> bool:
        """Whether a requestor's user identity is checked (an EVT_USER_ID
        handler or ``on_user_identity``): else it is ignored, as PS3.7 allows."""
        return bool(self.registry.handlers(EVT_USER_ID)) or self.ae.on_user_identity is not None

    def check_identity(
        self, request: AssociateRQ, peer: Watch | None = None
    ) -> tuple[bool, bytes | None]:
        """The verdict on a request's user identity (PS3.7 D.3.3.7): the
        EVT_USER_ID handler's (is_verified, server response), else the AE's
        ``on_user_identity(identity, calling_ae_title)``: True or False, or
        (accepted, server response).  Run in a worker thread."""
        handler = self.ae.on_user_identity
        identity = asserted_identity(request)
        if identity is None:
            return True, None
        bound = self.registry.handlers(EVT_USER_ID)
        if bound:
            event_handler, args = bound[0]
            event = Event(
                _connecting(peer, request),
                EVT_USER_ID,
                {
                    "user_id_type": int(identity.identity_type),
                    "primary_field": identity.primary_field,
                    "secondary_field": identity.secondary_field,
                    "positive_response_requested": identity.positive_response_requested,
                },
            )
            return identity_verdict(event_handler(event, *args))
        if handler is None:
            return True, None
        return identity_verdict(handler(identity, request.calling_aet))

    def negotiation_answers(
        self, request: AssociateRQ, peer: Watch | None = None
    ) -> NegotiationAnswers | None:
        """The answers of the EVT_ASYNC_OPS, EVT_SOP_EXTENDED and
        EVT_SOP_COMMON handlers to what ``request`` negotiates (PS3.7
        D.3.3.3, D.3.3.5, D.3.3.6), asked only for the parts it negotiates;
        None where no handler is bound (the AE's settings decide).  A
        handler that raises, or answers what cannot be sent, is logged and
        answers nothing, as if the request had not asked."""
        bound = [event for event in NEGOTIATION_EVENTS if self.registry.handlers(event)]
        if not bound:
            return None
        assoc = _connecting(peer, request)
        replies: dict[EventType, object] = {}
        for event_type, attributes in negotiation_questions(request, bound).items():
            handler, args = self.registry.handlers(event_type)[0]
            try:
                replies[event_type] = handler(Event(assoc, event_type, attributes), *args)
            except Exception as exc:  # logged by negotiation_answers
                replies[event_type] = exc
        return negotiation_answers(bound, replies)

    # ---------------------------------------------------------- one association

    def claim_association(self) -> int:
        """Count one more association; return how many were open before it."""
        if self._children:
            self._reap()  # fork mode: a child just ended frees its slot first
        with self._lock:
            self._active += 1
            return self._active - 1

    def release_association(self) -> None:
        with self._lock:
            self._active -= 1

    def release_slot(self, handler: _Handler) -> None:
        """Free ``handler``'s slot, once: from its worker, or from the accept
        loop displacing it (hence the check under the lock)."""
        with self._lock:
            if handler.counted:
                handler.counted = False
                self._active -= 1

    def displace_idle(self) -> bool:
        """At the association limit: abort the association idle longest, if
        idle at least ``AE.displace_idle_after`` seconds, and free its slot.

        True if one was displaced.  Called by the accept loop; an association
        whose worker is busy (its lock taken) is not idle.
        """
        after = self.ae.displace_idle_after
        if after is None:
            return False
        with self._lock:
            handlers = list(self._handlers)
        now = time.monotonic()
        with contextlib.ExitStack() as held:
            idle: dict[_Handler, float | None] = {}
            for handler in handlers:
                if handler.waker.lock.acquire(blocking=False):
                    held.callback(handler.waker.lock.release)
                    idle[handler] = handler.idle_for(now)
            chosen = longest_idle(idle, at_least=after)
            if chosen is None:
                return False
            idle_for = idle[chosen]
            assert idle_for is not None
            chosen.displace(idle_for)
        return True

    def _new_connection(self) -> Connection:
        ae = self.ae
        return Connection(
            Role.ACCEPTOR,
            acse_timeout=ae.acse_timeout,
            dimse_timeout=ae.dimse_timeout,
            network_timeout=ae.network_timeout,
        )

    def _serve_one(
        self,
        sock: socket.socket,
        conn: Connection,
        out: bytes,
        trace: PduTrace | None,
        watch: Watch | None = None,
    ) -> None:
        """A worker: serve one accepted association (it holds a slot) until it
        ends; a connection left waiting for the peer to close (Sta13) goes
        back to the accept loop, so no worker waits out ARTIM."""
        try:
            handler = _Handler(self, sock, conn, trace, watch)
        except Exception:  # out of descriptors for its Waker, say
            LOGGER.exception("cannot serve an accepted association")
            self._active_sockets.discard(sock)
            sock.close()
            self.release_association()
            return
        if self._aborting:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with handler.waker.lock:  # released only while waiting for the peer
            with self._lock:
                self._handlers.add(handler)
            try:
                handler.channel.write(out)
                handler.run()
            except Exception:  # a failure in one association must not reach the pool
                LOGGER.exception("association ended by an error")
                handler.abort()
            finally:
                with self._lock:
                    self._handlers.discard(handler)
                self._active_sockets.discard(sock)
                handler.finish()
                loop = self._loop
                # An association over on a connection the engine has not
                # closed is the acceptor's wait for the peer's close (Sta13,
                # bounded by ARTIM): the loop waits, the worker is freed.
                parked = conn.association_over and not handler.closed
                if parked and handler.channel.sock is not None and loop:
                    loop.give_back(
                        handler.channel.sock, conn, handler.channel.trace, handler.connecting
                    )
                    self._wake()
                else:
                    handler.channel.close()
        handler.waker.close()

    def _wake(self) -> None:
        # OSError: the loop has ended and closed the pair, or the pipe is
        # full of wake-ups already (it is non-blocking): either way, done.
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")


class _Handler:
    """One association in the acceptor role: the socket loop; the services
    themselves are :class:`Services`.  Read from other threads through
    :class:`ServedAssociation` (``Server.active_associations``)."""

    def __init__(
        self,
        server: Server,
        sock: socket.socket,
        conn: Connection,
        trace: PduTrace | None,
        watch: Watch | None = None,
    ) -> None:
        self.server = server
        self.ae = server.ae
        # True while this connection holds one of the AE's association slots
        # (the accept loop claimed it when it accepted the association).
        self.counted = True
        self.conn = conn
        #: Set by displace(): the seconds the association had been idle.
        self.displaced_after: float | None = None
        self.waker = Waker(self._displaced)
        self.channel = Channel(
            conn, sock, before_write=self._before_write, trace=trace, waker=self.waker
        )
        #: This association's event handlers: a copy of its server's.
        self.registry = server.registry.copy()
        handlers = EventHandlers(self.ae, self.registry, self)
        self.services = Services(handlers, self.channel, open_association=server.open_association)
        handlers.cancelled = self.services.is_cancelled
        #: True once the engine said to close the connection (ConnectionClosed).
        self.closed = False
        #: The peer's (host, port), IPv4 or IPv6.
        self.address: tuple[str, int] = _peer_address(sock)
        #: What the accept loop reported this connection through: from
        #: here on it reports as this association (its bytes, PDUs and
        #: transitions go on from where the loop left them).
        self.connecting = watch if isinstance(watch, Connecting) else None

    @property
    def negotiated(self) -> Negotiated | None:
        """What was agreed with the peer."""
        return self.conn.negotiated

    @property
    def requestor(self) -> ServiceUser:
        """The peer: its AE title (once negotiated) and address (pynetdicom's)."""
        negotiated = self.conn.negotiated
        title = "" if negotiated is None else negotiated.calling_ae_title
        return ServiceUser(title, *self.address)

    @property
    def acceptor(self) -> ServiceUser:
        """This side: the AE title it was called by, and where it listens."""
        negotiated = self.conn.negotiated
        title = self.ae.ae_title if negotiated is None else negotiated.called_ae_title
        host, port = "", 0
        with contextlib.suppress(OSError):
            if self.channel.sock is not None:
                host, port = self.channel.sock.getsockname()[:2]
        return ServiceUser(title, str(host), int(port))

    def bind(
        self, event: EventType, handler: Handler, args: Sequence[object] | None = None
    ) -> None:
        """Call ``handler(event, *args)`` for ``event`` on this association."""
        self.registry.bind(event, handler, args)

    def unbind(self, event: EventType, handler: Handler) -> None:
        """Stop calling ``handler`` for ``event`` on this association."""
        self.registry.unbind(event, handler)

    def get_handlers(self, event: EventType) -> object:
        """What is bound to ``event`` here (see :meth:`HandlerRegistry.get_handlers`)."""
        return self.registry.get_handlers(event)

    def _event(self, event: EventType, **attributes: object) -> None:
        notify(self.registry, self, event, **attributes)

    @property
    def is_established(self) -> bool:
        """True until the association is released or aborted."""
        return not self.conn.association_over

    def run(self) -> None:
        conn = self.conn
        LOGGER.info("Association Acknowledged")
        # From here on (the A-ASSOCIATE-AC is out): bytes, PDUs, messages,
        # on the loop's observer when there is one (PDUs framed from the start).
        if self.connecting is not None:
            # The loop's observer goes on, told to this association's handlers.
            wire = self.channel.observer = self.connecting.wire
            wire.registry, wire.assoc = self.registry, self
        else:
            self.channel.observer = WireEvents(
                self.registry, self, frame_pdus=WireEvents.wanted(self.registry)
            )
        self.channel.observer.transitions(conn)
        self._event(EVT_ACCEPTED)
        self._notify(self.ae.on_association_accepted, conn.negotiated)
        while True:
            event = self.channel.next_event()
            if event is None or isinstance(event, ConnectionClosed):
                self.closed = True
                return
            self._handle(event)
            if self.channel.answer_release():  # due now (see release_to_answer)
                LOGGER.info("Association Released")
                self._event(EVT_RELEASED)
                self._notify(self.ae.on_association_released, conn.negotiated)
            if conn.association_over:
                self._release_slot()  # the association no longer exists
                for later in self.channel.remaining():  # ConnectionClosed, if due at once
                    if isinstance(later, ConnectionClosed):
                        self.closed = True
                    else:
                        self._handle(later)  # an abort of ours decided while serving, say
                return  # else the loop waits for the peer to close

    def _before_write(self) -> None:
        if self.counted and self.conn.association_over:
            # Free the slot before the peer can read our RJ/RP/A-ABORT and retry.
            self._release_slot()

    def _handle(self, event: object) -> None:
        if self.services.handle(event):
            return
        if isinstance(event, ReleaseRequested) and self.conn.association_over:
            # Held while a C-GET waited for a sub-operation's response, and
            # an A-ABORT came after it: the engine leaves nothing to answer.
            LOGGER.debug("release request of an association since aborted: ignored")
        elif isinstance(event, Aborted):
            if event.by_peer or event.connection_lost:
                LOGGER.info("Association Aborted")
            else:  # this side aborted: a timeout, a protocol error, a displacement
                LOGGER.warning("Association Aborted: %s", event.message)
            self._event(EVT_ABORTED)
            self._notify(self.ae.on_association_aborted, self.conn.negotiated)
        elif isinstance(event, CommandReceived | DataSetFragment):
            LOGGER.warning("Ignoring %r: no request of ours is outstanding", event)

    def idle_for(self, now: float) -> float | None:
        """Seconds idle (see :meth:`dicomul.Connection.idle_for`); None if not
        idle, displaced already, or holding no slot (ended: displacing it
        would free nothing).  Call with :attr:`waker`'s lock held."""
        if self.displaced_after is not None or not self.counted:
            return None
        return self.conn.idle_for(now)

    def displace(self, idle_for: float) -> None:
        """From the accept loop, :attr:`waker`'s lock held: give this
        association's slot to a new peer now; the worker sends the A-P-ABORT
        as soon as it runs (before it reads anything more)."""
        self.displaced_after = idle_for
        self._release_slot()
        self.waker.wake()

    def _displaced(self) -> None:
        """In the worker, woken by :meth:`displace`: the A-P-ABORT (PS3.8 7.4),
        logged as a warning when its Aborted event is handled."""
        self.conn.provider_abort(
            message=f"displaced at the association limit ({self.ae.maximum_associations}) "
            f"by a new peer, after {self.displaced_after:.0f} s idle "
            f"({_peer_name(self.channel.sock)})",
            now=time.monotonic(),
        )

    def abort(self) -> None:
        """After an unexpected error: A-ABORT the association if it still exists."""
        try:
            self.conn.send(Abort(), now=time.monotonic())
            self.channel.flush()
        except Exception:
            LOGGER.debug("no A-ABORT could be sent", exc_info=True)

    def _release_slot(self) -> None:
        self.server.release_slot(self)

    def finish(self) -> None:
        """The connection is gone: free its slot; keep nothing partial (PS3.4 B.2.3)."""
        self._release_slot()
        self.services.close()
        self._event(EVT_CONN_CLOSE, address=self.address)

    @staticmethod
    def _notify(handler: Callable[..., object], negotiated: Negotiated | None) -> None:
        """Run a notification handler; a raise is logged and changes nothing."""
        try:
            handler(negotiated)
        except Exception:
            LOGGER.exception("notification handler failed")


class Connecting:
    """A connection the server has not yet handed to a worker: what an
    acceptor's handler of EVT_CONN_OPEN, EVT_REQUESTED, EVT_REJECTED,
    EVT_USER_ID, and of the EVT_DATA_*, EVT_PDU_* and EVT_FSM_TRANSITION
    before the A-ASSOCIATE-AC is out, sees as ``event.assoc`` (one object
    for all of a connection's events until then): the peer's ``address``
    and, once received, its A-ASSOCIATE-RQ (``request``: ``calling_aet``,
    ``called_aet``, the contexts proposed); ``is_established`` is False.

    It is also the accept loop's :class:`._accept.Watch` of the connection:
    it runs the server's handlers (``registry``) for what the loop reports.
    """

    def __init__(
        self,
        address: tuple[str, int],
        request: AssociateRQ | None,
        *,
        registry: HandlerRegistry | None = None,
    ) -> None:
        self.address = address
        self.request = request
        self.is_established = False
        self.registry = registry if registry is not None else HandlerRegistry()
        #: The bytes, PDUs and transitions (PDUs framed from the first byte
        #: if a PDU handler is bound now); a worker carries it on.
        self.wire = WireEvents(self.registry, self, frame_pdus=WireEvents.wanted(self.registry))

    @property
    def negotiated(self) -> None:
        """Nothing is agreed before the association is accepted."""
        return None

    def notify(self, event: EventType, request: AssociateRQ | None) -> None:
        """Run the server's handlers of ``event`` (a :class:`._accept.Watch`)."""
        if request is not None:
            self.request = request
        notify(self.registry, self, event, address=self.address)

    def received(self, data: BytesLike) -> None:
        self.wire.received(data)

    def sent(self, data: BytesLike) -> None:
        self.wire.sent(data)

    def transitions(self, conn: Connection) -> None:
        self.wire.transitions(conn)

    @property
    def requestor(self) -> ServiceUser:
        """The peer: its AE title (once its request is in) and address."""
        title = "" if self.request is None else self.request.calling_aet
        return ServiceUser(title, *self.address)


class ServedAssociation(Protocol):
    """An association a server is serving, as ``active_associations`` shows it."""

    @property
    def address(self) -> tuple[str, int]:
        """The peer's (host, port)."""

    @property
    def negotiated(self) -> Negotiated | None:
        """What was agreed (contexts, AE titles, implementation, identity)."""

    @property
    def is_established(self) -> bool:
        """False once the association is released or aborted."""

    def bind(
        self, event: EventType, handler: Handler, args: Sequence[object] | None = None
    ) -> None:
        """Call ``handler(event, *args)`` for ``event`` on this association."""

    def unbind(self, event: EventType, handler: Handler) -> None:
        """Stop calling ``handler`` for ``event`` on this association."""

    def get_handlers(self, event: EventType) -> object:
        """What is bound to ``event`` on this association."""


def _connecting(peer: Watch | None, request: AssociateRQ) -> Connecting:
    """The connection a request came on, as a handler's ``event.assoc``."""
    if isinstance(peer, Connecting):
        peer.request = request
        return peer
    return Connecting(("?", 0), request)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port``.

    ``host`` '' listens on every IPv4 interface (as before bind addresses
    existed); an IPv6 address (``'::1'``, or ``'::'`` for every interface,
    which also takes IPv4 where the system allows dual-stack sockets) listens
    over IPv6; a name or IPv4 address on that interface only.
    """
    if ":" in host:
        dualstack = host == "::" and socket.has_dualstack_ipv6()
        return socket.create_server((host, port), family=socket.AF_INET6, dualstack_ipv6=dualstack)
    return socket.create_server((host, port), reuse_port=False)


def _peer_address(sock: socket.socket) -> tuple[str, int]:
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return ("?", 0)
    return str(host), int(port)


def _peer_name(sock: socket.socket | None) -> str:
    """``host:port`` of the peer, for the log."""
    try:
        host, port = sock.getpeername()[:2] if sock is not None else ("?", "?")
    except OSError:
        return "?"
    return f"{host}:{port}"


def acceptor_config(ae: AcceptorSettings) -> AcceptorConfig:
    """The acceptor configuration an AE's attributes describe (the rules,
    roles included, are the core's :meth:`dicomul.AcceptorConfig.for_sop_classes`).

    ``maximum_operations_performed`` other than 1 offers that asynchronous
    operations window (PS3.7 D.3.3.3: this side invokes one operation at a
    time, and performs that many); 1 answers none, which means the same.
    :class:`._services.Services` performs them in the order they arrive.
    """
    return AcceptorConfig.for_sop_classes(
        ae_title=ae.ae_title,
        scp_sop_classes=ae.scp_sop_class,
        scu_sop_classes=ae.scu_sop_class,
        transfer_syntaxes=ae.transfer_syntax,
        require_called_aet=ae.require_called_aet,
        require_calling_aet=ae.require_calling_aet,
        maximum_associations=ae.maximum_associations,
        max_pdu_length=0 if ae.maximum_pdu_size is None else ae.maximum_pdu_size,
        maximum_operations_performed=ae.maximum_operations_performed,
        accept_unknown_sop_classes=ae.accept_unknown_sop_classes,
        refuse_all=ae.refuse_associations,
        require_implementation_class_uid=ae.require_implementation_class_uid,
        permitted_peers=dict(ae.permitted_peers),
        implementation_class_uid=ae.implementation_class_uid,
        implementation_version_name=ae.implementation_version_name,
        supported_contexts=supported_by_sop_class(ae.supported_contexts, ae.transfer_syntax),
    )
