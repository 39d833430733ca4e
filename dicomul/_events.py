"""The events a :class:`~dicomul.Connection` hands out and takes in.

Received (from :meth:`Connection.next_event`): :class:`AssociationRequested`,
:class:`AssociationAccepted`, :class:`AssociationRejected`,
:class:`~dicomul.CommandReceived`, :class:`~dicomul.DataSetFragment`,
:class:`ReleaseRequested`, :class:`Released`, :class:`Aborted`,
:class:`ConnectionClosed` (together :data:`ConnectionEvent`), or
:data:`NEED_DATA`.  ``next_event`` is typed ``ConnectionEvent | NeedData``,
so an adapter under mypy that ends a ``match`` over them with
``assert_never`` is told when it leaves an event unhandled, and
``event is not NEED_DATA`` narrows to :data:`ConnectionEvent`.

Sent (to :meth:`Connection.send`): :class:`RequestAssociation`,
:class:`AcceptAssociation`, :class:`RejectAssociation`,
:class:`RequestRelease`, :class:`RespondRelease`, :class:`Abort`.  DIMSE
messages go out through :meth:`Connection.send_message`.

Every event is a frozen, slotted, keyword-only dataclass.
"""

from __future__ import annotations

from enum import Enum
from typing import Final, TypeAlias

from ._acse import AcceptorConfig, AssociationRequest, Negotiated, NegotiationAnswers
from ._dimse import CommandReceived, DataSetFragment
from ._enums import reject_reason_name
from ._record import dataclass
from .pdu import AssociateAC, AssociateRJ, AssociateRQ

__all__ = [
    "NEED_DATA",
    "Abort",
    "AcceptAssociation",
    "Aborted",
    "AssociationAccepted",
    "AssociationRejected",
    "AssociationRequested",
    "ConnectionClosed",
    "ConnectionEvent",
    "NeedData",
    "RejectAssociation",
    "ReleaseRequested",
    "Released",
    "RequestAssociation",
    "RequestRelease",
    "RespondRelease",
]


class NeedData(Enum):
    """Sentinel type: no event until more bytes are received.

    An enumeration of one member, :data:`NEED_DATA`, so that a type checker
    narrows on identity: after ``if event is NEED_DATA: ...`` (or in a
    ``while ... is not NEED_DATA`` loop) the event is a :data:`ConnectionEvent`.
    """

    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return "NEED_DATA"


#: Returned by :meth:`Connection.next_event` when it needs more bytes.
NEED_DATA: Final = NeedData.NEED_DATA


# ------------------------------------------------------------- received events


@dataclass(frozen=True, slots=True, kw_only=True)
class AssociationRequested:
    """The peer asks for an association (acceptor side; PS3.8 A-ASSOCIATE indication).

    Answer with :class:`AcceptAssociation` or :class:`RejectAssociation`.
    """

    request: AssociateRQ


@dataclass(frozen=True, slots=True, kw_only=True)
class AssociationAccepted:
    """The association is established (A-ASSOCIATE confirmation, accept)."""

    negotiated: Negotiated
    pdu: AssociateAC


@dataclass(frozen=True, slots=True, kw_only=True)
class AssociationRejected:
    """The peer rejected the association (A-ASSOCIATE confirmation, reject)."""

    pdu: AssociateRJ

    @property
    def reason_text(self) -> str:
        """The PS3.8 Table 9-21 name of the reason."""
        return reject_reason_name(self.pdu.source, self.pdu.reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseRequested:
    """The peer asks to release (A-RELEASE indication); answer with :class:`RespondRelease`
    when :attr:`~dicomul.Connection.release_to_answer` says the answer is due
    (after the peer's requests in hand are answered; in a collision, in the
    order PS3.8 Table 9-10 gives).

    ``collision`` is True when both sides asked at once (PS3.8 9.2, Sta9 to Sta12).
    """

    collision: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Released:
    """The association is released (A-RELEASE confirmation)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Aborted:
    """The association was aborted (A-ABORT or A-P-ABORT indication).

    ``by_peer`` is True when the peer sent the A-ABORT; otherwise this side's
    service provider aborted (a protocol error, a timeout, a lost connection)
    and ``message`` says why.  ``connection_lost`` is True when the transport
    closed under the association (AA-4): the peer hung up or vanished.
    """

    source: int
    reason: int
    by_peer: bool
    message: str = ""
    connection_lost: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed:
    """The transport connection is closed, or must now be closed; nothing follows."""


#: Every event :meth:`Connection.next_event` returns, besides :data:`NEED_DATA`.
ConnectionEvent: TypeAlias = (
    AssociationRequested
    | AssociationAccepted
    | AssociationRejected
    | CommandReceived
    | DataSetFragment
    | ReleaseRequested
    | Released
    | Aborted
    | ConnectionClosed
)


# ------------------------------------------------------------------ local events


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestAssociation:
    """Ask for an association (A-ASSOCIATE request, Evt1)."""

    request: AssociationRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptAssociation:
    """Answer an :class:`AssociationRequested` by negotiating with ``config``.

    The engine runs :func:`dicomul.negotiate`: the answer may still be an
    A-ASSOCIATE-RJ (for instance when the called AE title is required and
    wrong).  ``active_associations`` and ``user_identity_result`` are the facts
    only the caller knows.
    """

    config: AcceptorConfig
    active_associations: int = 0
    user_identity_result: tuple[bool, bytes | None] | None = None
    #: The requestor's IP address (:attr:`AcceptorConfig.permitted_peers`).
    peer_address: str | None = None
    #: The application's extended negotiation answers (:func:`dicomul.negotiate`'s ``answers``).
    negotiation_answers: NegotiationAnswers | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectAssociation:
    """Reject the association outright (A-ASSOCIATE response, reject, Evt8)."""

    result: int
    source: int
    reason: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRelease:
    """Ask to release the association (A-RELEASE request, Evt11)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RespondRelease:
    """Agree to release (A-RELEASE response, Evt14)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Abort:
    """Abort the association (A-ABORT request, Evt15).

    AA-1 sends the A-ABORT with the service user as source (PS3.8 Table 9-9);
    its reason field is then "not significant" and is sent as 0.
    """
