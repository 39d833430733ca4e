"""Event handlers in pynetdicom 2/3's manner, the part every adapter shares.

Theory of operation
-------------------
The event types are the core's (:mod:`dicomul._evt`: notification or
intervention).  Binding handlers to them, the :class:`Event` a handler is
called with, telling the notification handlers, and watching what crosses
a connection (:class:`WireEvents`: bytes, PDUs, DIMSE messages, the state
machine's transitions) are the same in the blocking adapter
(``dicomul_sync``) and the async one (``dicomul_anyio``), so they are
written once here; calling the intervention handlers (a DIMSE service's,
the extended negotiation's) is each adapter's, since the async one awaits
them.

- :class:`HandlerRegistry` holds the bindings of an AE, of a server, or of
  one association: ``bind(event, handler, args=None)``, ``unbind``,
  ``get_handlers``.  An intervention event has one handler at most (binding
  another replaces it); a notification event any number.
- :func:`notify` runs a notification event's handlers, synchronously where
  the event happens (so they see events in the order they happen): what
  they return is ignored, a raise is logged and changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dicomul import (
    EVT_C_FIND,
    EVT_C_GET,
    EVT_C_MOVE,
    EVT_C_STORE,
    EVT_DATA_RECV,
    EVT_DATA_SENT,
    EVT_DIMSE_RECV,
    EVT_DIMSE_SENT,
    EVT_FSM_TRANSITION,
    EVT_PDU_RECV,
    EVT_PDU_SENT,
    BytesLike,
    Command,
    CommandReceived,
    Connection,
    EventType,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset, FileMetaDataset

    from dicomul_common.requests import ServiceRequest

__all__ = [
    "Connecting",
    "Event",
    "EventBinding",
    "Handler",
    "HandlerRegistry",
    "PresentationContext",
    "ServiceUser",
    "WireEvents",
    "notify",
]

LOGGER = logging.getLogger("dicomul.events")

#: A handler: called as handler(event, *args).
Handler = Callable[..., Any]
#: What ``evt_handlers`` lists: (event, handler) or (event, handler, args).
EventBinding = tuple[EventType, Handler] | tuple[EventType, Handler, Sequence[object]]


class HandlerRegistry:
    """The handlers bound to events, for an AE, a server or an association.

    Thread-safe: a server's worker reads it while the application binds.
    Each event's bindings are a tuple replaced whole under the lock, so a
    reader (on every read and write of a connection: :class:`WireEvents`)
    takes no lock.
    """

    def __init__(self, bindings: Iterable[EventBinding] = ()) -> None:
        self._lock = threading.Lock()
        self._bound: dict[EventType, tuple[tuple[Handler, tuple[object, ...]], ...]] = {}
        #: The names of the events bound, replaced whole under the lock: a
        #: test of it is a set lookup of a string whose hash Python keeps,
        #: where a test of ``_bound`` hashes the EventType (a Python call).
        #: Asked on every read and write of a connection (:class:`WireEvents`),
        #: nearly always of an event nothing is bound to.
        self.bound_names: frozenset[str] = frozenset()
        for binding in bindings:
            self.bind(*binding)

    def bind(
        self, event: EventType, handler: Handler, args: Sequence[object] | None = None
    ) -> None:
        """Call ``handler(event, *args)`` when ``event`` happens.  For an
        intervention event it replaces the handler bound before; for a
        notification it is added (bound again, only its ``args`` change)."""
        if not isinstance(event, EventType):
            raise TypeError(f"{event!r} is not an event type (dicomul_sync.evt.EVT_...)")
        if not callable(handler):
            raise TypeError(f"{handler!r} is not callable")
        entry = (handler, tuple(args or ()))
        with self._lock:
            if event.is_intervention:
                self._bound[event] = (entry,)
            else:
                bound = list(self._bound.get(event, ()))
                known = [index for index, (other, _) in enumerate(bound) if other == handler]
                if known:
                    bound[known[0]] = entry
                else:
                    bound.append(entry)
                self._bound[event] = tuple(bound)
            self.bound_names = frozenset(e.name for e in self._bound)

    def unbind(self, event: EventType, handler: Handler) -> None:
        """Stop calling ``handler`` for ``event`` (nothing if it was not bound)."""
        with self._lock:
            bound = self._bound.get(event, ())
            kept = tuple(entry for entry in bound if entry[0] != handler)
            if kept:
                self._bound[event] = kept
            else:
                self._bound.pop(event, None)
            self.bound_names = frozenset(e.name for e in self._bound)

    def get_handlers(
        self, event: EventType
    ) -> tuple[Handler, tuple[object, ...]] | list[tuple[Handler, tuple[object, ...]]] | None:
        """For an intervention event, its (handler, args), or None; for a
        notification, the list of (handler, args) bound."""
        handlers = self.handlers(event)
        if event.is_intervention:
            return handlers[0] if handlers else None
        return handlers

    def handlers(self, event: EventType) -> list[tuple[Handler, tuple[object, ...]]]:
        """The (handler, args) bound to ``event``, in the order bound."""
        return list(self._bound.get(event, ()))

    def has(self, event: EventType) -> bool:
        """Whether any handler is bound to ``event`` (cheap: no copy, no lock;
        an event whose name is not bound is not hashed at all)."""
        return event.name in self.bound_names and event in self._bound

    def bindings(self) -> list[tuple[EventType, Handler, tuple[object, ...]]]:
        """Every binding, to copy into another registry."""
        with self._lock:
            return [(e, h, a) for e, entries in self._bound.items() for h, a in entries]

    def copy(self, extra: Iterable[EventBinding] = ()) -> HandlerRegistry:
        """A registry with these bindings, then ``extra`` bound too."""
        registry = HandlerRegistry(self.bindings())
        for binding in extra:
            registry.bind(*binding)
        return registry


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceUser:
    """One side of an association as pynetdicom's ``assoc.requestor`` and
    ``assoc.acceptor`` show it: its AE title and (host, port)."""

    ae_title: str
    address: str
    port: int


@dataclasses.dataclass(frozen=True, slots=True)
class PresentationContext:
    """The presentation context a request arrived on (PS3.8 9.3.2.2)."""

    context_id: int
    abstract_syntax: str
    transfer_syntax: str


class Connecting:
    """An association not yet established, as an event's ``assoc`` shows it
    before there is one (EVT_CONN_OPEN, EVT_REQUESTED, EVT_REJECTED, the
    negotiation's intervention events, EVT_CONN_CLOSE of a connection never
    accepted): the peer's ``address`` (host, port) and, once known, the
    request (``request``: on an acceptor the A-ASSOCIATE-RQ received, a
    :class:`dicomul.pdu.AssociateRQ` with ``calling_aet``, ``called_aet``
    and the contexts proposed; on a requestor the
    :class:`dicomul.AssociationRequest` it proposes)."""

    def __init__(self, address: tuple[str, int], request: object = None) -> None:
        self.address = address
        self.request = request

    @property
    def is_established(self) -> bool:
        """False: not (yet) an association."""
        return False

    @property
    def requestor(self) -> ServiceUser:
        """The requestor: its AE title (once its request is known) and, on
        an acceptor, its address."""
        title = getattr(self.request, "calling_aet", None) or getattr(
            self.request, "calling_ae_title", ""
        )
        return ServiceUser(str(title).strip(), *self.address)

    def __repr__(self) -> str:
        return f"Connecting({self.address!r})"


class Event:
    """What a handler is called with: pynetdicom's ``Event``.

    Always: ``assoc`` (the association it happened on; for an acceptor's
    events before acceptance, the connection as far as known),
    ``event`` (the :class:`dicomul.EventType`), ``timestamp`` (a
    :class:`datetime.datetime`, when it happened).  For a DIMSE service:
    ``context``, ``request`` (the command set as a pydicom Dataset:
    ``MessageID``, ``AffectedSOPClassUID``, ``Priority``, ``MoveDestination``...),
    ``message_id``; C-STORE's ``dataset`` (decoded on first use, with its
    ``file_meta``) and ``file_meta``; C-FIND/GET/MOVE's ``identifier`` and
    ``is_cancelled``; C-MOVE's ``move_destination``; the DIMSE-N request's
    ``dataset``.  EVT_USER_ID: ``user_id_type``, ``primary_field``,
    ``secondary_field``.  EVT_CONN_OPEN/CLOSE: ``address``.  EVT_DATA_*:
    ``data``; EVT_PDU_*: ``pdu``; EVT_DIMSE_*: ``message``, ``context_id``;
    EVT_FSM_TRANSITION: ``current_state``, ``fsm_event``, ``action``,
    ``next_state``.  An attribute the event does not have raises AttributeError.
    """

    def __init__(
        self,
        assoc: object,
        event: EventType,
        attributes: Mapping[str, object] | None = None,
        *,
        service: ServiceRequest | None = None,
        timestamp: datetime.datetime | None = None,
    ) -> None:
        self.assoc = assoc
        self.event = event
        self.timestamp = timestamp or datetime.datetime.now()
        self._attributes = dict(attributes or {})
        self._service = service
        self._dataset: Dataset | None = None

    def __getattr__(self, name: str) -> object:
        attributes = self.__dict__.get("_attributes", {})
        if name in attributes:
            return attributes[name]
        raise AttributeError(f"{name!r}: no such attribute for {self.__dict__.get('event')}")

    def __repr__(self) -> str:
        return f"Event({self.event.name}, {self.timestamp.isoformat()})"

    # ------------------------------------------------------- DIMSE services

    def _request(self) -> ServiceRequest:
        if self._service is None:
            raise AttributeError(f"{self.event} carries no DIMSE request")
        return self._service

    @property
    def context(self) -> PresentationContext:
        """The presentation context the request came on."""
        request = self._request()
        context = request.negotiated.contexts[request.context_id]
        return PresentationContext(
            request.context_id, context.abstract_syntax, request.transfer_syntax
        )

    @property
    def request(self) -> Dataset:
        """The request's command set, with its DICOM keywords (``MessageID``,
        ``AffectedSOPClassUID``, ``Priority``, ``MoveDestination``...)."""
        from dicomul import IMPLICIT_VR_LITTLE_ENDIAN, decode_dataset, encode_command  # noqa: PLC0415

        command = self._request().command
        return decode_dataset(encode_command(command), IMPLICIT_VR_LITTLE_ENDIAN)

    @property
    def message_id(self) -> int:
        """The request's Message ID (0000,0110)."""
        return self._request().command.message_id or 0

    @property
    def dataset(self) -> Dataset:
        """C-STORE: the data set received, decoded now (with ``file_meta``);
        the DIMSE-N services: the request's data set."""
        if "dataset" in self._attributes:
            loader = self._attributes["dataset"]
            if self._dataset is None:
                self._dataset = loader() if callable(loader) else loader  # type: ignore[assignment]
            assert self._dataset is not None
            return self._dataset
        dataset = self._request().dataset
        if dataset is None or self.event in (EVT_C_FIND, EVT_C_GET, EVT_C_MOVE):
            raise AttributeError(f"{self.event} carries no data set")
        return dataset

    @property
    def file_meta(self) -> FileMetaDataset:
        """C-STORE: the data set's File Meta Information (PS3.10 7.1)."""
        if self.event is not EVT_C_STORE:
            raise AttributeError(f"{self.event} carries no file meta information")
        return self.dataset.file_meta

    @property
    def identifier(self) -> Dataset:
        """C-FIND, C-GET, C-MOVE: the request's identifier."""
        if self.event not in (EVT_C_FIND, EVT_C_GET, EVT_C_MOVE):
            raise AttributeError(f"{self.event} carries no identifier")
        identifier = self._request().dataset
        assert identifier is not None  # they always carry one (PS3.7 9.3)
        return identifier

    @property
    def move_destination(self) -> str:
        """C-MOVE: the Move Destination (0000,0600), without padding."""
        if self.event is not EVT_C_MOVE:
            raise AttributeError(f"{self.event} carries no move destination")
        return (self._request().command.move_destination or "").strip()

    @property
    def is_cancelled(self) -> bool:
        """C-FIND, C-GET, C-MOVE: whether the peer sent a C-CANCEL for it
        (looked for now, without waiting)."""
        check = self._attributes.get("is_cancelled")
        return bool(check()) if callable(check) else False


def notify(
    registry: HandlerRegistry, assoc: object, event: EventType, **attributes: object
) -> None:
    """Tell ``event``'s notification handlers; a raise is logged, nothing more."""
    handlers = registry.handlers(event)
    if not handlers:
        return
    happened = Event(assoc, event, attributes)
    for handler, args in handlers:
        try:
            handler(happened, *args)
        except Exception:
            LOGGER.exception("%s handler %r failed", event, handler)


# The names WireEvents tests first (HandlerRegistry.bound_names).
_DATA_SENT = EVT_DATA_SENT.name
_DATA_RECV = EVT_DATA_RECV.name
_FSM_TRANSITION = EVT_FSM_TRANSITION.name
_DIMSE_SENT = EVT_DIMSE_SENT.name
_DIMSE_RECV = EVT_DIMSE_RECV.name


class WireEvents:
    """The notifications of what crosses one association's connection: the
    bytes (EVT_DATA_SENT/RECV, ``event.data``), the PDUs (EVT_PDU_SENT/RECV,
    ``event.pdu``, a :mod:`dicomul.pdu` object) and the DIMSE messages
    (EVT_DIMSE_SENT/RECV, ``event.message``, a :class:`dicomul.Command`, with
    ``event.context_id``), as the :class:`._channel.Channel` reports them.

    PDUs are framed only if a PDU handler was bound when the association's
    connection began (``frame_pdus``), as framing a stream must start at its
    beginning; the other events follow the bindings as they change.
    """

    def __init__(self, registry: HandlerRegistry, assoc: object, *, frame_pdus: bool) -> None:
        from dicomul import ReceiveBuffer  # noqa: PLC0415

        self.registry = registry
        self.assoc = assoc
        self._frames = (
            {"sent": ReceiveBuffer(), "received": ReceiveBuffer()} if frame_pdus else None
        )

    @staticmethod
    def wanted(registry: HandlerRegistry) -> bool:
        """Whether a PDU handler is bound (then PDUs are framed from the start)."""
        return registry.has(EVT_PDU_SENT) or registry.has(EVT_PDU_RECV)

    def watches_bytes(self, *, sent: bool) -> bool:
        """Whether :meth:`sent` (``sent``) or :meth:`received` has anything to
        do (a handler of the bytes bound, or PDUs being framed): cheap, so
        that a writer of many buffers asks once, not per buffer."""
        if self._frames is not None:
            return True
        return self.registry.has(EVT_DATA_SENT if sent else EVT_DATA_RECV)

    def sent(self, data: BytesLike) -> None:
        if self._frames is not None or _DATA_SENT in self.registry.bound_names:
            self._bytes("sent", EVT_DATA_SENT, EVT_PDU_SENT, data)

    def received(self, data: BytesLike) -> None:
        if self._frames is not None or _DATA_RECV in self.registry.bound_names:
            self._bytes("received", EVT_DATA_RECV, EVT_PDU_RECV, data)

    def _bytes(
        self, way: str, data_event: EventType, pdu_event: EventType, data: BytesLike
    ) -> None:
        if self.registry.has(data_event):
            notify(self.registry, self.assoc, data_event, data=bytes(data))
        if self._frames is None:
            return
        from dicomul import ProtocolError, pdu  # noqa: PLC0415

        stream = self._frames[way]
        stream.feed(bytes(data))
        while True:
            try:
                frame = stream.next_frame()
            except ProtocolError:
                self._frames = None  # the engine says what was wrong; stop framing
                return
            if frame is None:
                return
            if self.registry.has(pdu_event):
                try:
                    decoded: object = pdu.decode(frame)
                except ProtocolError:
                    continue
                notify(self.registry, self.assoc, pdu_event, pdu=decoded)

    def transitions(self, conn: Connection) -> None:
        """The state machine's transitions since the last call
        (EVT_FSM_TRANSITION: ``current_state``, ``fsm_event``, ``action``,
        ``next_state``, as PS3.8 Table 9-10 names them: 'Sta6', 'Evt10',
        'DT-2'...); recorded while a handler is bound."""
        if _FSM_TRANSITION not in self.registry.bound_names:
            conn.record_transitions = False
            return
        wanted = self.registry.has(EVT_FSM_TRANSITION)
        conn.record_transitions = wanted
        if not wanted:
            return
        for state, fsm_event, action, next_state in conn.take_transitions():
            notify(
                self.registry,
                self.assoc,
                EVT_FSM_TRANSITION,
                current_state=state.value,
                fsm_event=fsm_event.value,
                action=action.value,
                next_state=next_state.value,
            )

    def message_sent(self, context_id: int, command: Command) -> None:
        """A DIMSE message handed to the connection."""
        if _DIMSE_SENT in self.registry.bound_names and self.registry.has(EVT_DIMSE_SENT):
            notify(
                self.registry, self.assoc, EVT_DIMSE_SENT, message=command, context_id=context_id
            )

    def event(self, event: object) -> None:
        """An event the connection gave: a DIMSE message received, say."""
        if (
            _DIMSE_RECV in self.registry.bound_names
            and isinstance(event, CommandReceived)
            and self.registry.has(EVT_DIMSE_RECV)
        ):
            notify(
                self.registry,
                self.assoc,
                EVT_DIMSE_RECV,
                message=event.command,
                context_id=event.context_id,
            )
