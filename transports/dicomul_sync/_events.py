"""Event handlers in pynetdicom 2/3's manner, on the blocking adapter's callbacks.

Theory of operation
-------------------
The event types are the core's (:mod:`dicomul._evt`).  Here is what binds
handlers to them and what calls them (the registry, :class:`Event`,
:func:`notify` and :class:`WireEvents` live in :mod:`dicomul_common.events`,
shared with the async adapter, and are re-exported here):

- :class:`HandlerRegistry` holds the bindings of an AE, of a server, or of
  one association: ``bind(event, handler, args=None)``, ``unbind``,
  ``get_handlers``.  An intervention event has one handler at most (binding
  another replaces it); a notification event any number.  A served
  association starts with a copy of its server's bindings, and binding on
  the AE reaches every association it has now, as pynetdicom's do.
- :class:`EventHandlers` is what the service layer (:class:`._services.Services`)
  sees as the AE (:class:`._handlers.ServiceHandlers`): for each service
  whose intervention event has a handler bound, it calls that handler with
  an :class:`Event` and turns what it returns into what the seed's
  ``on_c_*`` callback would have returned; for the others, it is the AE's
  own callback.  So statuses, C-CANCEL, sub-operations and failures are
  decided once, by the core's operations the service layer drives, for
  events and callbacks alike; a handler that raises becomes the same
  failure status as a failing ``on_c_*`` callback.
- :func:`notify` runs a notification event's handlers: what they return is
  ignored, a raise is logged and changes nothing.

Handlers run in the thread serving the association (a worker of the
server, or the caller's for an association it requested), except the
events before an association is accepted (EVT_CONN_OPEN, EVT_REQUESTED,
EVT_REJECTED, EVT_CONN_CLOSE of a connection never accepted, and the
EVT_DATA_*, EVT_PDU_* and EVT_FSM_TRANSITION until the A-ASSOCIATE-AC or
-RJ is written), which the server's accept loop runs: keep those quick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

# Binding, the Event object, notifying and watching the wire are shared
# with the async adapter (moved to dicomul_common.events); re-exported here.
from dicomul_common.events import (
    Event,
    EventBinding,
    Handler,
    HandlerRegistry,
    PresentationContext,
    ServiceUser,
    WireEvents,
    notify,
)
from dicomul_common.requests import current_request

from dicomul import (
    EVT_C_ECHO,
    EVT_C_FIND,
    EVT_C_GET,
    EVT_C_MOVE,
    EVT_C_STORE,
    EVT_N_ACTION,
    EVT_N_CREATE,
    EVT_N_DELETE,
    EVT_N_EVENT_REPORT,
    EVT_N_GET,
    EVT_N_SET,
    EventType,
    Status,
    answer_status,
)

if TYPE_CHECKING:
    import pathlib

    from pydicom.dataset import Dataset

    from ._handlers import MoveAddress, RetrieveItem, ServiceHandlers, ServiceRequest, StoreSink

__all__ = [
    "Event",
    "EventBinding",
    "EventHandlers",
    "Handler",
    "HandlerRegistry",
    "PresentationContext",
    "ServiceUser",
    "WireEvents",
    "notify",
]

LOGGER = logging.getLogger("dicomul.sync.events")


class EventHandlers:
    """The AE as the service layer sees it, with the association's event
    handlers first: see the module's docstring.

    ``cancelled`` says whether the peer cancelled the request being served
    (the service layer's check, for ``event.is_cancelled``).
    """

    def __init__(
        self,
        ae: ServiceHandlers,
        registry: HandlerRegistry,
        assoc: object,
        cancelled: Callable[[ServiceRequest], bool] | None = None,
    ) -> None:
        self.ae = ae
        self.registry = registry
        self.assoc = assoc
        self.cancelled = cancelled
        # C-MOVE: the handler's generator, started to learn the destination.
        self._move: tuple[ServiceRequest, Iterator[object]] | None = None

    def _bound(self, event: EventType) -> tuple[Handler, tuple[object, ...]] | None:
        if not self.registry.has(event):  # cheap: nearly always nothing bound
            return None
        handlers = self.registry.handlers(event)
        return handlers[0] if handlers else None

    def _event(self, event: EventType, request: ServiceRequest, **attributes: object) -> Event:
        if event in (EVT_C_FIND, EVT_C_GET, EVT_C_MOVE) and self.cancelled is not None:
            cancelled = self.cancelled
            attributes["is_cancelled"] = lambda: cancelled(request)
        return Event(self.assoc, event, attributes, service=request)

    def _call(self, event: EventType, **attributes: object) -> object:
        bound = self._bound(event)
        assert bound is not None
        handler, args = bound
        return handler(self._event(event, current_request(), **attributes), *args)

    # ---------------------------------------------------- what is the AE's

    @property
    def store_directory(self) -> str | None:
        return self.ae.store_directory

    @property
    def implementation_class_uid(self) -> str:
        return self.ae.implementation_class_uid

    @property
    def implementation_version_name(self) -> str | None:
        return self.ae.implementation_version_name

    def on_c_stored(self, path: pathlib.Path) -> object:
        return self.ae.on_c_stored(path)

    def on_c_store(self, dataset: Dataset) -> object:
        return self.ae.on_c_store(dataset)

    # ----------------------------------------------- events, then the AE's

    def on_c_echo(self) -> object:
        if self._bound(EVT_C_ECHO) is None:
            return self.ae.on_c_echo()
        return self._call(EVT_C_ECHO)

    @property
    def on_c_store_stream(self) -> Callable[[ServiceRequest], StoreSink] | None:
        """With an EVT_C_STORE handler bound: a sink that hands it the data
        set (over on_c_store_stream, store_directory and on_c_store)."""
        bound = self._bound(EVT_C_STORE)
        if bound is None:
            return self.ae.on_c_store_stream
        return lambda request: _EventStoreSink(self, request, bound)

    @property
    def move_destinations(self) -> Mapping[str, MoveAddress]:
        """Where the Move Destination of the C-MOVE being served is.

        With an EVT_C_MOVE handler bound: the address its first yield gives,
        ``(addr, port)`` or ``(addr, port, kwargs)`` with keywords for the
        association to it (none if it yields ``(None, None)``).  Else the
        AE's :attr:`move_destinations`; for a destination they do not know,
        the seed's ``on_c_move`` may yield its address first in the same
        forms (pynetdicom3's handlers did), before the instances."""
        request = current_request()
        title = (request.command.move_destination or "").strip()
        if self._bound(EVT_C_MOVE) is None:
            known = self.ae.move_destinations
            if any(name.strip() == title for name in known):
                return known
            return self._seed_move_address(request, title, known)
        try:
            items = iter(self._call(EVT_C_MOVE))  # type: ignore[call-overload]
            first = next(items, (None, None))
        except Exception as exc:  # on_c_move raises it again: the service's failure
            self._move = (request, _raising(exc))
            return {title: ("", 0)}
        self._move = (request, items)
        address = _move_address(first)
        return {} if address is None else {title: address}

    def _seed_move_address(
        self, request: ServiceRequest, title: str, known: Mapping[str, MoveAddress]
    ) -> Mapping[str, MoveAddress]:
        """A destination the AE does not know: the address ``on_c_move``
        yields first, if it does (its other items are kept for :meth:`on_c_move`)."""
        try:
            items = iter(self.ae.on_c_move(_identifier_of(request), title))
            first = next(items, None)
        except NotImplementedError:  # no handler: the destination is unknown
            return known
        except Exception as exc:  # on_c_move raises it again: the service's failure
            self._move = (request, _raising(exc))
            return {title: ("", 0)}
        address = _move_address(first) if _looks_like_address(first) else None
        if address is None:
            return known  # no address: unknown (0xA801), its items unused
        self._move = (request, items)
        return {title: address}

    def on_c_find(self, identifier: Dataset) -> Iterable[object]:
        if self._bound(EVT_C_FIND) is None:
            return self.ae.on_c_find(identifier)
        return _find_items(self._call(EVT_C_FIND))

    def on_c_get(self, identifier: Dataset) -> Iterable[RetrieveItem]:
        if self._bound(EVT_C_GET) is None:
            return self.ae.on_c_get(identifier)
        return _retrieve_items(iter(self._call(EVT_C_GET)))  # type: ignore[call-overload]

    def on_c_move(self, identifier: Dataset, move_aet: str) -> Iterable[RetrieveItem]:
        started, self._move = self._move, None
        if started is not None and started[0] is not current_request():
            started = None  # left from a request answered before its items were asked
        if self._bound(EVT_C_MOVE) is None:
            if started is not None:  # the seed handler yielded the address first
                return started[1]  # type: ignore[return-value]
            return _without_address(self.ae.on_c_move(identifier, move_aet))
        if started is None:
            raise RuntimeError("the C-MOVE handler's generator was not started")
        return _retrieve_items(started[1])

    def _normalized(
        self,
        event: EventType,
        request: ServiceRequest,
        fallback: Callable[[ServiceRequest], object],
    ) -> object:
        """A DIMSE-N request (an N-CREATE's with its instance UID assigned)."""
        bound = self._bound(event)
        if bound is None:
            return fallback(request)
        handler, args = bound
        return handler(self._event(event, request), *args)

    def on_n_event_report(self, request: ServiceRequest) -> object:
        return self._normalized(EVT_N_EVENT_REPORT, request, self.ae.on_n_event_report)

    def on_n_get(self, request: ServiceRequest) -> object:
        return self._normalized(EVT_N_GET, request, self.ae.on_n_get)

    def on_n_set(self, request: ServiceRequest) -> object:
        return self._normalized(EVT_N_SET, request, self.ae.on_n_set)

    def on_n_action(self, request: ServiceRequest) -> object:
        return self._normalized(EVT_N_ACTION, request, self.ae.on_n_action)

    def on_n_create(self, request: ServiceRequest) -> object:
        return self._normalized(EVT_N_CREATE, request, self.ae.on_n_create)

    def on_n_delete(self, request: ServiceRequest) -> object:
        return self._normalized(EVT_N_DELETE, request, self.ae.on_n_delete)


def _identifier_of(request: ServiceRequest) -> Dataset:
    assert request.dataset is not None  # a C-MOVE always carries one (PS3.7 9.1.4)
    return request.dataset


def _looks_like_address(item: object) -> bool:
    """Whether a retrieve handler's first item is an address, ``(addr, port)``
    or ``(addr, port, kwargs)``, rather than an instance or a ``(status,
    None)`` refusal."""
    return (
        isinstance(item, tuple | list)
        and len(item) in (2, 3)
        and isinstance(item[0], str)
        and isinstance(item[1], int)
        and not isinstance(item[1], bool)
    )


def _without_address(items: Iterable[RetrieveItem]) -> Iterator[RetrieveItem]:
    """The seed ``on_c_move``'s items, without the address it may yield
    first: for a destination in ``move_destinations``, theirs wins."""
    items = iter(items)
    first = next(items, None)
    if first is None:
        return
    if _looks_like_address(first):
        LOGGER.debug("on_c_move's address %r unused: the destination is known", first[:2])  # type: ignore[index]
    else:
        yield first
    yield from items


def _move_address(first: object) -> MoveAddress | None:
    """A C-MOVE handler's first yield as an address (None: ``(None, None)``,
    the destination is unknown); its third part, the association keywords,
    is passed on as given (checked by the service layer)."""
    address = tuple(first) if isinstance(first, tuple | list) else (None, None)
    host, port = (*address, None, None)[:2]
    if host is None or port is None:
        return None
    if len(address) > 2:
        keywords = address[2]
        return (str(host), int(port), keywords if keywords is not None else {})
    return (str(host), int(port))


def _raising(exc: Exception) -> Iterator[object]:
    """An iterator that raises ``exc`` when first asked for an item."""
    raise exc
    yield  # pragma: no cover - makes this a generator


def _find_items(results: object) -> Iterator[object]:
    """An EVT_C_FIND handler's (status, identifier) pairs, as on_c_find's
    items: the status as an int (a Dataset's ``Status`` too); what each
    means is the core's :class:`dicomul.FindOperation`'s."""
    for item in results:  # type: ignore[attr-defined]
        if isinstance(item, tuple):
            status, identifier = item
            yield answer_status(status), identifier
        else:
            yield item


def _retrieve_items(results: Iterator[object]) -> Iterator[RetrieveItem]:
    """An EVT_C_GET/EVT_C_MOVE handler's yields after the address: the
    number of sub-operations (not needed: the matches are counted), then
    (status, data set) pairs.  A pending pair is a match; any other status
    is a ``(status, None)`` refusal, as on_c_get yields one, and ends the
    handler (:func:`dicomul.handler_refusal` decides what it answers)."""
    first = next(results, None)
    if first is not None and not isinstance(first, int):
        raise TypeError(f"a retrieve handler yields the number of matches first, not {first!r}")
    for item in results:
        if isinstance(item, tuple):
            status, dataset = item
            code = answer_status(status)
            if Status(code) != "Pending":
                yield code, None
                return
            yield dataset
        else:
            yield item  # type: ignore[misc]


class _EventStoreSink:
    """A C-STORE's data set for an EVT_C_STORE handler: collected, and
    decoded (with its ``file_meta``) only if the handler reads ``event.dataset``;
    the handler's answer is the status (a raise: the service's failure)."""

    def __init__(
        self,
        handlers: EventHandlers,
        request: ServiceRequest,
        bound: tuple[Handler, tuple[object, ...]],
    ) -> None:
        self.handlers = handlers
        self.request = request
        self.bound = bound
        self.parts: list[bytes] = []

    def write(self, data: bytes | memoryview) -> None:
        self.parts.append(bytes(data))

    def encoded(self) -> bytes:
        """The data set as received, in the negotiated transfer syntax."""
        return b"".join(self.parts)

    def encoded_dataset(self, include_meta: bool = True) -> bytes:
        """pynetdicom's ``event.encoded_dataset()``: the data set as received,
        undecoded, after a Part 10 preamble and file meta information
        (``include_meta``), ready to be written to a file as it is."""
        if not include_meta:
            return self.encoded()
        from dicomul_common.storage import file_meta_bytes  # noqa: PLC0415

        request, ae = self.request, self.handlers.ae
        meta = file_meta_bytes(
            request.sop_class_uid,
            request.sop_instance_uid or "",
            request.transfer_syntax,
            implementation_class_uid=ae.implementation_class_uid,
            implementation_version_name=ae.implementation_version_name,
        )
        return meta + self.encoded()

    def _decode(self) -> Dataset:
        from dicomul_common.handling import decode_data_set  # noqa: PLC0415
        from dicomul_common.storage import file_meta_for  # noqa: PLC0415

        from dicomul import MAX_INFLATED_SIZE  # noqa: PLC0415

        request, ae = self.request, self.handlers.ae
        dataset = decode_data_set(
            self.encoded(), request.transfer_syntax, max_inflated_size=MAX_INFLATED_SIZE
        )
        dataset.file_meta = file_meta_for(
            request.sop_class_uid,
            request.sop_instance_uid or "",
            request.transfer_syntax,
            implementation_class_uid=ae.implementation_class_uid,
            implementation_version_name=ae.implementation_version_name,
        )
        return dataset

    def commit(self) -> int | None:
        handler, args = self.bound
        event = self.handlers._event(EVT_C_STORE, self.request, dataset=self._decode)
        event._attributes["encoded_dataset"] = self.encoded_dataset
        try:
            return answer_status(handler(event, *args))
        finally:
            self.parts = []

    def discard(self) -> None:
        self.parts = []
