"""Progress, idleness and displacement (dicomul._idle), on a virtual clock.

A byte is not progress: the DIMSE and network timeouts are a minimum rate,
not reset by a trickle; an association idle (or stalled) long enough may give
its slot to a new peer, one making progress never does.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_connection import CONFIG, CT, ECHO_RQ, ECHO_RSP, REQUEST, associate, send_message

from dicomul import (
    PROGRESS_BYTES,
    Aborted,
    AbortReason,
    AbortSource,
    AcceptorConfig,
    Command,
    CommandField,
    Connection,
    ConnectionClosed,
    LocalProtocolError,
    Progress,
    RequestAssociation,
    Role,
    State,
    build_associate_rq,
    c_store_rq,
    longest_idle,
    only_the_limit_refuses,
    pdu,
)
from dicomul.testing.pair import ACCEPTOR, REQUESTOR, ConnectionPair

STORE_RQ = c_store_rq(2, CT, "1.2.3")
STORE_RSP = Command(
    command_field=CommandField.C_STORE_RSP,
    message_id_being_responded_to=2,
    affected_sop_class_uid=CT,
    affected_sop_instance_uid="1.2.3",
    status=0,
)


def aborts(events: list[object]) -> list[Aborted]:
    return [e for e in events if isinstance(e, Aborted)]


def begin_store(pair: ConnectionPair, size: int) -> list[bytes]:
    """The requestor sends the C-STORE command (whole); the data set's PDUs
    are returned unsent."""
    message = pair.requestor.start_message(3, STORE_RQ)
    message.push(bytes(1))  # held back (less than a fragment): the command goes alone
    pair.flush(REQUESTOR)
    pair.pump()
    message.push(bytes(size - 1))
    message.finish()
    return [pair.requestor.data_to_send()]


def trickle(pair: ConnectionPair, data: bytes, *, seconds: int) -> list[tuple[float, Aborted]]:
    """Deliver ``data`` to the acceptor one byte a second for ``seconds``
    seconds, firing due timers; the aborts the acceptor reported, with when."""
    found: list[tuple[float, Aborted]] = []
    for second in range(seconds):
        pair.now += 1
        if pair.acceptor.state is State.STA6:
            pair.acceptor.receive_data(data[second : second + 1], now=pair.now)
        found += [(pair.now, a) for a in aborts(pair.advance(0)[ACCEPTOR])]
    return found


# --------------------------------------------------------------- timeouts


@pytest.mark.parametrize("timeout", ["dimse_timeout", "network_timeout"])
def test_a_trickled_p_data_is_aborted_at_the_timeout(timeout: str) -> None:
    """Before: each byte reset the timer, so a byte a second held the
    association for ever.  Now the timeout is a minimum rate."""
    acceptor = Connection(Role.ACCEPTOR, **{timeout: 10})  # type: ignore[arg-type]
    pair = ConnectionPair(acceptor=acceptor)
    associate(pair)
    data = begin_store(pair, 100_000)
    began = pair.now
    found = trickle(pair, b"".join(data), seconds=30)
    # One abort, at the bound, although a byte arrived every second.
    assert [when - began for when, _ in found] == [10]
    assert "timeout" in found[0][1].message
    assert pair.acceptor.state in (State.STA13, State.STA1)


def test_a_trickled_association_request_is_bounded_by_artim_as_a_whole() -> None:
    """ARTIM (PS3.8 9.1.5) runs from the connection to the whole A-ASSOCIATE-RQ:
    a byte a second does not restart it."""
    acceptor = Connection(Role.ACCEPTOR, artim_timeout=10)
    acceptor.transport_connected(now=0)
    rq = pdu.encode(build_associate_rq(REQUEST))
    for second in range(1, 10):
        acceptor.receive_data(rq[second - 1 : second], now=second)
        assert acceptor.next_deadline == 10
    acceptor.handle_timeout(now=10)
    assert acceptor.state is State.STA1
    assert acceptor.next_event() == ConnectionClosed()


def test_a_progressing_store_is_never_timed_out_nor_idle() -> None:
    """2 KiB a second (PROGRESS_BYTES every 2 seconds) against a 10-second
    DIMSE timeout: 100 seconds of transfer, no abort, never idle."""
    pair = ConnectionPair(acceptor=Connection(Role.ACCEPTOR, dimse_timeout=10))
    associate(pair)
    data = b"".join(begin_store(pair, 200_000))
    step = PROGRESS_BYTES // 2
    for offset in range(0, len(data), step):
        pair.now += 1
        pair.acceptor.receive_data(data[offset : offset + step], now=pair.now)
        assert not aborts(pair.advance(0)[ACCEPTOR])
        idle = pair.acceptor.idle_for(pair.now)
        assert idle is None or idle <= 2
    send_message(pair, ACCEPTOR, STORE_RSP, context=3)
    pair.pump()
    assert pair.acceptor.state is State.STA6


def test_a_large_message_written_slowly_starts_the_timer_when_written() -> None:
    """PDUs are produced before they are written: the wait for the response
    starts when the adapter reports the last write, not when it began."""
    pair = ConnectionPair(requestor=Connection(Role.REQUESTOR, dimse_timeout=10))
    associate(pair)
    pair.requestor.send_message(1, ECHO_RQ)
    pair.flush(REQUESTOR)
    pair.requestor.wrote(now=60)  # the write took a minute
    assert pair.requestor.next_deadline == 70


# Issue 15: a data set that takes longer to send than the timeout made its
# sender abort itself right after its last PDU, although bytes flowed all
# along (the wait for the peer was timed from a clock read before the send).


def send_slowly(pair: ConnectionPair, size: int, *, seconds_per_pdu: float) -> list[Aborted]:
    """The requestor sends a C-STORE of ``size`` bytes, each PDU taking
    ``seconds_per_pdu`` of the virtual clock to write (a slow link, the peer
    reading all along), due timers firing between PDUs; the aborts the
    requestor reported."""
    found: list[Aborted] = []
    message = pair.requestor.start_message(3, STORE_RQ)
    for piece in [bytes(16_000)] * (size // 16_000) + [None]:
        if piece is None:
            message.finish()
        else:
            message.push(piece)  # about one PDU's worth
        found += aborts(pair.advance(seconds_per_pdu)[REQUESTOR])
        pair.flush(REQUESTOR)
        pair.pump()
    return found


@pytest.mark.parametrize("timeout", ["dimse_timeout", "network_timeout"])
def test_a_send_longer_than_the_timeout_does_not_time_out_its_sender(timeout: str) -> None:
    """40 PDUs half a second apart (20 seconds) against a 1-second timeout:
    no abort while sending; then, the peer never answering, the abort comes
    one timeout after the last PDU was written, not at once."""
    pair = ConnectionPair(requestor=Connection(Role.REQUESTOR, **{timeout: 1}))  # type: ignore[arg-type]
    associate(pair)
    began = pair.now
    assert send_slowly(pair, 40 * 16_000, seconds_per_pdu=0.5) == []
    assert pair.now - began >= 20
    written = pair.now
    assert pair.requestor.next_deadline == written + 1
    assert aborts(pair.advance(0.9)[REQUESTOR]) == []
    (abort,) = aborts(pair.advance(0.1)[REQUESTOR])
    assert "timeout" in abort.message
    assert pair.requestor.state in (State.STA13, State.STA1)


def test_the_dimse_timeout_waits_for_the_peer_only_once_the_message_is_written() -> None:
    """The DIMSE timeout bounds the wait for the peer's answer: a PDU that
    takes longer than it to write (a slow link) does not time the sender out
    mid-send; the wait starts when the last PDU is written."""
    pair = ConnectionPair(requestor=Connection(Role.REQUESTOR, dimse_timeout=1))
    associate(pair)
    assert send_slowly(pair, 10 * 16_000, seconds_per_pdu=3) == []
    assert pair.requestor.next_deadline == pair.now + 1
    send_message(pair, ACCEPTOR, STORE_RSP, context=3)
    pair.pump()
    assert pair.requestor.state is State.STA6


# --------------------------------------------------------------- idleness


def test_idle_for_grows_from_the_last_progress() -> None:
    pair = ConnectionPair()
    pair.now = 100
    associate(pair)
    assert pair.acceptor.idle_for(130) == 30
    assert pair.requestor.idle_for(130) == 30


def test_not_idle_before_the_association_or_while_answering() -> None:
    acceptor = Connection(Role.ACCEPTOR)
    assert acceptor.idle_for(50) is None  # Sta1
    acceptor.transport_connected(now=0)
    assert acceptor.idle_for(50) is None  # Sta2: ARTIM's business
    pair = ConnectionPair()
    associate(pair)
    send_message(pair, REQUESTOR, ECHO_RQ)
    pair.pump()
    assert pair.acceptor.idle_for(1000) is None  # the request is in its hands
    assert pair.requestor.idle_for(1000) == 1000  # waiting: its peer's turn
    pair.now = 1000
    send_message(pair, ACCEPTOR, ECHO_RSP)
    pair.pump()
    assert pair.acceptor.idle_for(1003) == 3


def test_a_peer_trickling_a_message_is_idle() -> None:
    """Half-way through a C-STORE, one byte a second: no progress, so idle."""
    pair = ConnectionPair()
    associate(pair)
    data = b"".join(begin_store(pair, 100_000))
    assert pair.acceptor.idle_for(0) == 0
    trickle(pair, data, seconds=20)
    assert pair.acceptor.idle_for(pair.now) == 20


def test_a_c_get_scp_waiting_for_its_sub_operation_counts_as_idle() -> None:
    """The C-GET is in the acceptor's hands, but it waits for the peer's
    C-STORE response: if that never comes, the association is idle."""
    pair = ConnectionPair()
    associate(pair)
    get = Command(
        command_field=CommandField.C_GET_RQ,
        message_id=7,
        affected_sop_class_uid=CT,
        priority=0,
        command_data_set_type=0,
    )
    send_message(pair, REQUESTOR, get, b"")
    pair.pump()
    assert pair.acceptor.idle_for(5) is None
    pair.now = 5
    sub = dataclasses.replace(c_store_rq(8, CT, "1.2.4"), move_originator_message_id=7)
    send_message(pair, ACCEPTOR, sub, b"\0\0")
    pair.pump()
    assert pair.acceptor.idle_for(25) == 20


# ------------------------------------------------------------ displacement


def test_provider_abort_sends_an_a_p_abort() -> None:
    """PS3.8 Table 9-26: source 2 (service provider), reason 0
    (reason-not-specified); Sta13 and ARTIM as for any local abort."""
    pair = ConnectionPair()
    associate(pair)
    pair.acceptor.provider_abort(message="displaced", now=pair.now)
    written = pair.acceptor.data_to_send()
    assert pdu.decode(written) == pdu.AbortRQ(
        source=AbortSource.SERVICE_PROVIDER, reason=AbortReason.NOT_SPECIFIED
    )
    (aborted,) = aborts([pair.acceptor.next_event()])
    assert (aborted.source, aborted.by_peer, aborted.message) == (2, False, "displaced")
    assert pair.acceptor.state is State.STA13
    assert pair.acceptor.next_deadline is not None  # ARTIM
    pair.write(ACCEPTOR, written)
    (seen,) = aborts(pair.pump()[REQUESTOR])
    assert (seen.source, seen.reason, seen.by_peer) == (2, 0, True)


def test_provider_abort_needs_an_association() -> None:
    with pytest.raises(LocalProtocolError):
        Connection(Role.ACCEPTOR).provider_abort(message="nothing to abort")


@pytest.mark.parametrize(
    ("idle", "expected"),
    [
        ({}, None),
        ({"a": None, "b": None}, None),
        ({"a": 3.0, "b": 4.9}, None),  # none idle long enough
        ({"a": 3.0, "b": 7.0, "c": 6.0}, "b"),
        ({"a": None, "b": 5.0}, "b"),  # at least: 5 is enough
    ],
)
def test_longest_idle(idle: dict[str, float | None], expected: str | None) -> None:
    assert longest_idle(idle, at_least=5) == expected


@given(st.dictionaries(st.integers(), st.none() | st.floats(0, 1e6)), st.floats(0, 1e6))
def test_longest_idle_picks_the_idlest_if_idle_enough(
    idle: dict[int, float | None], at_least: float
) -> None:
    chosen = longest_idle(idle, at_least=at_least)
    durations = [s for s in idle.values() if s is not None]
    if chosen is None:
        assert not durations or max(durations) < at_least
    else:
        assert idle[chosen] == max(durations) >= at_least


def test_displacing_helps_only_a_request_refused_for_the_limit() -> None:
    rq = build_associate_rq(REQUEST)
    assert only_the_limit_refuses(rq, CONFIG)
    strict = AcceptorConfig(ae_title="OTHER", supported=CONFIG.supported, require_called_aet=True)
    assert not only_the_limit_refuses(rq, strict)
    none = AcceptorConfig(ae_title="SCP", supported=CONFIG.supported, maximum_associations=0)
    assert not only_the_limit_refuses(rq, none)


def test_progress_counts_bytes_up_to_the_threshold() -> None:
    progress = Progress(now=0)
    for second in range(1, 11):
        progress.received(PROGRESS_BYTES // 10 - 1, now=second)
    assert progress.since == 0
    progress.received(16, now=11)
    assert progress.since == 11


def test_requestors_are_tracked_too() -> None:
    """The rules are the engine's, not an acceptor's: a requestor waiting
    for an A-ASSOCIATE-AC is not idle (the ACSE timeout watches it)."""
    requestor = Connection(Role.REQUESTOR)
    requestor.send(RequestAssociation(request=REQUEST), now=0)
    requestor.transport_connected(now=0)
    assert requestor.idle_for(100) is None
