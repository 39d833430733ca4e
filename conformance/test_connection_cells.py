"""Every event in every state, through the Connection itself (PS3.8 Table 9-10).

For each of the 13 states a recipe brings a :class:`Connection` there using
bytes and local requests only; then each of the 19 events is fired: a
received PDU as bytes, a local request through ``send``, the transport and
the ARTIM timer through their calls.  The resulting state must be the one the
table gives, and what the connection writes must be the PDU the action
sends (nothing for the actions that send nothing).  A blank cell must raise
LocalProtocolError (or, for the ARTIM timer, do nothing) and leave the state
as it was.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomul import LocalProtocolError, ReceiveBuffer, pdu
from dicomul._acse import AcceptorConfig, AssociationRequest, SupportedContext, propose_contexts
from dicomul._command import Command, CommandField
from dicomul._connection import Connection, Role
from dicomul._events import (
    NEED_DATA,
    Abort,
    AcceptAssociation,
    ConnectionClosed,
    RejectAssociation,
    RequestAssociation,
    RequestRelease,
    RespondRelease,
)
from dicomul._fsm import TRANSITIONS, Action, Event, State, transition
from dicomul.testing.strategies import pdu_streams

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT = "1.2.840.10008.1.2"
REQUEST = AssociationRequest(
    calling_ae_title="SCU",
    called_ae_title="SCP",
    contexts=propose_contexts([VERIFICATION], [IMPLICIT]),
)
CONFIG = AcceptorConfig(
    ae_title="SCP", supported={VERIFICATION: SupportedContext(transfer_syntaxes=(IMPLICIT,))}
)
ECHO_RQ = Command(
    command_field=CommandField.C_ECHO_RQ, message_id=1, affected_sop_class_uid=VERIFICATION
)


def _new(role: Role) -> Connection:
    return Connection(role, acse_timeout=None)


def _rq_bytes() -> bytes:
    requestor = _new(Role.REQUESTOR)
    requestor.send(RequestAssociation(request=REQUEST))
    requestor.transport_connected()
    return requestor.data_to_send()


RQ = _rq_bytes()
AC = pdu.encode(pdu.AssociateAC(**{  # the acceptor's answer to RQ
    **{
        f: getattr(pdu.decode(RQ), f)
        for f in ("called_ae_title", "calling_ae_title", "application_context")
    },
    "presentation_contexts": (pdu.PresentationContextACItem(
        context_id=1, result=0, transfer_syntax=pdu.TransferSyntaxItem(name=IMPLICIT.encode())
    ),),
    "user_information": pdu.UserInformationItem(
        sub_items=(pdu.MaximumLengthSubItem(maximum_length=16384),)
    ),
}))  # fmt: skip
RJ = pdu.encode(pdu.AssociateRJ(result=1, source=1, reason=1))
RELEASE_RQ = pdu.encode(pdu.ReleaseRQ())
RELEASE_RP = pdu.encode(pdu.ReleaseRP())
ABORT = pdu.encode(pdu.AbortRQ(source=0, reason=0))
UNKNOWN = bytes.fromhex("09000000000400000000")


def drain(conn: Connection) -> list[object]:
    return list(iter(conn.next_event, NEED_DATA))


def feed(conn: Connection, data: bytes) -> bytes:
    conn.receive_data(data, now=0)
    drain(conn)
    return conn.data_to_send()


# ------------------------------------------------------------------- recipes


def sta1() -> Connection:
    return _new(Role.REQUESTOR)


def sta2() -> Connection:
    conn = _new(Role.ACCEPTOR)
    conn.transport_connected(now=0)
    return conn


def sta3() -> Connection:
    conn = sta2()
    feed(conn, RQ)
    return conn


def sta4() -> Connection:
    conn = _new(Role.REQUESTOR)
    conn.send(RequestAssociation(request=REQUEST), now=0)
    return conn


def sta5() -> Connection:
    conn = sta4()
    conn.transport_connected(now=0)
    return conn


def sta6_requestor() -> Connection:
    conn = sta5()
    feed(conn, AC)
    return conn


def sta6_acceptor() -> Connection:
    conn = sta3()
    conn.send(AcceptAssociation(config=CONFIG), now=0)
    return conn


def sta7() -> Connection:
    conn = sta6_requestor()
    conn.send(RequestRelease(), now=0)
    return conn


def sta8() -> Connection:
    conn = sta6_acceptor()
    feed(conn, RELEASE_RQ)
    return conn


def sta9() -> Connection:
    conn = sta7()
    feed(conn, RELEASE_RQ)
    return conn


def sta10() -> Connection:
    conn = sta6_acceptor()
    conn.send(RequestRelease(), now=0)
    feed(conn, RELEASE_RQ)
    return conn


def sta11() -> Connection:
    conn = sta9()
    conn.send(RespondRelease(), now=0)
    return conn


def sta12() -> Connection:
    conn = sta10()
    feed(conn, RELEASE_RP)
    return conn


def sta13() -> Connection:
    conn = sta8()
    conn.send(RespondRelease(), now=0)
    return conn


RECIPES: dict[State, Callable[[], Connection]] = {
    State.STA1: sta1,
    State.STA2: sta2,
    State.STA3: sta3,
    State.STA4: sta4,
    State.STA5: sta5,
    State.STA6: sta6_requestor,
    State.STA7: sta7,
    State.STA8: sta8,
    State.STA9: sta9,
    State.STA10: sta10,
    State.STA11: sta11,
    State.STA12: sta12,
    State.STA13: sta13,
}


def _echo_pdata() -> bytes:
    sender = sta6_requestor()
    sender.data_to_send()
    sender.send_message(1, ECHO_RQ)
    return sender.data_to_send()


ECHO_PDATA = _echo_pdata()


# -------------------------------------------------------------------- events


def fire(conn: Connection, event: Event) -> bytes:
    """Fire ``event`` at ``conn``; return what it wrote."""
    pdus = {
        Event.EVT3: AC,
        Event.EVT4: RJ,
        Event.EVT6: RQ,
        Event.EVT10: ECHO_PDATA,
        Event.EVT12: RELEASE_RQ,
        Event.EVT13: RELEASE_RP,
        Event.EVT16: ABORT,
        Event.EVT19: UNKNOWN,
    }
    conn.data_to_send()  # what the recipe left: not this event's
    if event in pdus:
        return feed(conn, pdus[event])
    if event in (Event.EVT2, Event.EVT5):
        return conn._input(event)  # the transport events of the other role, too
    local: dict[Event, Callable[[], None]] = {
        Event.EVT1: lambda: conn.send(RequestAssociation(request=REQUEST), now=0),
        Event.EVT7: lambda: conn.send(AcceptAssociation(config=CONFIG), now=0),
        Event.EVT8: lambda: conn.send(RejectAssociation(result=1, source=1, reason=1), now=0),
        Event.EVT9: lambda: conn.send_message(1, ECHO_RQ),
        Event.EVT11: lambda: conn.send(RequestRelease(), now=0),
        Event.EVT14: lambda: conn.send(RespondRelease(), now=0),
        Event.EVT15: lambda: conn.send(Abort(), now=0),
    }
    if event in local:
        local[event]()
        return conn.data_to_send()
    if event is Event.EVT17:
        conn.receive_data(b"", now=0)
        drain(conn)
        return conn.data_to_send()
    assert event is Event.EVT18
    conn.handle_timeout(now=1e9)
    drain(conn)
    return conn.data_to_send()


#: The PDU each action writes (PS3.8 Tables 9-6 to 9-9); others write nothing.
WRITES: dict[Action, type] = {
    Action.AE_2: pdu.AssociateRQ,
    Action.AE_7: pdu.AssociateAC,
    Action.AE_8: pdu.AssociateRJ,
    Action.DT_1: pdu.PDataTF,
    Action.AR_7: pdu.PDataTF,
    Action.AR_1: pdu.ReleaseRQ,
    Action.AR_4: pdu.ReleaseRP,
    Action.AR_9: pdu.ReleaseRP,
    Action.AA_1: pdu.AbortRQ,
    Action.AA_7: pdu.AbortRQ,
    Action.AA_8: pdu.AbortRQ,
}

CELLS = [(state, event) for state in State for event in Event]


def test_recipes_reach_their_states() -> None:
    for state, recipe in RECIPES.items():
        assert recipe().state is state


@pytest.mark.parametrize(("state", "event"), CELLS, ids=[f"{s.value}-{e.value}" for s, e in CELLS])
def test_event_in_state(state: State, event: Event) -> None:
    conn = RECIPES[state]()
    action = TRANSITIONS.get((state, event))
    if action is None:
        if event is Event.EVT18:  # the ARTIM timer does not run here: nothing happens
            assert fire(conn, event) == b""
        else:
            with pytest.raises(LocalProtocolError):
                fire(conn, event)
        assert conn.state is state
        return
    _, expected = transition(state, event, is_requestor=conn.is_requestor)
    written = fire(conn, event)
    if action is Action.AA_8 and conn.is_requestor:
        # Read events are taken (fire drains them), and a requestor's own
        # A-ABORT ends the wait in Sta13 at once (Connection._closes_at_once).
        assert conn.next_event() is NEED_DATA
        expected = State.STA1
    assert conn.state is expected
    kinds = [type(p) for p in _split(written)]
    writes = WRITES.get(action)
    if action is Action.AE_6 and expected is State.STA13:
        writes = pdu.AssociateRJ
    assert kinds == ([writes] if writes else [])
    if action is Action.AA_8:
        (abort,) = _split(written)
        assert abort.source == 2  # type: ignore[union-attr]
        assert abort.reason in ((1,) if event is Event.EVT19 else (2,))  # type: ignore[union-attr]


def _split(data: bytes) -> list[pdu.PDU]:
    buffer = ReceiveBuffer()
    buffer.feed(data)
    out = []
    while (item := buffer.next_pdu()) is not None:
        out.append(item)
    return out


# ------------------------------------------------------------------ fuzzing


@st.composite
def hostile_bytes(draw: st.DrawFn) -> bytes:
    """Valid PDUs in any order, garbage, or valid PDUs with bytes overwritten."""
    _, wire = draw(pdu_streams(max_size=5))
    kind = draw(st.sampled_from(["valid", "garbage", "damaged"]))
    if kind == "garbage":
        return draw(st.binary(max_size=300))
    if kind == "damaged":
        data = bytearray(wire)
        for _ in range(draw(st.integers(1, 5))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    return wire


CONNECTED = [s for s in State if s not in (State.STA1, State.STA4)]


@given(
    st.sampled_from(CONNECTED),
    hostile_bytes(),
    st.lists(st.integers(0, 2000), max_size=6),
    st.booleans(),
)
def test_no_peer_input_makes_the_engine_raise(
    state: State, data: bytes, cuts: list[int], timers: bool
) -> None:
    """Whatever a peer sends, in any connected state and however it is cut,
    the engine answers by the table and never raises or hangs; its timers
    fire without error; and once the peer closes, the connection is closed."""
    conn = RECIPES[state]()
    if timers:
        conn.acse_timeout = conn.network_timeout = conn.dimse_timeout = 5.0
    now = 0.0
    seen: list[object] = []
    start = 0
    for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
        if conn.state is State.STA1:
            break
        conn.receive_data(data[start:cut], now=now)
        start = cut
        seen += drain(conn)
        conn.data_to_send()
        deadline = conn.next_deadline
        if deadline is not None:
            now = max(now, deadline)
            conn.handle_timeout(now=now)
            seen += drain(conn)
            conn.data_to_send()
    for _ in range(4):  # every timer fires at most once more
        deadline = conn.next_deadline
        if deadline is None:
            break
        now = max(now, deadline)
        conn.handle_timeout(now=now)
        seen += drain(conn)
    conn.receive_data(b"", now=now)
    seen += drain(conn)
    assert seen.count(ConnectionClosed()) == 1  # told to close, once
    assert conn.state is State.STA1
