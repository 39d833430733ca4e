"""dicomul_anyio: the one async implementation behind dicomul_asyncio and dicomul_trio.

Written once on anyio, so that it runs natively on asyncio and on trio; the
two framework packages re-export it.  Like every adapter it holds no protocol
rule: the core (:mod:`dicomul`) decides, this package moves bytes, keeps
time on the event loop's clock and awaits.

The SCU side: :func:`connect` (C-ECHO, C-STORE, C-FIND, release, abort).
Both take ``evt_handlers=[(evt.EVT_..., handler)]`` (pynetdicom's event
model, the core's event types: :mod:`.evt`), and :func:`connect` takes
``ext_neg=[...]`` (the core's extended negotiation records).

The SCP side: :func:`serve` with :class:`Handlers` (async handlers for
every DIMSE service, a streaming :class:`AsyncStoreSink` or the durable
directory store), a task per association, the association limit, every
timer on the event loop's clock; cancelling it aborts what is open.
"""

from __future__ import annotations

# Inside a handler: the request being served (as in dicomul_sync).
from dicomul_common.events import Connecting, Event
from dicomul_common.requests import ServiceRequest, current_request

from . import evt
from ._client import (
    AssociationAbortedError,
    AssociationRejectedError,
    AsyncAssociation,
    NoAcceptedContextError,
    connect,
)
from ._events import ServedAssociation
from ._handlers import AsyncStoreSink, Handlers
from ._server import serve

__all__ = [
    "AssociationAbortedError",
    "AssociationRejectedError",
    "AsyncAssociation",
    "AsyncStoreSink",
    "Connecting",
    "Event",
    "Handlers",
    "NoAcceptedContextError",
    "ServedAssociation",
    "ServiceRequest",
    "connect",
    "current_request",
    "evt",
    "serve",
]
