"""Pushing a data set chunk by chunk (Connection.start_message, OutgoingMessage,
Fragmenter): the same PDUs as the whole-message form, whatever the chunking;
caller errors change nothing; an abandoned message aborts the association;
C-CANCEL and the asynchronous operations window (PS3.7 D.3.3.3)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_connection import CONFIG, CT, REQUEST, associate

from dicomul import (
    Aborted,
    AcceptAssociation,
    CommandReceived,
    Connection,
    ConnectionClosed,
    DataSetFragment,
    Fragmenter,
    LocalProtocolError,
    RequestAssociation,
    Role,
    State,
    c_echo_rq,
    c_find_rq,
    c_store_rq,
    fragment,
    pdu,
)
from dicomul.testing.pair import ACCEPTOR, REQUESTOR, ConnectionPair

STORE = c_store_rq(1, CT, "1.2.3")


def cut(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` cut at the given chunk sizes (the rest as the last chunk)."""
    chunks, at = [], 0
    for size in sizes:
        chunks.append(data[at : at + size])
        at += size
    chunks.append(data[at:])
    return chunks


@given(
    st.binary(max_size=3000),
    st.lists(st.integers(0, 700), max_size=10),
    st.integers(7, 600),
)
def test_any_chunking_gives_the_same_pdus_as_the_whole_data_set(
    data: bytes, sizes: list[int], max_pdu_length: int
) -> None:
    whole = [pdu.encode(p) for p in fragment(3, STORE, data, max_pdu_length=max_pdu_length)]
    fragmenter = Fragmenter(3, STORE, max_pdu_length=max_pdu_length, length=len(data))
    pushed = [pdu.encode(p) for chunk in cut(data, sizes) for p in fragmenter.push(chunk)]
    pushed += [pdu.encode(p) for p in fragmenter.finish()]
    assert pushed == whole


@given(st.binary(max_size=5000), st.lists(st.integers(0, 2000), max_size=6))
def test_pushed_chunks_round_trip_through_a_receiving_connection(
    data: bytes, sizes: list[int]
) -> None:
    whole_pair, pushed_pair = ConnectionPair(), ConnectionPair()
    for pair in (whole_pair, pushed_pair):
        associate(pair)
    begun = len(whole_pair.transcript)
    whole_pair.send_message(REQUESTOR, 3, STORE, data)
    message = pushed_pair.requestor.start_message(3, STORE, length=len(data), now=0.0)
    for chunk in cut(data, sizes):
        message.push(chunk, now=0.0)
        pushed_pair.flush(REQUESTOR)
    message.finish(now=0.0)
    pushed_pair.flush(REQUESTOR)
    assert not message.open
    whole_bytes = b"".join(b for _, b in whole_pair.transcript[begun:])
    pushed_bytes = b"".join(b for _, b in pushed_pair.transcript[begun:])
    assert pushed_bytes == whole_bytes
    assert len(whole_bytes) > len(data)
    events = pushed_pair.pump()[ACCEPTOR]
    (command,) = [e for e in events if isinstance(e, CommandReceived)]
    assert command.command == STORE
    fragments = [e for e in events if isinstance(e, DataSetFragment)]
    assert b"".join(bytes(f.data) for f in fragments) == data
    assert fragments[-1].is_last


def established() -> ConnectionPair:
    pair = ConnectionPair()
    associate(pair)
    return pair


def test_a_message_without_data_set_is_just_finished() -> None:
    pair = established()
    message = pair.requestor.start_message(1, c_echo_rq(1), now=1.0)
    with pytest.raises(LocalProtocolError, match="announces no data set"):
        message.push(b"x")
    message.finish(now=1.0)
    pair.flush(REQUESTOR)
    (event,) = pair.pump()[ACCEPTOR]
    assert isinstance(event, CommandReceived)
    assert event.command.message_id == 1


def test_caller_errors_change_nothing_and_leave_the_message_open() -> None:
    pair = established()
    message = pair.requestor.start_message(3, STORE, length=4, now=0.0)
    message.push(b"ab")
    pair.flush(REQUESTOR)
    with pytest.raises(LocalProtocolError, match="more than the announced 4"):
        message.push(b"xyz")
    with pytest.raises(LocalProtocolError, match="fewer than the announced 4"):
        message.finish()
    assert message.open
    with pytest.raises(LocalProtocolError, match="still being sent"):
        pair.requestor.start_message(1, c_echo_rq(2))
    assert not pair.requestor.release_to_answer
    message.push(b"cd")
    message.finish()
    pair.flush(REQUESTOR)
    with pytest.raises(LocalProtocolError, match="finished"):
        message.push(b"e")
    with pytest.raises(LocalProtocolError, match="already finished"):
        message.finish()
    events = pair.pump()[ACCEPTOR]
    assert b"".join(bytes(e.data) for e in events if isinstance(e, DataSetFragment)) == b"abcd"
    assert pair.requestor.state is State.STA6


def test_a_message_abandoned_midway_aborts_the_association() -> None:
    pair = established()
    message = pair.requestor.start_message(3, STORE, now=0.0)
    message.push(bytes(40_000), now=1.0)
    pair.flush(REQUESTOR)
    message.abandon(now=2.0)
    abort = pair.requestor.data_to_send()
    assert isinstance(pdu.decode(abort), pdu.AbortRQ)
    event = pair.requestor.next_event()
    assert isinstance(event, Aborted)
    assert "abandoned" in event.message
    assert pair.requestor.next_event() == ConnectionClosed()  # a requestor closes at once
    message.push(b"more")
    assert pair.requestor.data_to_send() == b""  # the association is gone: nothing to write
    pair.write(REQUESTOR, abort)
    assert any(isinstance(e, Aborted) and e.by_peer for e in pair.pump()[ACCEPTOR])


def test_a_message_abandoned_before_any_pdu_is_withdrawn_quietly() -> None:
    pair = established()
    message = pair.requestor.start_message(3, STORE, now=0.0)
    assert pair.requestor.outstanding_requests == {1}
    message.abandon(now=0.0)
    assert pair.requestor.data_to_send() == b""
    assert pair.requestor.outstanding_requests == frozenset()
    assert pair.requestor.state is State.STA6
    assert pair.requestor.may_invoke


def test_send_message_queues_a_whole_message_or_nothing() -> None:
    """A data set the command does not announce (or one missing) is refused
    before anything is queued; the association is untouched."""
    pair = established()
    with pytest.raises(LocalProtocolError, match="Command Data Set Type"):
        pair.requestor.send_message(1, c_echo_rq(1), b"x")
    with pytest.raises(LocalProtocolError, match="Command Data Set Type"):
        pair.requestor.send_message(3, STORE)
    assert pair.requestor.data_to_send() == b""
    assert pair.requestor.outstanding_requests == frozenset()
    pair.requestor.send_message(3, STORE, bytes(40_000))
    pair.flush(REQUESTOR)
    events = pair.pump()[ACCEPTOR]
    assert sum(len(e.data) for e in events if isinstance(e, DataSetFragment)) == 40_000


def test_a_slow_push_does_not_start_the_dimse_timer() -> None:
    # The wait for the response begins when the message is finished: a data
    # set pushed for longer than dimse_timeout is not a late peer (issue 15).
    pair = ConnectionPair(requestor=Connection(Role.REQUESTOR, dimse_timeout=1.0))
    associate(pair)
    message = pair.requestor.start_message(3, STORE, now=0.0)
    for second in range(1, 10):
        message.push(bytes(5000), now=float(second))
        pair.requestor.data_to_send()
        pair.requestor.wrote(now=float(second))
        assert pair.requestor.next_deadline is None
    message.finish(now=10.0)
    pair.requestor.data_to_send()
    assert pair.requestor.next_deadline is None  # handed out, not yet written
    pair.requestor.wrote(now=12.0)
    assert pair.requestor.next_deadline == 13.0


def window_pair(window: int) -> ConnectionPair:
    pair = ConnectionPair()
    request = dataclasses.replace(REQUEST, asynchronous_operations=(window, 1))
    config = dataclasses.replace(CONFIG, asynchronous_operations=(1, window))
    pair.send(REQUESTOR, RequestAssociation(request=request))
    pair.connect()
    pair.pump()
    pair.send(ACCEPTOR, AcceptAssociation(config=config))
    pair.pump()
    return pair


def test_the_window_the_peer_accepted_bounds_outstanding_requests() -> None:
    pair = window_pair(3)
    for message_id in (1, 2, 3):
        assert pair.requestor.may_invoke
        rq = c_store_rq(message_id, CT, f"1.2.{message_id}")
        pair.send_message(REQUESTOR, 3, rq, b"\0\0")
    assert not pair.requestor.may_invoke
    with pytest.raises(LocalProtocolError, match="window"):
        pair.requestor.start_message(3, c_store_rq(4, CT, "1.2.4"))


def test_cancel_for_builds_the_c_cancel_on_the_requests_context() -> None:
    pair = established()
    find = c_find_rq(5, CT)
    pair.send_message(REQUESTOR, 3, find, b"")
    pair.requestor.cancel_for(5, now=1.0)
    pair.flush(REQUESTOR)
    events = [e for e in pair.pump()[ACCEPTOR] if isinstance(e, CommandReceived)]
    assert [e.context_id for e in events] == [3, 3]
    assert events[1].command.message_id_being_responded_to == 5
    assert pair.acceptor.cancel_requested(5)
    with pytest.raises(LocalProtocolError, match="not an outstanding request"):
        pair.requestor.cancel_for(6)


@given(st.binary(min_size=1, max_size=3000), st.integers(1, 700), st.integers(7, 600))
def test_a_buffer_refilled_after_each_push_is_sent_as_it_was(
    data: bytes, chunk_size: int, max_pdu_length: int
) -> None:
    """A reader that fills one bytearray again and again (``readinto``)
    pushes it after each fill: what was pushed is sent, even the bytes held
    back for the next PDU, and even though nothing is written between the
    pushes (the engine keeps views of ``bytes`` only, and copies the rest)."""
    fragmenter = Fragmenter(3, STORE, max_pdu_length=max_pdu_length, length=len(data))
    buffer = bytearray(chunk_size)
    pushed = []
    for start in range(0, len(data), chunk_size):
        piece = data[start : start + chunk_size]
        buffer[: len(piece)] = piece
        pushed.append(fragmenter.push(memoryview(buffer)[: len(piece)]))
        buffer[:] = bytes(len(buffer))  # refilled before anything is written
    sent = [pdu.encode(p) for pdus in pushed for p in pdus] + [
        pdu.encode(p) for p in fragmenter.finish()
    ]
    assert sent == [pdu.encode(p) for p in fragment(3, STORE, data, max_pdu_length=max_pdu_length)]


def test_a_refilled_buffer_pushed_into_a_connection_is_sent_as_it_was() -> None:
    pair = established()
    data = bytes(range(256)) * 100
    message = pair.requestor.start_message(3, STORE, length=len(data), now=0.0)
    buffer = bytearray(1000)
    for start in range(0, len(data), 1000):
        piece = data[start : start + 1000]
        buffer[: len(piece)] = piece
        message.push(memoryview(buffer)[: len(piece)], now=0.0)
    buffer[:] = bytes(1000)
    message.finish(now=0.0)
    pair.flush(REQUESTOR)
    fragments = [e for e in pair.pump()[ACCEPTOR] if isinstance(e, DataSetFragment)]
    assert b"".join(bytes(f.data) for f in fragments) == data


def test_data_to_send_buffers_is_the_same_queue_unjoined() -> None:
    """The data set's fragments are handed out as views of the bytes pushed
    (no copy), each after its PDU header; joined, they are data_to_send()."""
    data = bytes(range(256)) * 300
    joined, unjoined = established(), established()
    joined.requestor.send_message(3, STORE, data, now=0.0)
    unjoined.requestor.send_message(3, STORE, data, now=0.0)
    buffers = unjoined.requestor.data_to_send_buffers()
    assert not unjoined.requestor.data_pending
    assert unjoined.requestor.data_to_send() == b""
    assert b"".join(buffers) == joined.requestor.data_to_send()
    views = [b for b in buffers if isinstance(b, memoryview)]
    assert sum(len(v) for v in views) == len(data)
    assert all(v.obj is data for v in views)
