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
"""

from __future__ import annotations

from enum import Enum, IntEnum

__all__ = [
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


_WARNING_CODES = frozenset({0x0001, 0x0107, 0x0116})

#: General statuses of PS3.7 Annex C (C.1 to C.5), valid for every service.
_GENERAL: dict[int, str] = {
    0x0000: "Success",
    0x0001: "Requested optional attributes are not supported",
    0x0105: "No such attribute",
    0x0106: "Invalid attribute value",
    0x0107: "Attribute list error",
    0x0110: "Processing failure",
    0x0111: "Duplicate SOP Instance",
    0x0112: "No such SOP Instance",
    0x0113: "No such event type",
    0x0114: "No such argument",
    0x0115: "Invalid argument value",
    0x0116: "Attribute value out of range",
    0x0117: "Invalid object instance",
    0x0118: "No such SOP Class",
    0x0119: "Class-instance conflict",
    0x0120: "Missing attribute",
    0x0121: "Missing attribute value",
    0x0122: "Refused: SOP Class not supported",
    0x0123: "No such action",
    0x0124: "Refused: not authorized",
    0x0210: "Duplicate invocation",
    0x0211: "Unrecognized operation",
    0x0212: "Mistyped argument",
    0x0213: "Resource limitation",
    0xFE00: "Cancel: sub-operations terminated due to Cancel indication",
    0xFF00: "Pending: matches are continuing",
    0xFF01: "Pending: matches are continuing, optional keys not supported",
}

#: Service-specific statuses of PS3.4, by service ("store", "find", "get",
#: "move"), as (low, high, meaning) ranges checked in order.
_SERVICE: dict[str, tuple[tuple[int, int, str], ...]] = {
    "store": (  # PS3.4 B.2.3
        (0xA700, 0xA7FF, "Refused: out of resources"),
        (0xA900, 0xA9FF, "Error: data set does not match SOP Class"),
        (0xC000, 0xCFFF, "Error: cannot understand"),
        (0xB000, 0xB000, "Coercion of data elements"),
        (0xB006, 0xB006, "Elements discarded"),
        (0xB007, 0xB007, "Data set does not match SOP Class"),
    ),
    "find": (  # PS3.4 C.4.1.1.4
        (0xA700, 0xA700, "Refused: out of resources"),
        (0xA900, 0xA900, "Identifier does not match SOP Class"),
        (0xC000, 0xCFFF, "Unable to process"),
    ),
    "move": (  # PS3.4 C.4.2.1.5
        (0xA701, 0xA701, "Refused: out of resources, unable to calculate number of matches"),
        (0xA702, 0xA702, "Refused: out of resources, unable to perform sub-operations"),
        (0xA801, 0xA801, "Refused: move destination unknown"),
        (0xA900, 0xA900, "Identifier does not match SOP Class"),
        (0xC000, 0xCFFF, "Unable to process"),
        (0xB000, 0xB000, "Sub-operations complete, one or more failures or warnings"),
    ),
    "get": (  # PS3.4 C.4.3.1.4
        (0xA701, 0xA701, "Refused: out of resources, unable to calculate number of matches"),
        (0xA702, 0xA702, "Refused: out of resources, unable to perform sub-operations"),
        (0xA900, 0xA900, "Identifier does not match SOP Class"),
        (0xC000, 0xCFFF, "Unable to process"),
        (0xB000, 0xB000, "Sub-operations complete, one or more failures or warnings"),
    ),
}


class QueryRetrieveStatus(IntEnum):
    """Failure statuses of the Query/Retrieve service class that an SCP
    chooses among (PS3.4 C.4.1.1.4, C.4.2.1.5, C.4.3.1.4)."""

    #: The identifier is not one the SOP class allows: a Query/Retrieve
    #: Level outside the model, a key that is no value of its VR, a
    #: retrieve without the unique keys it must carry.
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    #: The SCP failed (0xC000 to 0xCFFF: "Unable to process").
    UNABLE_TO_PROCESS = 0xC000


def status_category(code: int) -> StatusCategory:
    """The PS3.7 Annex C category of a status code.

    0x0000 is Success; 0xFE00 Cancel; 0xFF00 and 0xFF01 Pending; 0x0001,
    0x0107, 0x0116 and 0xB000-0xBFFF Warning; everything else Failure.
    """
    if code == 0x0000:
        return StatusCategory.SUCCESS
    if code == 0xFE00:
        return StatusCategory.CANCEL
    if code in (0xFF00, 0xFF01):
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
        return 0xFE00
    if failed and not (completed or warning):
        return 0xA702
    if failed or warning:
        return 0xB000
    return 0x0000
