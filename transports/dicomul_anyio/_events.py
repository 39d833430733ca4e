"""Event handlers on the async server: ``serve(handlers, evt_handlers=[...])``.

Theory of operation
-------------------
The event types are the core's (:mod:`dicomul._evt`); binding, the
:class:`~dicomul_common.events.Event` a handler gets and the notifications
are the blocking adapter's too (:mod:`dicomul_common.events`).  What is the
async server's own is here:

- :class:`ServedAssociation`: what ``event.assoc`` is for every event of one
  connection, from EVT_CONN_OPEN to EVT_CONN_CLOSE: the peer's ``address``,
  its A-ASSOCIATE-RQ once received (``request``), then what was agreed
  (``negotiated``, ``accepted_contexts``, ``is_established``).
- :func:`with_event_handlers`: the DIMSE services' intervention events
  (EVT_C_ECHO, EVT_C_STORE, EVT_C_FIND, EVT_C_GET and the DIMSE-N ones) bound in
  ``evt_handlers`` become the :class:`~._handlers.Handlers` fields that
  serve them, so that statuses, cancels and failures are decided by the
  same service layer (and the core's operations) as for ``Handlers``; a
  handler may be an ``async def`` (or an async generator).  An EVT_C_GET
  handler yields as pynetdicom's: the number of matches, then ``(status,
  dataset)`` pairs, a non-pending status refusing the rest (the core's
  :func:`dicomul.handler_refusal`).  C-MOVE keeps its ``Handlers`` field
  (``on_c_move`` and ``move_destinations``): pynetdicom's handler yields
  the destination's address first, which the server needs before it
  calls the handler.
"""

from __future__ import annotations

import contextvars
import dataclasses
import inspect
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from dicomul_common.events import Connecting, Event, HandlerRegistry, ServiceUser
from dicomul_common.requests import current_request

from dicomul import (
    EVT_C_ECHO,
    EVT_C_FIND,
    EVT_C_GET,
    EVT_C_STORE,
    EVT_N_ACTION,
    EVT_N_CREATE,
    EVT_N_DELETE,
    EVT_N_EVENT_REPORT,
    EVT_N_GET,
    EVT_N_SET,
    AcceptedContext,
    Connection,
    EventType,
    Negotiated,
    Status,
    answer_status,
)

if TYPE_CHECKING:
    from dicomul_common.requests import ServiceRequest
    from pydicom.dataset import Dataset

    from ._handlers import Handlers

__all__ = [
    "ServedAssociation",
    "check_notification_handler",
    "serving_association",
    "with_event_handlers",
]


def check_notification_handler(event: EventType, handler: object) -> None:
    """Refuse an ``async def`` bound to a notification event: notifications
    are called synchronously where the event happens (so that they see the
    events in order, and writing a PDU never waits on one), so its
    coroutine would never run.  Interventions may be ``async def``."""
    if event.is_notification and inspect.iscoroutinefunction(handler):
        raise TypeError(
            f"{event} is a notification: its handler is a plain function, called where the "
            f"event happens, not an async def ({handler!r}); start a task from it to await"
        )


class ServedAssociation(Connecting):
    """One connection of the async server, as its events' ``event.assoc``.

    ``cancelled(request)`` looks, without waiting, whether the peer sent a
    C-CANCEL for ``request`` (``event.is_cancelled``)."""

    def __init__(
        self,
        address: tuple[str, int],
        conn: Connection,
        ae_title: str,
        cancelled: Callable[[ServiceRequest], bool] | None = None,
    ) -> None:
        super().__init__(address)
        self._conn = conn
        self._ae_title = ae_title
        self.cancelled = cancelled

    @property
    def is_established(self) -> bool:
        """Whether the association stands (accepted, not yet over)."""
        return self._conn.can_send_messages

    @property
    def negotiated(self) -> Negotiated | None:
        """What was agreed, once accepted."""
        return self._conn.negotiated

    @property
    def accepted_contexts(self) -> list[AcceptedContext]:
        """The presentation contexts accepted (empty before acceptance)."""
        negotiated = self._conn.negotiated
        return [] if negotiated is None else list(negotiated.contexts.values())

    @property
    def acceptor(self) -> ServiceUser:
        """This side: the AE title it serves as."""
        return ServiceUser(self._ae_title, "", 0)

    def __repr__(self) -> str:
        return f"ServedAssociation({self.address!r})"


#: The association being served in this task (for the DIMSE events' ``assoc``).
_SERVED: contextvars.ContextVar[ServedAssociation] = contextvars.ContextVar("dicomul_served")


def serving_association(assoc: ServedAssociation) -> None:
    """Make ``assoc`` the association of this task (each has its own)."""
    _SERVED.set(assoc)


def _event(event_type: EventType, request: ServiceRequest, **attributes: object) -> Event:
    assoc = _SERVED.get(None)
    if assoc is not None and assoc.cancelled is not None and event_type is EVT_C_FIND:
        cancelled = assoc.cancelled
        attributes["is_cancelled"] = lambda: cancelled(request)
    return Event(assoc, event_type, attributes, service=request)


def _bound(registry: HandlerRegistry, event_type: EventType) -> tuple[Any, tuple[object, ...]]:
    handlers = registry.handlers(event_type)
    if not handlers:
        raise RuntimeError(f"the {event_type} handler was unbound")
    return handlers[0]


def with_event_handlers(handlers: Handlers, registry: HandlerRegistry) -> Handlers:
    """``handlers`` with the DIMSE services whose intervention event has a
    handler bound in ``registry`` served by it (see the module's docstring);
    an EVT_C_STORE handler takes over from every other C-STORE field."""
    fields: dict[str, object] = {}

    def bound(event_type: EventType) -> bool:
        return registry.has(event_type)

    if bound(EVT_C_ECHO):

        def on_c_echo() -> object:
            handler, args = _bound(registry, EVT_C_ECHO)
            return handler(_event(EVT_C_ECHO, current_request()), *args)

        fields["on_c_echo"] = on_c_echo
    if bound(EVT_C_STORE):

        def on_c_store(dataset: Dataset) -> object:
            handler, args = _bound(registry, EVT_C_STORE)
            return handler(_event(EVT_C_STORE, current_request(), dataset=dataset), *args)

        fields.update(on_c_store=on_c_store, on_c_store_stream=None, store_directory=None)
    if bound(EVT_C_FIND):

        def on_c_find(identifier: Dataset) -> object:
            handler, args = _bound(registry, EVT_C_FIND)
            return handler(_event(EVT_C_FIND, current_request()), *args)

        fields["on_c_find"] = on_c_find
    if bound(EVT_C_GET):

        def on_c_get(identifier: Dataset) -> AsyncIterator[object]:
            handler, args = _bound(registry, EVT_C_GET)
            return _retrieve_items(handler(_event(EVT_C_GET, current_request()), *args))

        fields["on_c_get"] = on_c_get
    for event_type, name in (
        (EVT_N_EVENT_REPORT, "on_n_event_report"),
        (EVT_N_GET, "on_n_get"),
        (EVT_N_SET, "on_n_set"),
        (EVT_N_ACTION, "on_n_action"),
        (EVT_N_CREATE, "on_n_create"),
        (EVT_N_DELETE, "on_n_delete"),
    ):
        if bound(event_type):
            fields[name] = _normalized(registry, event_type)
    return dataclasses.replace(handlers, **fields) if fields else handlers  # type: ignore[arg-type]


async def _retrieve_items(results: object) -> AsyncIterator[object]:
    """An EVT_C_GET handler's yields (a generator, async or not, or an
    awaitable giving one) as ``Handlers.on_c_get``'s items: the number of
    matches first (not needed: the matches are counted), then each pending
    ``(status, dataset)`` pair's data set; another status is yielded as a
    ``(status, None)`` refusal and ends the handler."""
    if inspect.isawaitable(results):
        results = await results
    first = True
    async for item in _aiter(results):
        if first:
            first = False
            if not isinstance(item, int) or isinstance(item, bool):
                raise TypeError(
                    f"a C-GET handler yields the number of matches first, not {item!r}"
                )
            continue
        if isinstance(item, tuple):
            status, dataset = item
            code = answer_status(status)
            if Status(code) != "Pending":
                yield code, None
                return
            yield dataset
        else:
            yield item


async def _aiter(results: object) -> AsyncIterator[object]:
    """The items of an async iterable or an iterable."""
    if hasattr(results, "__aiter__"):
        async for item in results:
            yield item
    else:
        for item in results:  # type: ignore[attr-defined]
            yield item


def _normalized(registry: HandlerRegistry, event_type: EventType) -> Callable[..., object]:
    """A DIMSE-N service's handler field, calling ``event_type``'s handler."""

    def serve(request: ServiceRequest) -> object:
        handler, args = _bound(registry, event_type)
        return handler(_event(event_type, request), *args)

    return serve
