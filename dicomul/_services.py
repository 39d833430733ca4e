"""DIMSE service rules an SCP follows whatever drives it: the status a
handler's outcome becomes, and each service's name in log lines.

Theory of operation
-------------------
An adapter calls the user's handler for a request (``on_c_echo``,
``on_c_store``, ``on_n_set``...) and must answer the peer whatever
happens.  What the handler gave is one of:

- an answer: a status, a data set carrying ``Status``, or None for Success
  (:func:`answer_status`);
- an outcome without an answer (:class:`HandlerOutcome`): no handler for
  the service, a handler that raised, or data that could not be kept for
  want of resources.  :func:`outcome_status` gives the status each service
  answers for it, from one table per service (:data:`OUTCOME_STATUSES`).

The adapter keeps only the I/O: calling the handler, catching what it
raises, logging.  Which exception is which outcome is the adapter's to say
(in Python, NotImplementedError is "no handler" and OSError "out of
resources"), the status it becomes is the standard's.
"""

from __future__ import annotations

from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING

from ._command import _RESPONSE_BIT, CommandField
from ._status import GeneralStatus, QueryRetrieveStatus, StoreStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "OUTCOME_STATUSES",
    "HandlerOutcome",
    "answer_status",
    "is_cancel_request",
    "outcome_status",
    "service_name",
]


class HandlerOutcome(Enum):
    """What became of an SCP's handler, when it gave no status of its own."""

    #: No handler serves the request (PS3.7 C.5: "Unrecognized operation").
    NOT_IMPLEMENTED = "not implemented"
    #: The handler (or the sink taking the request's data set) failed.
    FAILED = "failed"
    #: The request's data could not be kept: a full disk, too many files.
    OUT_OF_RESOURCES = "out of resources"


_G = GeneralStatus
_Q = QueryRetrieveStatus
_NOT_IMPLEMENTED = _G.UNRECOGNIZED_OPERATION  # PS3.7 C.5 (Annex C, Failure)

#: C-FIND, C-GET and C-MOVE: "Failed: Unable to process" (0xCxxx, PS3.4
#: C.4.1.1.4, C.4.2.1.5, C.4.3.1.4).  Out of resources: C-FIND's Refused
#: (0xA700); a retrieve's "unable to calculate number of matches" (0xA701),
#: since no match was made yet.
_FIND: dict[HandlerOutcome, int] = {
    HandlerOutcome.NOT_IMPLEMENTED: _NOT_IMPLEMENTED,
    HandlerOutcome.FAILED: _Q.UNABLE_TO_PROCESS,
    HandlerOutcome.OUT_OF_RESOURCES: _Q.OUT_OF_RESOURCES,
}
_RETRIEVE: dict[HandlerOutcome, int] = {
    HandlerOutcome.NOT_IMPLEMENTED: _NOT_IMPLEMENTED,
    HandlerOutcome.FAILED: _Q.UNABLE_TO_PROCESS,
    HandlerOutcome.OUT_OF_RESOURCES: _Q.OUT_OF_RESOURCES_MATCHES,
}
#: C-ECHO and the DIMSE-N services: the general "Processing failure" and
#: "Resource limitation" of PS3.7 C.5 (as each N-service's status list
#: in PS3.7 10.1 gives them).
_GENERAL: dict[HandlerOutcome, int] = {
    HandlerOutcome.NOT_IMPLEMENTED: _NOT_IMPLEMENTED,
    HandlerOutcome.FAILED: _G.PROCESSING_FAILURE,
    HandlerOutcome.OUT_OF_RESOURCES: _G.RESOURCE_LIMITATION,
}

#: The status each service answers for each outcome, by request command field.
OUTCOME_STATUSES: Mapping[CommandField, Mapping[HandlerOutcome, int]] = MappingProxyType(
    {
        CommandField.C_ECHO_RQ: _GENERAL,
        # PS3.4 B.2.3, Table B.2-1: "Error: Cannot understand" (0xCxxx) for
        # a store that failed, "Refused: Out of Resources" (0xA7xx) for
        # one that could not be written.
        CommandField.C_STORE_RQ: {
            HandlerOutcome.NOT_IMPLEMENTED: _NOT_IMPLEMENTED,
            HandlerOutcome.FAILED: StoreStatus.CANNOT_UNDERSTAND,
            HandlerOutcome.OUT_OF_RESOURCES: StoreStatus.OUT_OF_RESOURCES,
        },
        CommandField.C_FIND_RQ: _FIND,
        CommandField.C_GET_RQ: _RETRIEVE,
        CommandField.C_MOVE_RQ: _RETRIEVE,
        CommandField.N_EVENT_REPORT_RQ: _GENERAL,
        CommandField.N_GET_RQ: _GENERAL,
        CommandField.N_SET_RQ: _GENERAL,
        CommandField.N_ACTION_RQ: _GENERAL,
        CommandField.N_CREATE_RQ: _GENERAL,
        CommandField.N_DELETE_RQ: _GENERAL,
    }
)


def outcome_status(command_field: int, outcome: HandlerOutcome) -> int:
    """The status to answer a request with when its handler had ``outcome``.

    ``command_field`` is the request's (or its response's) Command Field.
    Raises KeyError for a command that is answered by no response
    (C-CANCEL).

    >>> hex(outcome_status(CommandField.C_STORE_RQ, HandlerOutcome.OUT_OF_RESOURCES))
    '0xa700'
    >>> hex(outcome_status(CommandField.N_SET_RQ, HandlerOutcome.FAILED))
    '0x110'
    """
    return OUTCOME_STATUSES[_request_field(command_field)][outcome]


def answer_status(answer: object) -> int:
    """A handler's answer as a status: an int, an object with ``Status`` (a
    pydicom Dataset), or None for Success (PS3.7 C.1).

    Raises ValueError for a code that does not fit the 16-bit Status
    (0000,0900), and TypeError for an answer that is no status at all.

    >>> answer_status(None), answer_status(0xB000)
    (0, 45056)
    """
    status = getattr(answer, "Status", answer)
    code = int(GeneralStatus.SUCCESS) if status is None else int(status)  # type: ignore[call-overload]
    if not 0 <= code <= 0xFFFF:
        raise ValueError(f"status {code:#x} does not fit the 16-bit Status field")
    return code


#: Each service by the name DCMTK's log lines give it ("Received Echo Request").
_SERVICE_NAMES: Mapping[CommandField, str] = MappingProxyType(
    {
        CommandField.C_ECHO_RQ: "Echo",
        CommandField.C_STORE_RQ: "Store",
        CommandField.C_FIND_RQ: "Find",
        CommandField.C_GET_RQ: "Get",
        CommandField.C_MOVE_RQ: "Move",
        CommandField.C_CANCEL_RQ: "Cancel",
        CommandField.N_EVENT_REPORT_RQ: "Event Report",
        CommandField.N_GET_RQ: "N-GET",
        CommandField.N_SET_RQ: "N-SET",
        CommandField.N_ACTION_RQ: "N-ACTION",
        CommandField.N_CREATE_RQ: "N-CREATE",
        CommandField.N_DELETE_RQ: "N-DELETE",
    }
)


def service_name(command_field: int) -> str:
    """The service of a request or response, as DCMTK's log lines name it
    ("Received Echo Request", "Sending Store Response"); the command field
    in hex for one that is no DIMSE service.

    >>> service_name(CommandField.C_FIND_RSP), service_name(0x0999)
    ('Find', '0x999')
    """
    try:
        return _SERVICE_NAMES[_request_field(command_field)]
    except (KeyError, ValueError):
        return hex(command_field)


def _request_field(command_field: int) -> CommandField:
    """The request's command field for a request's or a response's
    (PS3.7 E.1: a response sets bit 15 of its request's)."""
    return CommandField(command_field & ~_RESPONSE_BIT)


def is_cancel_request(event: object) -> bool:
    """Whether ``event`` is a received C-CANCEL-RQ (PS3.7 9.3.2.3).

    The connection notes a cancel as it delivers it (see
    :meth:`dicomul.Connection.cancel_requested`); an SCP that looks at
    what the peer sent while it performs a C-FIND, C-GET or C-MOVE takes
    this event as handled and keeps every other one for later.
    """
    from ._dimse import CommandReceived  # noqa: PLC0415 - _dimse is a leaf below this module

    return (
        isinstance(event, CommandReceived)
        and event.command.command_field == CommandField.C_CANCEL_RQ
    )
