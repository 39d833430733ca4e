"""The SCP side on anyio: ``await serve(handlers, port=...)``.

One task accepts connections; each connection gets a task (in the
server's task group) that negotiates its association, serves its requests
through :class:`~._services.AsyncServices` and moves its bytes through the
same :class:`~._driver.Driver` as the SCU side, every timer on the event
loop's clock.  The core decides everything: the association limit is the
``active_associations`` given to :class:`dicomul.AcceptAssociation` (over
it the core rejects, A-ASSOCIATE-RJ 2/3/2, local limit exceeded, PS3.8
9.3.4), ARTIM and the other timers are its :attr:`~dicomul.Connection.next_deadline`.

A handler that raises becomes the service's failure status and a logged
traceback; an association that fails, or whose peer vanishes, ends alone
and frees its slot at once; the server goes on.  Cancelling :func:`serve`
(leaving the task group that runs it) aborts the associations still open
(A-ABORT) and discards any data set half received: nothing partial is kept.

As in the blocking server (:mod:`._admission` has the details): past
:data:`~._admission.MAX_UNASSOCIATED` connections without an association
the oldest is closed for each new one; at the association limit a request
that only the limit refuses takes the slot of the association idle
longest, if idle at least ``displace_idle_after`` seconds (the core's
:func:`dicomul.only_the_limit_refuses` and :func:`dicomul.longest_idle`),
which gets an A-P-ABORT (PS3.8 7.4); the association notifications
(``Handlers.on_association_*``) are called like the blocking AE's, and
one that raises is logged and changes nothing.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.streams.tls import TLSStream
from dicomul_common.events import Event, EventBinding, HandlerRegistry, WireEvents, notify
from dicomul_common.negotiation import (
    NEGOTIATION_EVENTS,
    asserted_identity,
    identity_verdict,
    negotiation_answers,
    negotiation_questions,
    supported_by_sop_class,
)

from dicomul import (
    DEFAULT_DISPLACE_IDLE_AFTER,
    DEFAULT_MAX_PDU_LENGTH,
    EVT_ABORTED,
    EVT_ACCEPTED,
    EVT_CONN_CLOSE,
    EVT_CONN_OPEN,
    EVT_REJECTED,
    EVT_RELEASED,
    EVT_REQUESTED,
    EVT_USER_ID,
    FIND_MODELS,
    GET_MODELS,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    MOVE_MODELS,
    VERIFICATION_SOP_CLASS,
    Aborted,
    AcceptAssociation,
    AcceptorConfig,
    AssociationRequested,
    CommandReceived,
    Connection,
    ConnectionClosed,
    ContextSetting,
    DataSetFragment,
    EventType,
    NegotiationAnswers,
    ReleaseRequested,
    Role,
    check_implementation_class_uid,
    check_implementation_version_name,
    only_the_limit_refuses,
)
from dicomul.pdu import AssociateRQ

from ._admission import Slots, Unassociated
from ._client import DEFAULT_TRANSFER_SYNTAXES, connect
from ._direct import DirectSocketStream
from ._driver import GONE, Driver
from ._events import (
    ServedAssociation,
    check_notification_handler,
    serving_association,
    with_event_handlers,
)
from ._pump import PumpedStream
from ._services import AsyncServices, call

if TYPE_CHECKING:
    from dicomul_common.outgoing import Outgoing

    from ._handlers import Handlers

__all__ = ["serve"]

LOGGER = logging.getLogger("dicomul.anyio.server")

#: Seconds given to discarding a partial data set and sending the A-ABORT
#: when an association ends early (the server cancelled, an error).
CLOSING_TIME = 5.0
#: accept() failing for want of resources (descriptors, memory): accepting
#: pauses this long, instead of ending the server.
ACCEPT_PAUSE = 0.1


async def serve(
    handlers: Handlers,
    *,
    port: int,
    host: str | None = None,
    ae_title: str = "DICOMUL",
    scp_sop_classes: Sequence[str] | None = None,
    scu_sop_classes: Sequence[str] | None = None,
    transfer_syntaxes: Sequence[str] = DEFAULT_TRANSFER_SYNTAXES,
    supported_contexts: Sequence[ContextSetting] = (),
    require_called_aet: str | bool | Sequence[str] = False,
    require_calling_aet: str | bool | Sequence[str] = False,
    permitted_peers: Mapping[str, tuple[tuple[str, frozenset[str]], ...]] | None = None,
    require_implementation_class_uid: bool = False,
    maximum_associations: int = 10,
    maximum_operations_performed: int = 1,
    displace_idle_after: float | None = DEFAULT_DISPLACE_IDLE_AFTER,
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH,
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID,
    implementation_version_name: str | None = IMPLEMENTATION_VERSION_NAME,
    acse_timeout: float | None = 30.0,
    dimse_timeout: float | None = None,
    network_timeout: float | None = None,
    ssl_context: ssl.SSLContext | None = None,
    evt_handlers: Iterable[EventBinding] = (),
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve associations on ``host``:``port`` with ``handlers``, until
    cancelled.  ``host`` is the address listened on: every interface, IPv4
    and IPv6, unless told; '127.0.0.1' or '::1' loopback only, '::' every
    IPv6 interface.

    ``scp_sop_classes`` are accepted with the requestor as SCU; without
    them, Verification, the storage SOP classes, and the query/retrieve
    models of the handlers given (``on_c_find``, ``on_c_get``,
    ``on_c_move``).  ``scu_sop_classes`` are accepted with the requestor as
    SCP (the storage classes a C-GET sends back: by default the storage
    classes when ``on_c_get`` is given).  Each with ``transfer_syntaxes``.
    ``supported_contexts`` (:class:`dicomul.ContextSetting`, pynetdicom's
    ``add_supported_context``) decide for their SOP classes over those
    lists: their own transfer syntaxes in order of preference (None:
    ``transfer_syntaxes``), and the roles a requestor may take when it
    proposes role selection (PS3.7 D.3.3.4; ``scu_role`` None: yes,
    ``scp_role`` None: no).
    ``require_called_aet``/``require_calling_aet``: True (``ae_title``), a
    title, a list, or False.  ``permitted_peers``: called AE title ->
    the (calling AE title, IP addresses) pairs that may call it, others
    rejected (:attr:`dicomul.AcceptorConfig.permitted_peers`, dcmqrscp's
    rule); ``require_implementation_class_uid`` rejects a request without
    one (DCMTK storescp's --reject).  Over ``maximum_associations`` an association
    is rejected (local limit exceeded), unless an association has been idle
    at least ``displace_idle_after`` seconds (None: never): the one idle
    longest is then aborted (A-P-ABORT) and the new one takes its slot, as
    with ``dicomul_sync.AE.displace_idle_after``.
    ``maximum_operations_performed`` other than 1 offers that asynchronous
    operations window (PS3.7 D.3.3.3; 0: no limit): a requestor may then
    have that many requests outstanding, performed in the order they arrive
    and each answered by its Message ID.  ``max_pdu_length`` is the largest
    PDU received (0: no limit).  ``implementation_class_uid`` and
    ``implementation_version_name`` (PS3.7 D.3.3.2; dicomul's unless
    given, None for no version name) are checked (ValueError) and sent in
    every A-ASSOCIATE-AC, and put in the file meta of the data sets
    ``on_c_store`` gets.  The timeouts are seconds on the event
    loop's clock (None: none); ``acse_timeout`` also bounds the TLS
    handshake and the wait for the association request (ARTIM).

    ``evt_handlers`` binds handlers to events, pynetdicom's way
    (``[(EVT_C_STORE, handle_store), (EVT_ACCEPTED, log, [args])]``, the
    core's event types ``dicomul.EVT_...``), each called ``handler(event,
    *args)`` with a :class:`dicomul_common.events.Event` whose ``assoc`` is
    the connection's :class:`~._events.ServedAssociation`.  Notifications
    (EVT_CONN_OPEN, EVT_REQUESTED, EVT_ACCEPTED, EVT_REJECTED,
    EVT_RELEASED, EVT_ABORTED, EVT_CONN_CLOSE, EVT_DATA_*, EVT_PDU_*,
    EVT_DIMSE_*, EVT_FSM_TRANSITION) are plain functions, called in the
    association's task where the event happens (quick: the event loop
    waits); a raise is logged.  Interventions may be ``async def``:
    EVT_USER_ID (over ``Handlers.on_user_identity``: returns
    ``(is_verified, server response)``), EVT_ASYNC_OPS (``event.invoked``,
    ``event.performed``; returns the window), EVT_SOP_EXTENDED
    (``event.app_info``; returns {SOP class UID: bytes}) and EVT_SOP_COMMON
    (``event.items``; returns those accepted), each within the ACSE timeout
    (the core's :class:`dicomul.NegotiationAnswers`, as ``dicomul_sync``'s
    handlers); and EVT_C_ECHO, EVT_C_STORE, EVT_C_FIND, EVT_C_GET and the
    DIMSE-N events, over the matching ``Handlers`` fields (see
    :mod:`._events`; EVT_C_MOVE is not mapped: ``on_c_move``).

    With ``ssl_context`` (a server-side context) every connection is TLS
    (PS3.15 B.1).  Started with ``await task_group.start(serve, ...)``, it
    reports the port it listens on (useful with ``port=0``).
    """
    registry = HandlerRegistry(evt_handlers)
    for binding in registry.bindings():
        check_notification_handler(binding[0], binding[1])
    # The DIMSE events bound serve their services (and so choose the default
    # SOP classes, as the Handlers fields do).
    handlers = with_event_handlers(handlers, registry)
    config = _config(
        handlers,
        ae_title=ae_title,
        scp_sop_classes=scp_sop_classes,
        scu_sop_classes=scu_sop_classes,
        transfer_syntaxes=transfer_syntaxes,
        supported_contexts=supported_by_sop_class(supported_contexts, transfer_syntaxes),
        require_called_aet=require_called_aet,
        require_calling_aet=require_calling_aet,
        permitted_peers=dict(permitted_peers or {}),
        require_implementation_class_uid=require_implementation_class_uid,
        maximum_associations=maximum_associations,
        maximum_operations_performed=maximum_operations_performed,
        max_pdu_length=max_pdu_length,
        implementation_class_uid=check_implementation_class_uid(implementation_class_uid),
        implementation_version_name=check_implementation_version_name(implementation_version_name),
    )
    server = _Server(
        handlers,
        config,
        registry=registry,
        ssl_context=ssl_context,
        timeouts=(acse_timeout, dimse_timeout, network_timeout),
        displace_idle_after=displace_idle_after,
    )
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    async with listener, anyio.create_task_group() as group:
        for one in listener.listeners:
            assert isinstance(one, anyio.abc.SocketListener)
            group.start_soon(server.accept, one, group)
        task_status.started(int(listener.extra(anyio.abc.SocketAttribute.local_port)))


def _config(
    handlers: Handlers,
    *,
    scp_sop_classes: Sequence[str] | None,
    scu_sop_classes: Sequence[str] | None,
    **settings: object,
) -> AcceptorConfig:
    """The acceptor configuration (the core's rules: roles, titles, limits)."""
    from dicomul_common.sop_classes import StorageSOPClassList  # noqa: PLC0415

    if scp_sop_classes is None:
        scp_sop_classes = [VERIFICATION_SOP_CLASS, *StorageSOPClassList]
        for handler, models in (
            (handlers.on_c_find, FIND_MODELS),
            (handlers.on_c_get, GET_MODELS),
            (handlers.on_c_move, MOVE_MODELS),
        ):
            if handler is not None:
                scp_sop_classes += list(models.values())
    if scu_sop_classes is None:
        scu_sop_classes = list(StorageSOPClassList) if handlers.on_c_get is not None else []
    return AcceptorConfig.for_sop_classes(
        scp_sop_classes=[str(uid) for uid in scp_sop_classes],
        scu_sop_classes=[str(uid) for uid in scu_sop_classes],
        **settings,  # type: ignore[arg-type]
    )


class _Server:
    """What every association of one :func:`serve` shares."""

    def __init__(
        self,
        handlers: Handlers,
        config: AcceptorConfig,
        *,
        ssl_context: ssl.SSLContext | None,
        timeouts: tuple[float | None, float | None, float | None],
        displace_idle_after: float | None,
        registry: HandlerRegistry | None = None,
    ) -> None:
        self.handlers = handlers
        #: The event handlers bound (``evt_handlers``).
        self.registry = registry if registry is not None else HandlerRegistry()
        self.config = config
        self.ssl_context = ssl_context
        self.acse_timeout, self.dimse_timeout, self.network_timeout = timeouts
        self.displace_idle_after = displace_idle_after
        self.slots = Slots()
        self.unassociated = Unassociated()

    async def accept(self, listener: anyio.abc.SocketListener, group: anyio.abc.TaskGroup) -> None:
        """Accept connections for ever, a task each; a failing accept pauses.

        The listening socket is accepted from directly, and each connection
        is a :class:`~._direct.DirectSocketStream` (its socket read and
        written without anyio's stream in between), which the connection's
        task wraps in TLS if the server has an SSL context."""
        raw = listener.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setblocking(False)
        while True:
            try:
                sock, _address = raw.accept()
            except BlockingIOError:
                await anyio.wait_readable(raw)
                continue
            except OSError as exc:
                if exc.errno in (errno.ECONNABORTED, errno.EINTR, errno.EPROTO):
                    continue  # that connection failed on its own (accept(2))
                LOGGER.error("Cannot accept a connection (%s); pausing", exc.strerror or exc)
                await anyio.sleep(ACCEPT_PAUSE)
                continue
            group.start_soon(self.connection, DirectSocketStream(sock))
            await anyio.lowlevel.checkpoint()  # a flood of connections starves no one

    async def connection(self, stream: anyio.abc.ByteStream) -> None:
        """One connection, to its end; nothing it raises reaches the server.
        Until it is associated, a newer one may close it (:class:`_Held`)."""
        held = _Held()
        self.unassociated.add(held)
        try:
            with held.scope:
                if self.ssl_context is not None:
                    try:
                        stream = await _anyio_stream(stream)  # TLS wraps anyio's stream
                    except OSError as exc:
                        LOGGER.error("A connection failed before its TLS handshake: %r", exc)
                        await _close(stream)
                        return
                await self._connection(stream, held)
        finally:
            self.unassociated.discard(held)
            if held.scope.cancel_called:
                LOGGER.debug("closed a connection without an association for a newer one")
                with anyio.move_on_after(CLOSING_TIME, shield=True):
                    await _close(stream)

    async def _connection(self, stream: anyio.abc.ByteStream, held: _Held) -> None:
        try:
            if self.ssl_context is not None:
                try:
                    with anyio.fail_after(self.acse_timeout):
                        stream = await TLSStream.wrap(
                            stream,
                            server_side=True,
                            ssl_context=self.ssl_context,
                            standard_compatible=False,
                        )
                except (TimeoutError, ssl.SSLError, anyio.EndOfStream, *GONE) as exc:
                    LOGGER.error("TLS handshake with a peer failed: %r", exc)
                    await _close(stream)
                    return
            await _Association(self, stream, held).run()
        except Exception:
            LOGGER.exception("association ended by an error")


class _Held:
    """A connection's task, as :class:`~._admission.Unassociated` holds it:
    closed (its task cancelled) when newer ones push it out."""

    __slots__ = ("scope",)

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()

    def close_now(self) -> None:
        self.scope.cancel()


class _Association:
    """One connection in the acceptor role, from ARTIM to its close."""

    def __init__(self, server: _Server, stream: anyio.abc.ByteStream, held: _Held) -> None:
        self.server = server
        self.held = held
        #: ``host:port`` of the peer, for the log.
        self.peer = _peer_name(stream)
        #: The peer's IP address (AcceptorConfig.permitted_peers), None if unknown.
        self.peer_ip = _peer_ip(stream)
        self.pumped = PumpedStream(stream, before_send=self._before_send)
        self.conn = Connection(
            Role.ACCEPTOR,
            acse_timeout=server.acse_timeout,
            dimse_timeout=server.dimse_timeout,
            network_timeout=server.network_timeout,
        )
        self.driver = Driver(
            self.pumped, self.conn, self.pumped if self.pumped.direct is not None else None
        )
        self.services = AsyncServices(
            server.handlers, self.driver, self.pumped, move_relay=self._move_relay
        )
        #: What this connection's events show as ``event.assoc``.
        self.assoc = ServedAssociation(
            _peer_address(stream),
            self.conn,
            server.config.ae_title,
            cancelled=self.services.cancel_requested,
        )
        registry = server.registry
        if registry.bindings():
            self.driver.wire = WireEvents(
                registry, self.assoc, frame_pdus=WireEvents.wanted(registry)
            )
            self.driver.wire.transitions(self.conn)  # recording from Sta1 on, if wanted
        self.counted = False  # holds one of the server's slots
        #: Set by displace(): the seconds the association had been idle.
        self.displaced_after: float | None = None
        #: The end (release or abort) was notified, or there is none to notify.
        self.ended = True
        #: The association is over; the connection waits for the peer to close.
        self.lingering = False

    async def run(self) -> None:
        serving_association(self.assoc)  # this task's (the DIMSE events' assoc)
        self._event(EVT_CONN_OPEN, address=self.assoc.address)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self.pumped.pump)
                try:
                    await self._serve()
                finally:
                    group.cancel_scope.cancel()
        finally:
            self._free_slot()
            # Shielded from the cancellation that may have brought us here,
            # but bounded: a peer that reads nothing cannot hold it open.
            with anyio.move_on_after(CLOSING_TIME, shield=True):
                await self.services.close()  # nothing partial is kept
                if self.conn.association_over or self.driver.closed:
                    await self.driver.close()
                else:  # cancelled, or failed: the peer learns at once
                    await self.driver.abort()
                await self._notify_end("on_association_aborted")
            self._event(EVT_CONN_CLOSE, address=self.assoc.address)

    def _event(self, event: EventType, **attributes: object) -> None:
        """Tell ``event``'s notification handlers (a raise is logged)."""
        notify(self.server.registry, self.assoc, event, **attributes)

    async def _serve(self) -> None:
        conn, driver = self.conn, self.driver
        try:
            conn.transport_connected(now=anyio.current_time())  # starts ARTIM
            while True:
                held = self.services.held
                event = held.take() if held else await driver.next_event()
                if isinstance(event, ConnectionClosed):
                    return
                if isinstance(event, AssociationRequested):
                    await self._negotiate(event.request)
                elif not await self.services.handle(event):
                    await self._other(event)
                if conn.association_over and not self.lingering:
                    self._free_slot()  # the association no longer exists
                    self.lingering = True
                    self.server.unassociated.add(self.held)  # until the peer closes
        except GONE:
            LOGGER.info("Association Aborted: the connection was lost")
            await self._notify_end("on_association_aborted")

    async def _negotiate(self, request: AssociateRQ) -> None:
        LOGGER.info("Association Received")
        server = self.server
        self.assoc.request = request
        self._event(EVT_REQUESTED)
        identity_result = await self._check_identity(request)
        answers = await self._negotiation_answers(request)
        slots, config = server.slots, server.config
        if slots.active >= config.maximum_associations and only_the_limit_refuses(request, config):
            server.slots.displace_idle(now=anyio.current_time(), after=server.displace_idle_after)
        self.conn.send(
            AcceptAssociation(
                config=config,
                active_associations=slots.active,
                user_identity_result=identity_result,
                peer_address=self.peer_ip,
                negotiation_answers=answers,
            ),
            now=anyio.current_time(),
        )
        negotiated = self.conn.negotiated
        if negotiated is not None:  # before any await: no other task sees it half done
            self.counted = True
            slots.take(self)
            server.unassociated.discard(self.held)
        await self.driver.flush()
        if negotiated is None:
            LOGGER.info("Association Rejected")  # holds no slot (PS3.8 9.3.4)
            self._event(EVT_REJECTED)
            if identity_result is not None and not identity_result[0]:
                LOGGER.warning("Association Rejected: user identity not accepted")
        else:
            LOGGER.info("Association Acknowledged")
            self.ended = False
            self._event(EVT_ACCEPTED)
            await self._notify("on_association_accepted")

    async def _check_identity(self, request: AssociateRQ) -> tuple[bool, bytes | None] | None:
        """The verdict of ``Handlers.on_user_identity`` on the identity the
        request asserts (PS3.7 D.3.3.7), for the core's negotiation; None
        when there is none to check.  Only this association's task waits:
        the server goes on with the others.  A handler that raises, or
        does not answer within the ACSE timeout, refuses the identity."""
        handler = self.server.handlers.on_user_identity
        identity = asserted_identity(request)
        bound = self.server.registry.handlers(EVT_USER_ID)
        if (handler is None and not bound) or identity is None:
            return None
        try:
            with anyio.fail_after(self.server.acse_timeout):
                if bound:  # EVT_USER_ID, as dicomul_sync's: over on_user_identity
                    event_handler, args = bound[0]
                    attributes = {
                        "user_id_type": int(identity.identity_type),
                        "primary_field": identity.primary_field,
                        "secondary_field": identity.secondary_field,
                        "positive_response_requested": identity.positive_response_requested,
                    }
                    event = Event(self.assoc, EVT_USER_ID, attributes)
                    return identity_verdict(await call(event_handler, event, *args))
                assert handler is not None
                return identity_verdict(await call(handler, identity, request.calling_aet))
        except TimeoutError:
            LOGGER.warning(
                "the user identity check took longer than the ACSE timeout (%s s): "
                "rejecting the association",
                self.server.acse_timeout,
            )
            return False, None
        except Exception:
            LOGGER.exception("the user identity check failed: rejecting the association")
            return False, None

    async def _negotiation_answers(self, request: AssociateRQ) -> NegotiationAnswers | None:
        """The EVT_ASYNC_OPS, EVT_SOP_EXTENDED and EVT_SOP_COMMON handlers'
        answers to what ``request`` negotiates (PS3.7 D.3.3.3, D.3.3.5,
        D.3.3.6), each awaited within the ACSE timeout; None where none is
        bound.  One that raises or times out answers nothing (logged)."""
        registry = self.server.registry
        bound = [event for event in NEGOTIATION_EVENTS if registry.has(event)]
        if not bound:
            return None
        replies: dict[EventType, object] = {}
        for event_type, attributes in negotiation_questions(request, bound).items():
            handler, args = registry.handlers(event_type)[0]
            try:
                with anyio.fail_after(self.server.acse_timeout):
                    event = Event(self.assoc, event_type, attributes)
                    replies[event_type] = await call(handler, event, *args)
            except Exception as exc:  # logged by negotiation_answers
                replies[event_type] = exc
        return negotiation_answers(bound, replies)

    def idle_for(self, now: float) -> float | None:
        """Seconds idle (:meth:`dicomul.Connection.idle_for`); None if not
        idle, displaced already, or holding no slot."""
        if self.displaced_after is not None or not self.counted:
            return None
        return self.conn.idle_for(now)

    def displace(self, idle_for: float) -> None:
        """Give this association's slot to a new peer (its slot is freed by
        :class:`~._admission.Slots`): the core's A-P-ABORT (PS3.8 7.4), sent
        by this association's task, woken from its wait for the peer."""
        self.displaced_after = idle_for
        self.counted = False
        self.conn.provider_abort(
            message=f"displaced at the association limit "
            f"({self.server.config.maximum_associations}) by a new peer, "
            f"after {idle_for:.0f} s idle ({self.peer})",
            now=anyio.current_time(),
        )
        self.driver.deadline_changed()

    async def _notify(self, name: str) -> None:
        """Call the notification ``name`` of the handlers, if set, with the
        negotiated association; one that raises is logged and changes nothing."""
        hook = getattr(self.server.handlers, name)
        if hook is None:
            return
        try:
            await call(hook, self.conn.negotiated)
        except Exception:
            LOGGER.exception("notification handler %s failed", name)

    async def _notify_end(self, name: str) -> None:
        """Notify the end of an accepted association, once."""
        if not self.ended:
            self.ended = True
            released = name == "on_association_released"
            self._event(EVT_RELEASED if released else EVT_ABORTED)
            await self._notify(name)

    async def _other(self, event: object) -> None:
        if isinstance(event, ReleaseRequested):
            LOGGER.info("Association Released")
            await self._notify_end("on_association_released")
        elif isinstance(event, Aborted):
            if event.by_peer or event.connection_lost:
                LOGGER.info("Association Aborted")
            else:  # this side aborted: a timeout, a protocol error, a displacement
                LOGGER.warning("Association Aborted: %s", event.message)
            await self._notify_end("on_association_aborted")
        elif isinstance(event, CommandReceived | DataSetFragment):
            LOGGER.warning("Ignoring %r: no request of ours is outstanding", event)

    def _before_send(self) -> None:
        if self.conn.association_over:
            self._free_slot()  # before the peer can read our RP/A-ABORT and retry

    def _free_slot(self) -> None:
        if self.counted:
            self.counted = False
            self.server.slots.free(self)

    @contextlib.asynccontextmanager
    async def _move_relay(
        self,
        destination: str,
        address: tuple[str, int],
        items: list[Outgoing],
        originator: tuple[str, int],
    ) -> AsyncIterator[object]:
        """The association to a C-MOVE's destination (PS3.4 C.4.2.3.1), as
        a callable that C-STOREs one match, naming ``originator`` (the C-MOVE's
        requestor and message ID, PS3.7 9.3.1.1); if it cannot be established,
        every sub-operation fails (the final response lists them, as dcmqrscp
        does)."""
        config = self.server.config
        sop_classes = list(dict.fromkeys(item.sop_class_uid for item in items))[:127]
        syntaxes = list(
            dict.fromkeys(
                [
                    *DEFAULT_TRANSFER_SYNTAXES,
                    *(i.transfer_syntax for i in items if i.transfer_syntax),
                ]
            )
        )
        async with contextlib.AsyncExitStack() as stack:
            assoc = None
            try:
                assoc = await stack.enter_async_context(
                    connect(
                        address[0],
                        address[1],
                        ae_title=config.ae_title,
                        called_ae_title=destination,
                        sop_classes=sop_classes,
                        transfer_syntaxes=syntaxes,
                        implementation_class_uid=config.implementation_class_uid,
                        implementation_version_name=config.implementation_version_name,
                        acse_timeout=self.server.acse_timeout,
                        dimse_timeout=self.server.dimse_timeout,
                        network_timeout=self.server.network_timeout,
                    )
                )
            except Exception as exc:
                LOGGER.error(
                    "Cannot associate with move destination %s at %s: %s",
                    destination,
                    address,
                    exc,
                )

            async def send(item: Outgoing) -> int | None:
                if assoc is None or not assoc.is_established:
                    return None
                source = item.dataset if item.dataset is not None else item.path
                assert source is not None
                response = await assoc.c_store(
                    source,
                    move_originator_ae_title=originator[0],
                    move_originator_message_id=originator[1],
                )
                return int(response.Status)

            yield send


async def _anyio_stream(stream: anyio.abc.ByteStream) -> anyio.abc.ByteStream:
    """anyio's own stream over a direct socket (which gives its socket up),
    for TLS to wrap: a TLS connection is read and written through anyio's
    streams."""
    if not isinstance(stream, DirectSocketStream):
        return stream
    return await anyio.abc.SocketStream.from_socket(stream.detach())


async def _close(stream: anyio.abc.ByteStream) -> None:
    with contextlib.suppress(*GONE):
        await stream.aclose()


def _peer_name(stream: anyio.abc.ByteStream) -> str:
    """``host:port`` of the peer (a TLS stream wraps the socket's), for the log."""
    try:
        address = stream.extra(anyio.abc.SocketAttribute.remote_address)
    except anyio.TypedAttributeLookupError:
        return "?"
    if isinstance(address, tuple):
        return f"{address[0]}:{address[1]}"
    return str(address)


def _peer_address(stream: anyio.abc.ByteStream) -> tuple[str, int]:
    """The peer's (host, port), ("?", 0) if unknown (the events' ``address``)."""
    try:
        address = stream.extra(anyio.abc.SocketAttribute.remote_address)
    except anyio.TypedAttributeLookupError:
        return ("?", 0)
    if isinstance(address, tuple):
        return (str(address[0]), int(address[1]))
    return (str(address), 0)


def _peer_ip(stream: anyio.abc.ByteStream) -> str | None:
    """The peer's IP address (a TLS stream wraps the socket's), or None."""
    try:
        address = stream.extra(anyio.abc.SocketAttribute.remote_address)
    except anyio.TypedAttributeLookupError:
        return None
    return str(address[0]) if isinstance(address, tuple) else None
