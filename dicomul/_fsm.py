"""The DICOM Upper Layer state machine of PS3.8 section 9.2, as data.

Theory of operation
-------------------
Rule 1: the table is data.  :data:`TRANSITIONS` maps (state, event) to the
action PS3.8 Table 9-10 names; an action's next state comes from Tables 9-6
to 9-9 (:data:`NEXT_STATE`).  ``conformance/table_9_10.csv``, transcribed by
hand from the standard, is compared with this table cell by cell.

Rule 2: nothing here does anything.  :func:`transition` only answers "which
action, and which state next"; the protocol engine carries out the action
(encodes the PDU, tells the user, asks the adapter to close or to start
ARTIM).  So the whole machine can be tested without a socket or a clock.

A blank cell of Table 9-10 means the event cannot happen in that state.  For
the events a local user or transport causes, that is a misuse of the API and
raises :class:`~dicomul.LocalProtocolError` with the state left as it was.
For events caused by the peer's PDUs the table has no blank cell once a
transport connection exists, so a peer can never drive the machine off the
table.

Two actions have a next state that depends on more than the table:
AE-6 (Sta3 if the service provider accepts the A-ASSOCIATE-RQ, else Sta13)
and AR-8 (Sta9 on the association-requestor side, Sta10 on the acceptor's).
"""

from __future__ import annotations

from enum import Enum

from ._errors import LocalProtocolError

__all__ = [
    "LOCAL_EVENTS",
    "NEXT_STATE",
    "TRANSITIONS",
    "Action",
    "Event",
    "State",
    "transition",
]


class _Member(Enum):
    """An enum hashed by identity, as members are compared.

    ``Enum.__hash__`` hashes the member's name in Python code; the engine
    looks states, events and actions up in dicts and sets for every PDU, so
    the C ``object.__hash__`` is used instead (members are singletons).
    """

    __hash__ = object.__hash__


class State(_Member):
    """States of the DUL state machine, PS3.8 Tables 9-1 to 9-5."""

    #: Idle.
    STA1 = "Sta1"
    #: Transport connection open (awaiting A-ASSOCIATE-RQ PDU).
    STA2 = "Sta2"
    #: Awaiting local A-ASSOCIATE response primitive (from local user).
    STA3 = "Sta3"
    #: Awaiting transport connection opening to complete (from local transport service).
    STA4 = "Sta4"
    #: Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU.
    STA5 = "Sta5"
    #: Association established and ready for data transfer.
    STA6 = "Sta6"
    #: Awaiting A-RELEASE-RP PDU.
    STA7 = "Sta7"
    #: Awaiting local A-RELEASE response primitive (from local user).
    STA8 = "Sta8"
    #: Release collision requestor side; awaiting A-RELEASE response (from local user).
    STA9 = "Sta9"
    #: Release collision acceptor side; awaiting A-RELEASE-RP PDU.
    STA10 = "Sta10"
    #: Release collision requestor side; awaiting A-RELEASE-RP PDU.
    STA11 = "Sta11"
    #: Release collision acceptor side; awaiting A-RELEASE response primitive (from local user).
    STA12 = "Sta12"
    #: Awaiting transport connection close indication (association no longer exists).
    STA13 = "Sta13"


class Event(_Member):
    """Events of the DUL state machine, PS3.8 Table 9-10."""

    #: A-ASSOCIATE request (local user).
    EVT1 = "Evt1"
    #: Transport connect confirmation (local transport service).
    EVT2 = "Evt2"
    #: A-ASSOCIATE-AC PDU (received on transport connection).
    EVT3 = "Evt3"
    #: A-ASSOCIATE-RJ PDU (received on transport connection).
    EVT4 = "Evt4"
    #: Transport connection indication (local transport service).
    EVT5 = "Evt5"
    #: A-ASSOCIATE-RQ PDU (received on transport connection).
    EVT6 = "Evt6"
    #: A-ASSOCIATE response primitive (accept).
    EVT7 = "Evt7"
    #: A-ASSOCIATE response primitive (reject).
    EVT8 = "Evt8"
    #: P-DATA request primitive.
    EVT9 = "Evt9"
    #: P-DATA-TF PDU.
    EVT10 = "Evt10"
    #: A-RELEASE request primitive.
    EVT11 = "Evt11"
    #: A-RELEASE-RQ PDU (received on open transport connection).
    EVT12 = "Evt12"
    #: A-RELEASE-RP PDU (received on transport connection).
    EVT13 = "Evt13"
    #: A-RELEASE response primitive.
    EVT14 = "Evt14"
    #: A-ABORT request primitive.
    EVT15 = "Evt15"
    #: A-ABORT PDU (received on open transport connection).
    EVT16 = "Evt16"
    #: Transport connection closed indication (local transport service).
    EVT17 = "Evt17"
    #: ARTIM timer expired (association reject/release timer).
    EVT18 = "Evt18"
    #: Unrecognized or invalid PDU received.
    EVT19 = "Evt19"


#: Events that the local user, transport or timer cause (the rest are PDUs
#: received from the peer).  A blank cell for one of them is a local misuse.
LOCAL_EVENTS = frozenset(
    {
        Event.EVT1,
        Event.EVT2,
        Event.EVT5,
        Event.EVT7,
        Event.EVT8,
        Event.EVT9,
        Event.EVT11,
        Event.EVT14,
        Event.EVT15,
        Event.EVT17,
        Event.EVT18,
    }
)


class Action(_Member):
    """Actions of the DUL state machine, PS3.8 Tables 9-6 to 9-9."""

    #: Issue TRANSPORT CONNECT request primitive to local transport service.
    AE_1 = "AE-1"
    #: Send A-ASSOCIATE-RQ PDU.
    AE_2 = "AE-2"
    #: Issue A-ASSOCIATE confirmation (accept) primitive.
    AE_3 = "AE-3"
    #: Issue A-ASSOCIATE confirmation (reject) primitive and close transport connection.
    AE_4 = "AE-4"
    #: Issue transport connection response primitive; start ARTIM timer.
    AE_5 = "AE-5"
    #: Stop ARTIM timer; if the A-ASSOCIATE-RQ is acceptable by the service
    #: provider, issue A-ASSOCIATE indication, else send A-ASSOCIATE-RJ PDU and
    #: start ARTIM timer.
    AE_6 = "AE-6"
    #: Send A-ASSOCIATE-AC PDU.
    AE_7 = "AE-7"
    #: Send A-ASSOCIATE-RJ PDU and start ARTIM timer.
    AE_8 = "AE-8"
    #: Send P-DATA-TF PDU.
    DT_1 = "DT-1"
    #: Send P-DATA indication primitive.
    DT_2 = "DT-2"
    #: Send A-RELEASE-RQ PDU.
    AR_1 = "AR-1"
    #: Issue A-RELEASE indication primitive.
    AR_2 = "AR-2"
    #: Issue A-RELEASE confirmation primitive, and close transport connection.
    AR_3 = "AR-3"
    #: Issue A-RELEASE-RP PDU and start ARTIM timer.
    AR_4 = "AR-4"
    #: Stop ARTIM timer.
    AR_5 = "AR-5"
    #: Issue P-DATA indication.
    AR_6 = "AR-6"
    #: Issue P-DATA-TF PDU.
    AR_7 = "AR-7"
    #: Issue A-RELEASE indication (release collision).
    AR_8 = "AR-8"
    #: Send A-RELEASE-RP PDU.
    AR_9 = "AR-9"
    #: Issue A-RELEASE confirmation primitive.
    AR_10 = "AR-10"
    #: Send A-ABORT PDU (service-user source) and start (or restart) ARTIM timer.
    AA_1 = "AA-1"
    #: Stop ARTIM timer if running; close transport connection.
    AA_2 = "AA-2"
    #: Issue A-ABORT indication (service-user initiated) or A-P-ABORT indication
    #: (service-provider initiated), and close transport connection.
    AA_3 = "AA-3"
    #: Issue A-P-ABORT indication primitive.
    AA_4 = "AA-4"
    #: Stop ARTIM timer.
    AA_5 = "AA-5"
    #: Ignore PDU.
    AA_6 = "AA-6"
    #: Send A-ABORT PDU.
    AA_7 = "AA-7"
    #: Send A-ABORT PDU (service-provider source), issue an A-P-ABORT
    #: indication, and start ARTIM timer.
    AA_8 = "AA-8"


S = State
A = Action

#: Next state after each action (PS3.8 Tables 9-6 to 9-9); None where it
#: depends on the situation (AE-6, AR-8: see :func:`transition`).
NEXT_STATE: dict[Action, State | None] = {
    A.AE_1: S.STA4,
    A.AE_2: S.STA5,
    A.AE_3: S.STA6,
    A.AE_4: S.STA1,
    A.AE_5: S.STA2,
    A.AE_6: None,
    A.AE_7: S.STA6,
    A.AE_8: S.STA13,
    A.DT_1: S.STA6,
    A.DT_2: S.STA6,
    A.AR_1: S.STA7,
    A.AR_2: S.STA8,
    A.AR_3: S.STA1,
    A.AR_4: S.STA13,
    A.AR_5: S.STA1,
    A.AR_6: S.STA7,
    A.AR_7: S.STA8,
    A.AR_8: None,
    A.AR_9: S.STA11,
    A.AR_10: S.STA12,
    A.AA_1: S.STA13,
    A.AA_2: S.STA1,
    A.AA_3: S.STA1,
    A.AA_4: S.STA1,
    A.AA_5: S.STA1,
    A.AA_6: S.STA13,
    A.AA_7: S.STA13,
    A.AA_8: S.STA13,
}


_ASSOCIATED = (S.STA6, S.STA7, S.STA8, S.STA9, S.STA10, S.STA11, S.STA12)
"""States with an association established or being released (Sta6 to Sta12)."""


def _pdu_row(
    sta2: Action, sta3_5: Action, sta13: Action, **overrides: Action
) -> dict[State, Action]:
    """A Table 9-10 row for a received PDU: the usual pattern plus exceptions.

    Received PDUs are answered by ``sta2`` in Sta2, ``sta3_5`` in Sta3, Sta5
    and Sta6 to Sta12 (AA-8 or AA-3), and ``sta13`` in Sta13; ``overrides``
    (keyed by state value, e.g. ``Sta6=A.DT_2``) are the row's own cells.
    """
    row = {S.STA2: sta2, S.STA3: sta3_5, S.STA5: sta3_5, S.STA13: sta13}
    row.update(dict.fromkeys(_ASSOCIATED, sta3_5))
    row.update({State(name): action for name, action in overrides.items()})
    return row


_TABLE_9_10: dict[Event, dict[State, Action]] = {
    Event.EVT1: {S.STA1: A.AE_1},
    Event.EVT2: {S.STA4: A.AE_2},
    Event.EVT3: _pdu_row(A.AA_1, A.AA_8, A.AA_6, Sta5=A.AE_3),
    Event.EVT4: _pdu_row(A.AA_1, A.AA_8, A.AA_6, Sta5=A.AE_4),
    Event.EVT5: {S.STA1: A.AE_5},
    Event.EVT6: _pdu_row(A.AE_6, A.AA_8, A.AA_7),
    Event.EVT7: {S.STA3: A.AE_7},
    Event.EVT8: {S.STA3: A.AE_8},
    Event.EVT9: {S.STA6: A.DT_1, S.STA8: A.AR_7},
    Event.EVT10: _pdu_row(A.AA_1, A.AA_8, A.AA_6, Sta6=A.DT_2, Sta7=A.AR_6),
    Event.EVT11: {S.STA6: A.AR_1},
    Event.EVT12: _pdu_row(A.AA_1, A.AA_8, A.AA_6, Sta6=A.AR_2, Sta7=A.AR_8),
    Event.EVT13: _pdu_row(A.AA_1, A.AA_8, A.AA_6, Sta7=A.AR_3, Sta10=A.AR_10, Sta11=A.AR_3),
    Event.EVT14: {S.STA8: A.AR_4, S.STA9: A.AR_9, S.STA12: A.AR_4},
    Event.EVT15: {
        S.STA3: A.AA_1,
        S.STA4: A.AA_2,
        S.STA5: A.AA_1,
        **dict.fromkeys(_ASSOCIATED, A.AA_1),
    },
    Event.EVT16: _pdu_row(A.AA_2, A.AA_3, A.AA_2),
    Event.EVT17: {
        S.STA2: A.AA_5,
        S.STA3: A.AA_4,
        S.STA4: A.AA_4,
        S.STA5: A.AA_4,
        **dict.fromkeys(_ASSOCIATED, A.AA_4),
        S.STA13: A.AR_5,
    },
    Event.EVT18: {S.STA2: A.AA_2, S.STA13: A.AA_2},
    Event.EVT19: _pdu_row(A.AA_1, A.AA_8, A.AA_7),
}

#: PS3.8 Table 9-10: the action for each (state, event) cell that is not blank.
TRANSITIONS: dict[tuple[State, Event], Action] = {
    (state, event): action for event, row in _TABLE_9_10.items() for state, action in row.items()
}


def transition(
    state: State,
    event: Event,
    *,
    is_requestor: bool,
    request_acceptable: bool = True,
) -> tuple[Action, State]:
    """Return the action Table 9-10 names for ``event`` in ``state``, and the next state.

    Parameters
    ----------
    state, event : State, Event
        The cell of Table 9-10.
    is_requestor : bool
        True on the association-requestor side (decides AR-8: Sta9 or Sta10).
    request_acceptable : bool
        For AE-6: whether the service provider accepts the A-ASSOCIATE-RQ
        (Sta3) or rejects it itself (Sta13).

    Raises
    ------
    LocalProtocolError
        If the cell is blank: the event cannot happen in this state.
    """
    action = TRANSITIONS.get((state, event))
    if action is None:
        raise LocalProtocolError(
            f"{event.value} ({_describe(event)}) is not valid in {state.value} "
            f"({_describe(state)}): PS3.8 Table 9-10 has no action for it"
        )
    next_state = NEXT_STATE[action]
    if next_state is None:
        if action is Action.AE_6:
            next_state = S.STA3 if request_acceptable else S.STA13
        else:  # AR-8, release collision
            next_state = S.STA9 if is_requestor else S.STA10
    return action, next_state


def _describe(member: State | Event) -> str:
    return _DESCRIPTIONS.get(member, "")


_DESCRIPTIONS: dict[State | Event, str] = {
    S.STA1: "idle",
    S.STA2: "awaiting A-ASSOCIATE-RQ",
    S.STA3: "awaiting local A-ASSOCIATE response",
    S.STA4: "awaiting transport connection",
    S.STA5: "awaiting A-ASSOCIATE-AC or -RJ",
    S.STA6: "association established",
    S.STA7: "awaiting A-RELEASE-RP",
    S.STA8: "awaiting local A-RELEASE response",
    S.STA9: "release collision, requestor, awaiting local response",
    S.STA10: "release collision, acceptor, awaiting A-RELEASE-RP",
    S.STA11: "release collision, requestor, awaiting A-RELEASE-RP",
    S.STA12: "release collision, acceptor, awaiting local response",
    S.STA13: "awaiting transport close",
    Event.EVT1: "A-ASSOCIATE request",
    Event.EVT2: "transport connect confirmation",
    Event.EVT3: "A-ASSOCIATE-AC PDU",
    Event.EVT4: "A-ASSOCIATE-RJ PDU",
    Event.EVT5: "transport connection indication",
    Event.EVT6: "A-ASSOCIATE-RQ PDU",
    Event.EVT7: "A-ASSOCIATE accept response",
    Event.EVT8: "A-ASSOCIATE reject response",
    Event.EVT9: "P-DATA request",
    Event.EVT10: "P-DATA-TF PDU",
    Event.EVT11: "A-RELEASE request",
    Event.EVT12: "A-RELEASE-RQ PDU",
    Event.EVT13: "A-RELEASE-RP PDU",
    Event.EVT14: "A-RELEASE response",
    Event.EVT15: "A-ABORT request",
    Event.EVT16: "A-ABORT PDU",
    Event.EVT17: "transport connection closed",
    Event.EVT18: "ARTIM timer expired",
    Event.EVT19: "unrecognized or invalid PDU",
}
