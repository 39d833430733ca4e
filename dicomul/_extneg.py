"""Extended negotiation items an application states, as plain records.

Theory of operation
-------------------
Besides its presentation contexts, an A-ASSOCIATE-RQ's User Information may
negotiate more (PS3.7 D.3.3): an asynchronous operations window (D.3.3.3),
SCP/SCU roles (D.3.3.4), SOP class extended negotiation (D.3.3.5), SOP class
common extended negotiation (D.3.3.6) and a user identity (D.3.3.7).  The
records here are what an application hands the requestor for the three that
had no record of their own (roles and identity are
:class:`dicomul.RoleProposal` and :class:`dicomul.UserIdentity`), under the
names a pynetdicom program knows, and what an acceptor's decisions are made
of.  :func:`requested_negotiation` reads them back out of a received
A-ASSOCIATE-RQ, so an adapter can ask the application what to answer
before :func:`dicomul.negotiate` runs.  Pure data; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._record import dataclass
from .pdu import AssociateRQ

__all__ = [
    "AsynchronousOperationsWindowNegotiation",
    "RequestedNegotiation",
    "SOPClassCommonExtendedNegotiation",
    "SOPClassExtendedNegotiation",
    "requested_negotiation",
]

_MAX_WINDOW = 0xFFFF


@dataclass(frozen=True, slots=True)
class AsynchronousOperationsWindowNegotiation:
    """The asynchronous operations window (PS3.7 D.3.3.3): how many
    operations the requestor may have outstanding as invoker and as
    performer, 0 meaning no limit; (1, 1) is synchronous operation."""

    maximum_number_operations_invoked: int = 1
    maximum_number_operations_performed: int = 1

    def __post_init__(self) -> None:
        for name in ("maximum_number_operations_invoked", "maximum_number_operations_performed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} is an int, not {type(value).__name__}")
            if not 0 <= value <= _MAX_WINDOW:
                raise ValueError(f"{name} is 0 (no limit) to 65535, not {value} (PS3.7 D.3.3.3)")


@dataclass(frozen=True, slots=True)
class SOPClassExtendedNegotiation:
    """SOP class extended negotiation (PS3.7 D.3.3.5): the service class
    application information for one SOP class (its meaning is the service
    class's, PS3.4; e.g. C.3.5 for the query/retrieve classes)."""

    sop_class_uid: str
    service_class_application_information: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.service_class_application_information, bytes):
            raise TypeError("service_class_application_information is bytes")


@dataclass(frozen=True, slots=True)
class SOPClassCommonExtendedNegotiation:
    """SOP class common extended negotiation (PS3.7 D.3.3.6): the service
    class of a SOP class and the general SOP classes it specialises.  The
    acceptor sends no reply item; it only takes note of those it accepts."""

    sop_class_uid: str
    service_class_uid: str
    related_general_sop_class_identification: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.related_general_sop_class_identification, tuple):
            raise TypeError("related_general_sop_class_identification is a tuple of UIDs")


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestedNegotiation:
    """What an A-ASSOCIATE-RQ's User Information asks beyond the contexts,
    for the acceptor's application to answer."""

    #: The window offered, (maximum invoked, maximum performed), or None.
    asynchronous_operations: tuple[int, int] | None
    #: SOP class UID -> the service class application information.
    extended_negotiation: Mapping[str, bytes]
    #: SOP class UID -> its common extended negotiation.
    common_extended_negotiation: Mapping[str, SOPClassCommonExtendedNegotiation]


def requested_negotiation(rq: AssociateRQ) -> RequestedNegotiation:
    """The extended negotiation ``rq`` requests (PS3.7 D.3.3.3, D.3.3.5,
    D.3.3.6), UIDs normalised; a repeated SOP class keeps its last item."""
    info = rq.user_information
    if info is None:
        return RequestedNegotiation(
            asynchronous_operations=None, extended_negotiation={}, common_extended_negotiation={}
        )
    window = info.asynchronous_operations_window
    return RequestedNegotiation(
        asynchronous_operations=None
        if window is None
        else (window.max_operations_invoked, window.max_operations_performed),
        extended_negotiation={
            item.sop_class: item.service_class_application_information
            for item in info.extended_negotiations
        },
        common_extended_negotiation={
            item.sop_class: SOPClassCommonExtendedNegotiation(
                item.sop_class, item.service_class, item.related_general_sop_classes
            )
            for item in info.common_extended_negotiations
        },
    )
