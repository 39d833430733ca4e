"""The conversation decoder (dicomul._conversation): a scripted association
decoded whole, in any chunking, mid-association, mid-stream, with bytes
lost, garbled or doubled; and arbitrary bytes never make it raise."""

from __future__ import annotations

from collections.abc import Sequence

from conversations import (
    BIG,
    CT,
    EXPLICIT,
    IMPLICIT,
    MR,
    STUDY_FIND,
    VERIFICATION,
    Expected,
    Piece,
    association,
    data_set,
    decode_all,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomul import (
    ConversationDecoder,
    ConversationEvent,
    Ending,
    Finding,
    Role,
    SeenCommand,
    SeenDataSetBytes,
    SeenEnd,
    SeenMessage,
    SeenNegotiation,
    SeenPDU,
    c_echo_rq,
    describe_association,
    describe_frame,
    fragment,
    guess_transfer_syntax,
    pdu,
    response_for,
)
from dicomul.pdu import AbortRQ, AssociateRJ

REQ, ACC = Role.REQUESTOR, Role.ACCEPTOR


def of(kind: type, events: Sequence[ConversationEvent]) -> list:  # type: ignore[type-arg]
    return [event for event in events if isinstance(event, kind)]


def messages(
    events: Sequence[ConversationEvent],
) -> list[tuple[Role, str, int | None, int | None]]:
    return [(m.sender, m.name, m.message_id, m.data_set_size) for m in of(SeenMessage, events)]


def expected_messages(expected: Sequence[Expected]) -> list[tuple[Role, str, int, int | None]]:
    return [
        (e.sender, e.name, e.message_id, None if e.data is None else len(e.data)) for e in expected
    ]


def data_sets(events: Sequence[ConversationEvent]) -> list[bytes]:
    """The data sets' bytes, joined per message, in order."""
    joined: list[bytes] = []
    parts: list[bytes] = []
    for event in events:
        if isinstance(event, SeenDataSetBytes):
            parts.append(bytes(event.data))
            if event.is_last:
                joined.append(b"".join(parts))
                parts = []
    return joined


def streams(pieces: Sequence[Piece]) -> dict[Role, bytes]:
    return {role: b"".join(data for sender, data in pieces if sender is role) for role in Role}


# ------------------------------------------------------------ a whole association


def test_a_whole_association_decodes_message_by_message() -> None:
    pieces, expected = association()
    events = decode_all(pieces)
    assert not of(Finding, events)
    assert messages(events) == expected_messages(expected)
    assert data_sets(events) == [e.data for e in expected if e.data is not None]
    # Every PDU, at its offset in its sender's stream.
    for role, stream in streams(pieces).items():
        seen = [e for e in of(SeenPDU, events) if e.sender is role]
        assert b"".join(stream[e.offset : e.offset + 6 + e.length] for e in seen) == stream
        assert all(
            e.pdu is not None and pdu.encode(e.pdu) == stream[e.offset : e.offset + 6 + e.length]
            for e in seen
        )
    # The negotiation: contexts and their transfer syntaxes, the set-up time.
    (negotiation,) = of(SeenNegotiation, events)
    assert negotiation.accepted
    assert negotiation.setup_time == 1.0
    assert [
        (c.context_id, c.abstract_syntax, c.transfer_syntax, c.result_meaning)
        for c in negotiation.contexts
    ] == [
        (1, VERIFICATION, IMPLICIT, "Accepted"),
        (3, CT, EXPLICIT, "Accepted"),
        (5, MR, IMPLICIT, "Accepted"),
        (7, STUDY_FIND, EXPLICIT, "Accepted"),
    ]
    by_name = {(m.name, m.message_id, m.status): m for m in of(SeenMessage, events)}
    store = by_name["C-STORE-RQ", 3, None]
    assert (store.sop_class_uid, store.sop_instance_uid, store.transfer_syntax) == (
        MR,
        "1.2.3.1",
        IMPLICIT,
    )
    assert not store.transfer_syntax_guessed
    assert store.complete
    # Responses know their request: statuses, meanings, latency.
    pending = by_name["C-FIND-RSP", 50, 0xFF00]
    final = by_name["C-FIND-RSP", 50, 0x0000]
    assert pending.status_meaning == "Pending: matches are continuing"
    assert final.status_meaning == "Success"
    assert pending.request is final.request is by_name["C-FIND-RQ", 50, None]
    assert final.latency == final.time - final.request.time  # type: ignore[union-attr, operator]
    (end,) = of(SeenEnd, events)
    assert (end.how, end.sender, end.offset) == (
        Ending.RELEASED,
        ACC,
        of(SeenPDU, events)[-1].offset,
    )


def test_commands_come_before_their_data_and_each_gets_one_message() -> None:
    pieces, _ = association()
    events = decode_all(pieces)
    order = [type(e).__name__ for e in events if isinstance(e, SeenCommand | SeenMessage)]
    assert order == ["SeenCommand", "SeenMessage"] * (len(order) // 2)


def test_a_pdu_describes_itself_as_the_apps_debug_trace_does() -> None:
    pieces, _ = association()
    events = decode_all(pieces)
    for event in of(SeenPDU, events):
        stream = streams(pieces)[event.sender]
        frame = stream[event.offset : event.offset + 6 + event.length]
        assert event.describe() == describe_frame(frame) + describe_association(frame)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_chunking_gives_the_same_conversation(data: st.DataObject) -> None:
    pieces, expected = association(stores=3, store_size=2500)
    chunked: list[Piece] = []
    for sender, piece in pieces:
        cuts = sorted(data.draw(st.lists(st.integers(0, len(piece)), max_size=4)))
        for start, end in zip([0, *cuts], [*cuts, len(piece)], strict=True):
            if end > start:
                chunked.append((sender, piece[start:end]))
    events = decode_all(chunked)
    assert not of(Finding, events)
    assert messages(events) == expected_messages(expected)
    assert data_sets(events) == [e.data for e in expected if e.data is not None]


# ------------------------------------------------------------ long P-DATA-TFs


def test_a_p_data_tf_too_long_to_hold_is_handed_on_as_it_arrives() -> None:
    pieces, expected = association(max_pdu=16384, store_size=12000)
    chunked = [(s, p[i : i + 700]) for s, p in pieces for i in range(0, len(p), 700)]
    events = decode_all(chunked, ConversationDecoder(hold_pdata_up_to=1000))
    assert not of(Finding, events)
    assert messages(events) == expected_messages(expected)
    assert data_sets(events) == [e.data for e in expected if e.data is not None]
    long = [e for e in of(SeenPDU, events) if e.pdu is None]
    assert long
    assert all(e.length > 1000 and len(e.head) == 512 for e in long)
    assert long[0].describe()[-1].startswith("PDVs: not listed")
    assert (
        long[0].describe()[0]
        == f"PDU Type: Data, PDU Length: {long[0].length} + 6 bytes PDU header"
    )


def test_a_p_data_tf_longer_than_the_receiver_announced_is_reported() -> None:
    pieces, _ = association(max_pdu=4096, acceptor_max_pdu=1024)
    events = decode_all(pieces)
    (finding,) = of(Finding, events)
    assert "longer than the maximum length 1024 the acceptor announced" in finding.message
    assert finding.sender is REQ


# ------------------------------------------------------------ half a conversation


def test_a_capture_that_starts_mid_association_says_what_it_does_not_know() -> None:
    pieces, expected = association()
    events = decode_all(pieces[2:])  # no A-ASSOCIATE-RQ or -AC
    (finding,) = of(Finding, events)
    assert "mid-association" in finding.message
    assert finding.offset == 0
    assert messages(events) == expected_messages(expected)
    stores = [m for m in of(SeenMessage, events) if m.name == "C-STORE-RQ"]
    # Not negotiated, so guessed from each data set's first element header.
    assert [(m.transfer_syntax, m.transfer_syntax_guessed) for m in stores] == [
        (EXPLICIT, True),
        (IMPLICIT, True),
    ]
    assert not of(SeenNegotiation, events)


def test_a_capture_that_starts_mid_pdu_finds_the_first_whole_one() -> None:
    pieces, expected = association()
    stream = streams(pieces)
    # Start the requestor's side 100 bytes into its first C-STORE's data set.
    store_at = stream[REQ].index(b"1.2.3.0") + 100
    decoder = ConversationDecoder(mid_stream=True)
    events = (
        decoder.feed(REQ, stream[REQ][store_at:], 0.0)
        + decoder.feed(ACC, stream[ACC], 1.0)
        + decoder.close()
    )
    first = of(Finding, events)[0]
    assert first.sender is REQ
    assert first.offset == 0
    assert first.message.startswith("bytes 0 to ")
    assert "skipped; a P-DATA-TF follows" in first.message
    later = [m for m in messages(events) if m[0] is REQ]
    assert later == [m for m in expected_messages(expected) if m[0] is REQ and m[2] > 2]


def test_bytes_lost_in_a_data_set_leave_that_message_incomplete_and_no_other() -> None:
    pieces, expected = association()
    decoder = ConversationDecoder()
    events: list[ConversationEvent] = []
    lost = None
    for sender, data in pieces:
        if lost is None and sender is REQ and data[11] & 1 == 0:  # a data-set PDV
            lost = len(b"".join(d for s, d in pieces[: pieces.index((sender, data))] if s is REQ))
            events += decoder.gap(REQ, len(data))
            continue
        events += decoder.feed(sender, data)
    events += decoder.close()
    findings = [f.message for f in of(Finding, events)]
    assert findings == [
        f"1030 bytes missing from the capture at byte {lost}",
        "C-STORE-RQ (MsgID 2) is incomplete: 0 bytes of its data set came",
    ]
    incomplete = [m for m in of(SeenMessage, events) if not m.complete]
    assert [(m.name, m.message_id) for m in incomplete] == [("C-STORE-RQ", 2)]
    # The rest of that data set is skipped quietly; every other message is whole.
    assert [m for m in messages(events) if m[:3] != (REQ, "C-STORE-RQ", 2)] == [
        m for m in expected_messages(expected) if m[:3] != (REQ, "C-STORE-RQ", 2)
    ]


def test_garbage_between_pdus_is_reported_at_its_offset_and_skipped() -> None:
    pieces, expected = association()
    junk = b"\x04\x00\xff\xff\xff\xffGARBAGE" * 3
    at = 5  # after the C-ECHO-RQ
    garbled = [*pieces[:at], (REQ, junk), *pieces[at:]]
    stream_before = len(b"".join(d for s, d in pieces[:at] if s is REQ))
    events = decode_all(garbled)
    first, second = of(Finding, events)
    assert first.offset == stream_before
    assert first.sender is REQ
    assert first.message.startswith(f"no PDU header at byte {stream_before} (")
    assert second.message == (
        f"bytes {stream_before} to {stream_before + len(junk) - 1} ({len(junk)} bytes) "
        "are no PDU: skipped; a P-DATA-TF follows"
    )
    assert messages(events) == expected_messages(expected)


def test_a_pdu_whose_body_does_not_decode_is_skipped_by_its_length() -> None:
    pieces, expected = association()
    sender, echo = pieces[2]
    # Three bytes more: too few for a second PDV item's header.
    broken = bytearray(echo + b"\x00\x00\x00")
    broken[2:6] = (len(broken) - 6).to_bytes(4, "big")
    events = decode_all([*pieces[:2], (sender, bytes(broken)), *pieces[3:]])
    finding = of(Finding, events)[0]
    at = len(pieces[0][1])
    assert finding.offset == at + len(echo)
    assert finding.message.startswith(
        f"the P-DATA-TF at byte {at} does not decode: 3 bytes left, too few for a PDV item header"
    )
    assert finding.head == bytes(broken)
    # The echo's request is gone; its response answers a request not captured.
    echo_rsp = [m for m in of(SeenMessage, events) if m.name == "C-ECHO-RSP"]
    assert echo_rsp[0].request is None
    assert messages(events) == expected_messages(expected)[1:]


def test_a_pdv_on_a_context_not_accepted_is_reported_and_still_decoded() -> None:
    pieces, _ = association()
    echo = c_echo_rq(99)
    stray = [(REQ, pdu.encode(p)) for p in fragment(9, echo, None, max_pdu_length=1024)]
    events = decode_all([*pieces[:2], *stray, *pieces[2:]])
    finding, unanswered = of(Finding, events)
    assert finding.message.startswith(
        "a PDV on presentation context 9, which the A-ASSOCIATE-AC did not accept"
    )
    assert unanswered.message == "C-ECHO-RQ (MsgID 99) got no final response"
    assert messages(events)[0] == (REQ, "C-ECHO-RQ", 99, None)


def test_an_abort_in_a_data_set_ends_the_message_and_the_association() -> None:
    pieces, _ = association()
    cut = next(i for i, (s, d) in enumerate(pieces) if s is REQ and len(d) > 1000)
    abort = pdu.encode(AbortRQ(source=2, reason=6))
    events = decode_all([*pieces[: cut + 1], (ACC, abort)])
    (message,) = [m for m in of(SeenMessage, events) if not m.complete]
    assert (message.name, message.data_set_size) == ("C-STORE-RQ", 1024 - 6)
    assert of(SeenEnd, events)[0].how is Ending.ABORTED
    assert of(SeenEnd, events)[0].detail == "service-provider, invalid-pdu-parameter-value"


def test_a_rejection() -> None:
    pieces, _ = association()
    rj = pdu.encode(AssociateRJ(result=1, source=1, reason=7))
    events = decode_all([pieces[0], (ACC, rj)])
    (negotiation,) = of(SeenNegotiation, events)
    assert not negotiation.accepted
    assert (
        negotiation.rejection == "rejected-permanent, service-user, called-AE-title-not-recognized"
    )
    assert [e.how for e in of(SeenEnd, events)] == [Ending.REJECTED]


def test_the_end_of_a_capture_reports_what_it_left_unfinished() -> None:
    pieces, _ = association()
    cut = next(i for i, (s, d) in enumerate(pieces) if s is REQ and len(d) > 1000)
    sender, half = pieces[cut]
    events = decode_all([*pieces[:cut], (sender, half[:300])])
    stream = streams(pieces[:cut])[REQ]
    assert [f.message for f in of(Finding, events)] == [
        f"the stream ends within the PDU at byte {len(stream)} (300 of {len(half)} bytes came)",
        "C-STORE-RQ (MsgID 2) is incomplete: 0 bytes of its data set came",
    ]
    assert of(SeenEnd, events)[-1].how is Ending.CLOSED


def test_a_request_never_answered_is_reported_at_the_end() -> None:
    pieces, _ = association()
    events = decode_all(pieces[:3])  # the C-ECHO-RQ, not its response
    (finding,) = of(Finding, events)
    assert finding.message == "C-ECHO-RQ (MsgID 1) got no final response"
    assert (finding.sender, finding.offset) == (REQ, len(pieces[0][1]) + 6)  # its first PDV


def test_the_transfer_syntax_guess() -> None:
    assert guess_transfer_syntax(data_set(20)) == EXPLICIT
    assert guess_transfer_syntax(data_set(20, explicit=False)) == IMPLICIT
    assert guess_transfer_syntax(bytes.fromhex("0008 0016") + b"UI\x00\x02") == BIG
    assert guess_transfer_syntax(b"\x78\x9c\x01\x02\x03\x04\x05\x06") is None  # deflated
    assert guess_transfer_syntax(b"\x08\x00") is None


# ------------------------------------------------------------ properties


def check_invariants(events: Sequence[ConversationEvent]) -> None:
    """Each command gets exactly one message, from the same side, after it;
    each side's PDUs sit one after another in its stream."""
    for role in Role:
        open_commands = 0
        end = 0
        for event in events:
            if getattr(event, "sender", None) is not role:
                continue
            if isinstance(event, SeenCommand):
                assert open_commands == 0
                open_commands = 1
            elif isinstance(event, SeenMessage):
                assert open_commands == 1
                open_commands = 0
            elif isinstance(event, SeenPDU):
                assert event.offset >= end
                end = event.offset + 6 + event.length
        assert open_commands == 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.sampled_from(list(Role)), st.binary(max_size=300)),
            st.tuples(st.sampled_from(list(Role)), st.integers(0, 5000)),
        ),
        max_size=30,
    ),
    st.booleans(),
    st.integers(512, 3000),
)
def test_arbitrary_bytes_never_make_it_raise(
    inputs: list[tuple[Role, bytes | int]], mid_stream: bool, hold: int
) -> None:
    decoder = ConversationDecoder(mid_stream=mid_stream, hold_pdata_up_to=hold)
    events: list[ConversationEvent] = []
    for time, (sender, item) in enumerate(inputs):
        if isinstance(item, int):
            events += decoder.gap(sender, item, float(time))
        else:
            events += decoder.feed(sender, item, float(time))
    events += decoder.close()
    check_invariants(events)
    assert isinstance(events[-1], SeenEnd)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_real_pdus_mixed_with_random_bytes_never_make_it_raise(data: st.DataObject) -> None:
    pieces, _ = association(stores=2, store_size=1500)
    mixed: list[Piece] = []
    for sender, piece in pieces:
        if data.draw(st.booleans()):
            at = data.draw(st.integers(0, len(piece)))
            mixed.append((sender, piece[:at] + data.draw(st.binary(max_size=40)) + piece[at:]))
        else:
            mixed.append((sender, piece))
    events = decode_all(
        mixed, ConversationDecoder(hold_pdata_up_to=data.draw(st.integers(512, 2000)))
    )
    check_invariants(events)


ECHOES = 40


def echoes(count: int) -> list[Piece]:
    """``count`` C-ECHO requests and responses (message IDs 1000...), one PDU a piece."""
    pieces: list[Piece] = []
    for n in range(count):
        rq = c_echo_rq(1000 + n)
        pieces += [(REQ, pdu.encode(p)) for p in fragment(1, rq, None, max_pdu_length=1024)]
        rsp = response_for(rq, 0)
        pieces += [(ACC, pdu.encode(p)) for p in fragment(1, rsp, None, max_pdu_length=1024)]
    return pieces


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_dropped_and_doubled_segments_lose_only_what_is_near_them(data: st.DataObject) -> None:
    """Segments lost or doubled without the decoder being told (a capture
    read without TCP reassembly): whatever was hit, the decoder is in step
    again within a couple of PDUs, and the echoes after the damage come through."""
    pieces, _ = association(stores=3, store_size=2500, with_release=False)
    segments: list[Piece] = []
    for sender, piece in pieces:
        size = data.draw(st.integers(1, 600))
        segments += [(sender, piece[i : i + size]) for i in range(0, len(piece), size)]
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(2, len(segments) - 1))
        if data.draw(st.booleans()):
            del segments[at]
        else:
            segments.insert(at, segments[at])
    events = decode_all([*segments, *echoes(ECHOES)])
    check_invariants(events)
    answered = {m.message_id for m in of(SeenMessage, events) if m.name == "C-ECHO-RSP"}
    assert set(range(1000 + 10, 1000 + ECHOES)) <= answered
