"""The events handlers are bound to, as pynetdicom's ``evt`` module has them.

``from dicomul_sync import evt`` (or ``from dicomul_asyncio import evt``,
``from dicomul_trio import evt``) then ``evt.EVT_C_STORE``: the event types
are the core's (:mod:`dicomul._evt`), and the :class:`Event` a handler gets
and the :class:`HandlerRegistry` are :mod:`dicomul_common.events`, the
same for every adapter.
"""

from __future__ import annotations

from dicomul import (
    EVENT_TYPES,
    EVT_ABORTED,
    EVT_ACCEPTED,
    EVT_ASYNC_OPS,
    EVT_C_ECHO,
    EVT_C_FIND,
    EVT_C_GET,
    EVT_C_MOVE,
    EVT_C_STORE,
    EVT_CONN_CLOSE,
    EVT_CONN_OPEN,
    EVT_DATA_RECV,
    EVT_DATA_SENT,
    EVT_DIMSE_RECV,
    EVT_DIMSE_SENT,
    EVT_FSM_TRANSITION,
    EVT_N_ACTION,
    EVT_N_CREATE,
    EVT_N_DELETE,
    EVT_N_EVENT_REPORT,
    EVT_N_GET,
    EVT_N_SET,
    EVT_PDU_RECV,
    EVT_PDU_SENT,
    EVT_REJECTED,
    EVT_RELEASED,
    EVT_REQUESTED,
    EVT_SOP_COMMON,
    EVT_SOP_EXTENDED,
    EVT_USER_ID,
    EventType,
)

from .events import Event, HandlerRegistry

#: The intervention events (a handler decides the answer; one per event).
INTERVENTION_EVENTS = tuple(e for e in EVENT_TYPES if e.is_intervention)
#: The notification events (handlers are told; any number per event).
NOTIFICATION_EVENTS = tuple(e for e in EVENT_TYPES if e.is_notification)

__all__ = [
    "EVT_ABORTED",
    "EVT_ACCEPTED",
    "EVT_ASYNC_OPS",
    "EVT_CONN_CLOSE",
    "EVT_CONN_OPEN",
    "EVT_C_ECHO",
    "EVT_C_FIND",
    "EVT_C_GET",
    "EVT_C_MOVE",
    "EVT_C_STORE",
    "EVT_DATA_RECV",
    "EVT_DATA_SENT",
    "EVT_DIMSE_RECV",
    "EVT_DIMSE_SENT",
    "EVT_FSM_TRANSITION",
    "EVT_N_ACTION",
    "EVT_N_CREATE",
    "EVT_N_DELETE",
    "EVT_N_EVENT_REPORT",
    "EVT_N_GET",
    "EVT_N_SET",
    "EVT_PDU_RECV",
    "EVT_PDU_SENT",
    "EVT_REJECTED",
    "EVT_RELEASED",
    "EVT_REQUESTED",
    "EVT_SOP_COMMON",
    "EVT_SOP_EXTENDED",
    "EVT_USER_ID",
    "INTERVENTION_EVENTS",
    "NOTIFICATION_EVENTS",
    "Event",
    "EventType",
    "HandlerRegistry",
]
