"""The events an application's handlers are bound to, as plain data.

Theory of operation
-------------------
An adapter lets an application bind handlers to what happens on its
associations, in the manner pynetdicom 2/3 made familiar (``evt_handlers=
[(EVT_C_STORE, handler)]``).  What those events *are* is the same for every
adapter, so it is defined once here: each :class:`EventType` has a name, a
description, and whether it is an *intervention* (the handler decides the
answer: a DIMSE service's status, a user identity's verdict; one handler
at most) or a *notification* (handlers are told, and what they return is
ignored; any number of them).  Nothing here does I/O or reads a clock:
calling handlers, and stamping each event with the time it happened, is
the adapter's.

The intervention events are the DIMSE services an SCP performs (PS3.7 9
and 10), the user identity negotiation (PS3.7 D.3.3.7) and the rest of
the extended negotiation (D.3.3.3, D.3.3.5, D.3.3.6); the notification
events follow the association through the Upper Layer (PS3.8 9: the
connection, the A-ASSOCIATE, A-RELEASE and A-ABORT services, PDUs, the
state machine's transitions) and DIMSE messages (PS3.7 6).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ._command import CommandField
from ._record import dataclass

__all__ = [
    "EVENT_TYPES",
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
    "SERVICE_EVENTS",
    "EventType",
]


@dataclass(frozen=True, slots=True)
class EventType:
    """One kind of event handlers can be bound to.

    ``is_intervention``: the bound handler decides something (the answer to
    a request), so one handler at most is bound to it; otherwise the event
    is a notification, with any number of handlers, whose results are ignored.
    """

    name: str
    description: str
    is_intervention: bool

    @property
    def is_notification(self) -> bool:
        """True for an event handlers are only told about."""
        return not self.is_intervention

    def __str__(self) -> str:
        return self.name


def _intervention(name: str, description: str) -> EventType:
    return EventType(name=name, description=description, is_intervention=True)


def _notification(name: str, description: str) -> EventType:
    return EventType(name=name, description=description, is_intervention=False)


# Intervention events: the DIMSE services an SCP performs (PS3.7 9.1, 10.1).
EVT_C_ECHO = _intervention("EVT_C_ECHO", "C-ECHO request received (PS3.7 9.1.5)")
EVT_C_STORE = _intervention("EVT_C_STORE", "C-STORE request received (PS3.7 9.1.1)")
EVT_C_FIND = _intervention("EVT_C_FIND", "C-FIND request received (PS3.7 9.1.2)")
EVT_C_GET = _intervention("EVT_C_GET", "C-GET request received (PS3.7 9.1.3)")
EVT_C_MOVE = _intervention("EVT_C_MOVE", "C-MOVE request received (PS3.7 9.1.4)")
EVT_N_EVENT_REPORT = _intervention(
    "EVT_N_EVENT_REPORT", "N-EVENT-REPORT request received (PS3.7 10.1.1)"
)
EVT_N_GET = _intervention("EVT_N_GET", "N-GET request received (PS3.7 10.1.2)")
EVT_N_SET = _intervention("EVT_N_SET", "N-SET request received (PS3.7 10.1.3)")
EVT_N_ACTION = _intervention("EVT_N_ACTION", "N-ACTION request received (PS3.7 10.1.4)")
EVT_N_CREATE = _intervention("EVT_N_CREATE", "N-CREATE request received (PS3.7 10.1.5)")
EVT_N_DELETE = _intervention("EVT_N_DELETE", "N-DELETE request received (PS3.7 10.1.6)")
# The acceptor's verdict on a requestor's user identity (PS3.7 D.3.3.7).
EVT_USER_ID = _intervention("EVT_USER_ID", "User identity negotiation (PS3.7 D.3.3.7)")
# The acceptor's answers to the rest of the extended negotiation: the
# asynchronous operations window (the handler is given the window offered and
# returns the one to answer), SOP class extended negotiation (given the
# application information per SOP class, returns the replies per SOP class)
# and SOP class common extended negotiation (given the items per SOP class,
# returns those it takes).
EVT_ASYNC_OPS = _intervention(
    "EVT_ASYNC_OPS", "Asynchronous operations window negotiation (PS3.7 D.3.3.3)"
)
EVT_SOP_EXTENDED = _intervention(
    "EVT_SOP_EXTENDED", "SOP class extended negotiation (PS3.7 D.3.3.5)"
)
EVT_SOP_COMMON = _intervention(
    "EVT_SOP_COMMON", "SOP class common extended negotiation (PS3.7 D.3.3.6)"
)

# Notification events: the connection and the ACSE services (PS3.8 7.1-7.3).
EVT_CONN_OPEN = _notification("EVT_CONN_OPEN", "Connection with the peer opened")
EVT_CONN_CLOSE = _notification("EVT_CONN_CLOSE", "Connection with the peer closed")
EVT_REQUESTED = _notification("EVT_REQUESTED", "Association requested (A-ASSOCIATE-RQ)")
EVT_ACCEPTED = _notification("EVT_ACCEPTED", "Association accepted (A-ASSOCIATE-AC)")
EVT_REJECTED = _notification("EVT_REJECTED", "Association rejected (A-ASSOCIATE-RJ)")
EVT_RELEASED = _notification("EVT_RELEASED", "Association released (A-RELEASE)")
EVT_ABORTED = _notification("EVT_ABORTED", "Association aborted (A-ABORT, A-P-ABORT)")
# Notification events: PDUs (PS3.8 9.3), DIMSE messages (PS3.7 6.3), their
# encoded bytes, and the state machine (PS3.8 Table 9-10).
EVT_PDU_RECV = _notification("EVT_PDU_RECV", "PDU received")
EVT_PDU_SENT = _notification("EVT_PDU_SENT", "PDU sent")
EVT_DIMSE_RECV = _notification("EVT_DIMSE_RECV", "DIMSE message received")
EVT_DIMSE_SENT = _notification("EVT_DIMSE_SENT", "DIMSE message sent")
EVT_DATA_RECV = _notification("EVT_DATA_RECV", "Data received from the peer")
EVT_DATA_SENT = _notification("EVT_DATA_SENT", "Data sent to the peer")
EVT_FSM_TRANSITION = _notification(
    "EVT_FSM_TRANSITION", "State machine transition (PS3.8 Table 9-10)"
)

#: Every event, interventions first.
EVENT_TYPES: tuple[EventType, ...] = (
    EVT_C_ECHO,
    EVT_C_STORE,
    EVT_C_FIND,
    EVT_C_GET,
    EVT_C_MOVE,
    EVT_N_EVENT_REPORT,
    EVT_N_GET,
    EVT_N_SET,
    EVT_N_ACTION,
    EVT_N_CREATE,
    EVT_N_DELETE,
    EVT_USER_ID,
    EVT_ASYNC_OPS,
    EVT_SOP_EXTENDED,
    EVT_SOP_COMMON,
    EVT_CONN_OPEN,
    EVT_CONN_CLOSE,
    EVT_REQUESTED,
    EVT_ACCEPTED,
    EVT_REJECTED,
    EVT_RELEASED,
    EVT_ABORTED,
    EVT_PDU_RECV,
    EVT_PDU_SENT,
    EVT_DIMSE_RECV,
    EVT_DIMSE_SENT,
    EVT_DATA_RECV,
    EVT_DATA_SENT,
    EVT_FSM_TRANSITION,
)

#: The intervention event of each DIMSE request an SCP serves, by the
#: request's Command Field (PS3.7 E.1).
SERVICE_EVENTS: Mapping[CommandField, EventType] = MappingProxyType(
    {
        CommandField.C_ECHO_RQ: EVT_C_ECHO,
        CommandField.C_STORE_RQ: EVT_C_STORE,
        CommandField.C_FIND_RQ: EVT_C_FIND,
        CommandField.C_GET_RQ: EVT_C_GET,
        CommandField.C_MOVE_RQ: EVT_C_MOVE,
        CommandField.N_EVENT_REPORT_RQ: EVT_N_EVENT_REPORT,
        CommandField.N_GET_RQ: EVT_N_GET,
        CommandField.N_SET_RQ: EVT_N_SET,
        CommandField.N_ACTION_RQ: EVT_N_ACTION,
        CommandField.N_CREATE_RQ: EVT_N_CREATE,
        CommandField.N_DELETE_RQ: EVT_N_DELETE,
    }
)
