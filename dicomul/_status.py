"""DIMSE status codes: category and meaning (PS3.7 Annex C; PS3.4 service statuses).

Theory of operation
-------------------
Every DIMSE response carries a Status (0000,0900).  PS3.7 Annex C sorts the
codes into categories by value and range (Success, Warning, Failure, Cancel,
Pending); PS3.4 gives the meanings of the service-specific ranges (0xA000 to
0xCFFF) per service class.  :class:`Status` is an ``int`` that also knows
its category and meaning, and compares equal to its category's name, so that
``status == 'Pending'`` works as the pynetdicom3 documentation shows while
``status == 0xFF00`` still does.

The codes a program sends are named by IntEnums, never written bare:
:class:`GeneralStatus` (PS3.7 Annex C, every service), :class:`StoreStatus`
(PS3.4 B.2.3) and :class:`QueryRetrieveStatus` (PS3.4 C.4).  The meaning
tables behind :func:`status_meaning` are built on those members.
"""

from __future__ import annotations

from enum import Enum, IntEnum

__all__ = [
    "GeneralStatus",
    "QueryRetrieveStatus",
    "Status",
    "StatusCategory",
    "StoreStatus",
    "status_category",
    "status_meaning",
    "suboperations_status",
]


class StatusCategory(Enum):
    """The categories of PS3.7 Annex C."""

    SUCCESS = "Success"
    WARNING = "Warning"
    FAILURE = "Failure"
    CANCEL = "Cancel"
    PENDING = "Pending"


class GeneralStatus(IntEnum):
    """The general statuses of PS3.7 Annex C, valid for every DIMSE service.

    Success (C.1), Pending (C.2), Cancel (C.3), Warning (C.4) and Failure
    (C.5) codes that PS3.7 defines once for all services; the ranges a
    service class gives its own meanings (0xA000 to 0xCFFF) are in
    :class:`StoreStatus` and :class:`QueryRetrieveStatus`.
    """

    SUCCESS = 0x0000
    #: Warning: requested optional attributes are not supported (N-services).
    OPTIONAL_ATTRIBUTES_NOT_SUPPORTED = 0x0001
    NO_SUCH_ATTRIBUTE = 0x0105
    INVALID_ATTRIBUTE_VALUE = 0x0106
    #: Warning: attribute list error.
    ATTRIBUTE_LIST_ERROR = 0x0107
    #: A general failure in processing the operation (a handler that raised).
    PROCESSING_FAILURE = 0x0110
    DUPLICATE_SOP_INSTANCE = 0x0111
    NO_SUCH_SOP_INSTANCE = 0x0112
    NO_SUCH_EVENT_TYPE = 0x0113
    NO_SUCH_ARGUMENT = 0x0114
    INVALID_ARGUMENT_VALUE = 0x0115
    #: Warning: attribute value out of range.
    ATTRIBUTE_VALUE_OUT_OF_RANGE = 0x0116
    INVALID_OBJECT_INSTANCE = 0x0117
    NO_SUCH_SOP_CLASS = 0x0118
    CLASS_INSTANCE_CONFLICT = 0x0119
    MISSING_ATTRIBUTE = 0x0120
    MISSING_ATTRIBUTE_VALUE = 0x0121
    #: Refused: SOP Class not supported (a request on a context whose role forbids it).
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    NO_SUCH_ACTION = 0x0123
    NOT_AUTHORIZED = 0x0124
    DUPLICATE_INVOCATION = 0x0210
    #: An operation the SCP does not perform (no handler, a context that does not allow it).
    UNRECOGNIZED_OPERATION = 0x0211
    MISTYPED_ARGUMENT = 0x0212
    RESOURCE_LIMITATION = 0x0213
    #: The operation (its sub-operations, or matching) stopped on a C-CANCEL.
    CANCEL = 0xFE00
    #: Matches or sub-operations are continuing.
    PENDING = 0xFF00
    #: Matches are continuing; optional keys were not supported.
    PENDING_WARNING = 0xFF01


#: What PS3.7 Annex C says each general status means.
_GENERAL_MEANINGS: dict[GeneralStatus, str] = {
    GeneralStatus.SUCCESS: "Success",
    GeneralStatus.OPTIONAL_ATTRIBUTES_NOT_SUPPORTED: (
        "Requested optional attributes are not supported"
    ),
    GeneralStatus.NO_SUCH_ATTRIBUTE: "No such attribute",
    GeneralStatus.INVALID_ATTRIBUTE_VALUE: "Invalid attribute value",
    GeneralStatus.ATTRIBUTE_LIST_ERROR: "Attribute list error",
    GeneralStatus.PROCESSING_FAILURE: "Processing failure",
    GeneralStatus.DUPLICATE_SOP_INSTANCE: "Duplicate SOP Instance",
    GeneralStatus.NO_SUCH_SOP_INSTANCE: "No such SOP Instance",
    GeneralStatus.NO_SUCH_EVENT_TYPE: "No such event type",
    GeneralStatus.NO_SUCH_ARGUMENT: "No such argument",
    GeneralStatus.INVALID_ARGUMENT_VALUE: "Invalid argument value",
    GeneralStatus.ATTRIBUTE_VALUE_OUT_OF_RANGE: "Attribute value out of range",
    GeneralStatus.INVALID_OBJECT_INSTANCE: "Invalid object instance",
    GeneralStatus.NO_SUCH_SOP_CLASS: "No such SOP Class",
    GeneralStatus.CLASS_INSTANCE_CONFLICT: "Class-instance conflict",
    GeneralStatus.MISSING_ATTRIBUTE: "Missing attribute",
    GeneralStatus.MISSING_ATTRIBUTE_VALUE: "Missing attribute value",
    GeneralStatus.SOP_CLASS_NOT_SUPPORTED: "Refused: SOP Class not supported",
    GeneralStatus.NO_SUCH_ACTION: "No such action",
    GeneralStatus.NOT_AUTHORIZED: "Refused: not authorized",
    GeneralStatus.DUPLICATE_INVOCATION: "Duplicate invocation",
    GeneralStatus.UNRECOGNIZED_OPERATION: "Unrecognized operation",
    GeneralStatus.MISTYPED_ARGUMENT: "Mistyped argument",
    GeneralStatus.RESOURCE_LIMITATION: "Resource limitation",
    GeneralStatus.CANCEL: "Cancel: sub-operations terminated due to Cancel indication",
    GeneralStatus.PENDING: "Pending: matches are continuing",
    GeneralStatus.PENDING_WARNING: "Pending: matches are continuing, optional keys not supported",
}

#: General statuses of PS3.7 Annex C (C.1 to C.5), valid for every service.
_GENERAL: dict[int, str] = {int(code): meaning for code, meaning in _GENERAL_MEANINGS.items()}

#: The warnings among them (PS3.7 C.4); 0xB000 to 0xBFFF are warnings too.
_WARNING_CODES = frozenset(
    {
        GeneralStatus.OPTIONAL_ATTRIBUTES_NOT_SUPPORTED,
        GeneralStatus.ATTRIBUTE_LIST_ERROR,
        GeneralStatus.ATTRIBUTE_VALUE_OUT_OF_RANGE,
    }
)
#: PS3.7 C.2: the pending statuses.
_PENDING_CODES = frozenset({GeneralStatus.PENDING, GeneralStatus.PENDING_WARNING})


class StoreStatus(IntEnum):
    """The C-STORE statuses of PS3.4 B.2.3, Table B.2-1 (one code of each range)."""

    SUCCESS = 0x0000
    #: Refused: Out of Resources (A7xx): the data set could not be kept.
    OUT_OF_RESOURCES = 0xA700
    #: Error: Data Set does not match SOP Class (A9xx).
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    #: Error: Cannot understand (Cxxx).
    CANNOT_UNDERSTAND = 0xC000
    #: Warnings: Coercion of Data Elements, Elements Discarded, Data Set
    #: does not match SOP Class.
    COERCION_OF_DATA_ELEMENTS = 0xB000
    ELEMENTS_DISCARDED = 0xB006
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS_WARNING = 0xB007


class QueryRetrieveStatus(IntEnum):
    """The statuses the Query/Retrieve service class gives its own meanings:
    C-FIND (PS3.4 C.4.1.1.4), C-MOVE (C.4.2.1.5) and C-GET (C.4.3.1.4).

    Success, Cancel and Pending are the general ones of
    :class:`GeneralStatus`.
    """

    #: C-FIND: Refused: Out of Resources.
    OUT_OF_RESOURCES = 0xA700
    #: C-MOVE, C-GET: Refused: Out of Resources - Unable to calculate number of matches.
    OUT_OF_RESOURCES_MATCHES = 0xA701
    #: C-MOVE, C-GET: Refused: Out of Resources - Unable to perform sub-operations.
    OUT_OF_RESOURCES_SUBOPERATIONS = 0xA702
    #: C-MOVE: Refused: Move Destination unknown.
    MOVE_DESTINATION_UNKNOWN = 0xA801
    #: The identifier is not one the SOP class allows: a Query/Retrieve
    #: Level outside the model, a key that is no value of its VR, a
    #: retrieve without the unique keys it must carry.
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    #: The SCP failed (0xC000 to 0xCFFF: "Unable to process").
    UNABLE_TO_PROCESS = 0xC000
    #: C-MOVE, C-GET warning: Sub-operations Complete - One or more Failures or Warnings.
    SUBOPERATIONS_WITH_FAILURES = 0xB000


def _one(code: int, meaning: str) -> tuple[int, int, str]:
    """A range of meanings that holds one code."""
    return (code, code, meaning)


_S = StoreStatus
_Q = QueryRetrieveStatus
#: C-MOVE and C-GET share these (PS3.4 C.4.2.1.5, C.4.3.1.4).
_RETRIEVE_REFUSALS = (
    _one(
        _Q.OUT_OF_RESOURCES_MATCHES,
        "Refused: out of resources, unable to calculate number of matches",
    ),
    _one(
        _Q.OUT_OF_RESOURCES_SUBOPERATIONS,
        "Refused: out of resources, unable to perform sub-operations",
    ),
)
_RETRIEVE_ERRORS = (
    _one(_Q.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, "Identifier does not match SOP Class"),
    (_Q.UNABLE_TO_PROCESS, 0xCFFF, "Unable to process"),
    _one(
        _Q.SUBOPERATIONS_WITH_FAILURES, "Sub-operations complete, one or more failures or warnings"
    ),
)

#: Service-specific statuses of PS3.4, by service ("store", "find", "get",
#: "move"), as (low, high, meaning) ranges checked in order: each range
#: starts at a member of the service's enum (a test checks that they agree).
_SERVICE: dict[str, tuple[tuple[int, int, str], ...]] = {
    "store": (  # PS3.4 B.2.3, Table B.2-1: A7xx, A9xx, Cxxx and three warnings
        (_S.OUT_OF_RESOURCES, 0xA7FF, "Refused: out of resources"),
        (_S.DATA_SET_DOES_NOT_MATCH_SOP_CLASS, 0xA9FF, "Error: data set does not match SOP Class"),
        (_S.CANNOT_UNDERSTAND, 0xCFFF, "Error: cannot understand"),
        _one(_S.COERCION_OF_DATA_ELEMENTS, "Coercion of data elements"),
        _one(_S.ELEMENTS_DISCARDED, "Elements discarded"),
        _one(_S.DATA_SET_DOES_NOT_MATCH_SOP_CLASS_WARNING, "Data set does not match SOP Class"),
    ),
    "find": (  # PS3.4 C.4.1.1.4
        _one(_Q.OUT_OF_RESOURCES, "Refused: out of resources"),
        _one(_Q.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, "Identifier does not match SOP Class"),
        (_Q.UNABLE_TO_PROCESS, 0xCFFF, "Unable to process"),
    ),
    "move": (  # PS3.4 C.4.2.1.5
        *_RETRIEVE_REFUSALS,
        _one(_Q.MOVE_DESTINATION_UNKNOWN, "Refused: move destination unknown"),
        *_RETRIEVE_ERRORS,
    ),
    "get": (*_RETRIEVE_REFUSALS, *_RETRIEVE_ERRORS),  # PS3.4 C.4.3.1.4
}


def status_category(code: int) -> StatusCategory:
    """The PS3.7 Annex C category of a status code.

    0x0000 is Success; 0xFE00 Cancel; 0xFF00 and 0xFF01 Pending; 0x0001,
    0x0107, 0x0116 and 0xB000-0xBFFF Warning; everything else Failure.
    """
    if code == GeneralStatus.SUCCESS:
        return StatusCategory.SUCCESS
    if code == GeneralStatus.CANCEL:
        return StatusCategory.CANCEL
    if code in _PENDING_CODES:
        return StatusCategory.PENDING
    if code in _WARNING_CODES or 0xB000 <= code <= 0xBFFF:
        return StatusCategory.WARNING
    return StatusCategory.FAILURE


def status_meaning(code: int, service: str | None = None) -> str:
    """The meaning PS3.7 Annex C, or PS3.4 for ``service``, gives to ``code``."""
    for low, high, meaning in _SERVICE.get(service or "", ()):
        if low <= code <= high:
            return meaning
    if code in _GENERAL:
        return _GENERAL[code]
    return f"{status_category(code).value} (0x{code:04X})"


class Status(int):
    """A DIMSE status code that knows its category and compares to its name.

    Examples
    --------
    >>> s = Status(0xFF00)
    >>> s == 'Pending', s == 0xFF00, s.category.name
    (True, True, 'PENDING')
    """

    __slots__ = ()

    def __new__(cls, code: int) -> Status:
        if not 0 <= code <= 0xFFFF:
            raise ValueError(f"status 0x{code:X} does not fit the 16-bit Status field")
        return super().__new__(cls, code)

    @property
    def category(self) -> StatusCategory:
        """Success, Warning, Failure, Cancel or Pending (PS3.7 Annex C)."""
        return status_category(self)

    def meaning(self, service: str | None = None) -> str:
        """What the standard says the code means, for ``service`` if given."""
        return status_meaning(self, service)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.category.value == other
        return int(self) == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = int.__hash__

    def __repr__(self) -> str:
        return f"Status(0x{int(self):04X} {self.category.value})"


def suboperations_status(*, completed: int, failed: int, warning: int, cancelled: bool) -> int:
    """The final status of a C-MOVE or C-GET from its sub-operation counts.

    PS3.4 C.4.2.1.5 and C.4.3.1.4: Cancel (0xFE00) if the SCU cancelled;
    "Refused: Out of Resources - Unable to perform sub-operations" (0xA702)
    if every sub-operation failed; "Sub-operations Complete - One or more
    Failures or Warnings" (0xB000) if some failed or warned; else Success.

    >>> hex(suboperations_status(completed=2, failed=1, warning=0, cancelled=False))
    '0xb000'
    >>> hex(suboperations_status(completed=0, failed=3, warning=0, cancelled=False))
    '0xa702'
    >>> suboperations_status(completed=0, failed=0, warning=0, cancelled=False)
    0
    """
    if cancelled:
        return int(GeneralStatus.CANCEL)
    if failed and not (completed or warning):
        return int(QueryRetrieveStatus.OUT_OF_RESOURCES_SUBOPERATIONS)
    if failed or warning:
        return int(QueryRetrieveStatus.SUBOPERATIONS_WITH_FAILURES)
    return int(GeneralStatus.SUCCESS)
