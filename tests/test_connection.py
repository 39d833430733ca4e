"""The Sans-IO Connection end to end, in memory (dicomul.testing.pair)."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import tracemalloc

import pytest

from dicomul import DEFAULT_ARTIM_TIMEOUT, LocalProtocolError, c_find_rq, c_store_rq, pdu
from dicomul._acse import AcceptorConfig, AssociationRequest, SupportedContext, propose_contexts
from dicomul._command import NO_DATA_SET, Command, CommandField, encode_command
from dicomul._connection import Connection, Role
from dicomul._dimse import CommandReceived, DataSetFragment, fragment
from dicomul._events import (
    NEED_DATA,
    Abort,
    Aborted,
    AcceptAssociation,
    AssociationAccepted,
    AssociationRejected,
    AssociationRequested,
    ConnectionClosed,
    RejectAssociation,
    Released,
    ReleaseRequested,
    RequestAssociation,
    RequestRelease,
    RespondRelease,
)
from dicomul._fsm import State
from dicomul.testing.pair import ACCEPTOR, REQUESTOR, ConnectionPair, replay

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT = "1.2.840.10008.1.2"

REQUEST = AssociationRequest(
    calling_ae_title="SCU",
    called_ae_title="SCP",
    contexts=propose_contexts([VERIFICATION, CT], [IMPLICIT]),
)
CONFIG = AcceptorConfig(
    ae_title="SCP",
    supported={
        VERIFICATION: SupportedContext(transfer_syntaxes=(IMPLICIT,)),
        CT: SupportedContext(transfer_syntaxes=(IMPLICIT,)),
    },
)
ECHO_RQ = Command(
    command_field=CommandField.C_ECHO_RQ, message_id=1, affected_sop_class_uid=VERIFICATION
)
ECHO_RSP = Command(
    command_field=CommandField.C_ECHO_RSP, message_id_being_responded_to=1, status=0
)


def associate(pair: ConnectionPair) -> None:
    pair.send(REQUESTOR, RequestAssociation(request=REQUEST))
    assert pair.requestor.state is State.STA4
    pair.connect()
    events = pair.pump()
    assert [type(e) for e in events[ACCEPTOR]] == [AssociationRequested]
    assert pair.acceptor.state is State.STA3
    pair.send(ACCEPTOR, AcceptAssociation(config=CONFIG))
    events = pair.pump()
    (accepted,) = events[REQUESTOR]
    assert isinstance(accepted, AssociationAccepted)
    assert pair.requestor.state is State.STA6
    assert pair.acceptor.state is State.STA6
    assert accepted.negotiated.contexts == pair.acceptor.negotiated.contexts  # type: ignore[union-attr]


def send_message(
    pair: ConnectionPair,
    side: str,
    command: Command,
    data: bytes | None = None,
    context: int | None = None,
) -> None:
    """Send on ``context`` (default: 1, Verification, without data; 3, CT, with)."""
    if context is None:
        context = 1 if data is None else 3
    pair.send_message(side, context, command, data)


def release(pair: ConnectionPair) -> None:
    pair.send(REQUESTOR, RequestRelease())
    assert [type(e) for e in pair.pump()[ACCEPTOR]] == [ReleaseRequested]
    pair.send(ACCEPTOR, RespondRelease())
    events = pair.pump()
    assert [type(e) for e in events[REQUESTOR]] == [Released, ConnectionClosed]
    assert [type(e) for e in events[ACCEPTOR]] == [ConnectionClosed]
    assert pair.requestor.state is State.STA1
    assert pair.acceptor.state is State.STA1
    assert pair.is_closed(REQUESTOR)
    assert pair.is_closed(ACCEPTOR)


@pytest.mark.parametrize("chunk_size", [None, 1, 7])
def test_echo_then_release(chunk_size: int | None) -> None:
    pair = ConnectionPair(chunk_size=chunk_size)
    associate(pair)
    send_message(pair, REQUESTOR, ECHO_RQ)
    (received,) = pair.pump()[ACCEPTOR]
    assert received == CommandReceived(context_id=1, command=ECHO_RQ)
    send_message(pair, ACCEPTOR, ECHO_RSP)
    (answer,) = pair.pump()[REQUESTOR]
    assert isinstance(answer, CommandReceived)
    assert answer.command.status == 0
    release(pair)


def test_the_requestors_bytes_are_what_dcmtk_expects() -> None:
    """The A-ASSOCIATE-RQ the engine writes first is the codec's, byte for byte."""
    pair = ConnectionPair()
    pair.send(REQUESTOR, RequestAssociation(request=REQUEST))
    pair.connect()
    writer, data = pair.transcript[0]
    assert writer == REQUESTOR
    assert isinstance(pdu.decode(data), pdu.AssociateRQ)


def test_store_of_50_mib_streams_with_bounded_memory() -> None:
    """A 50 MiB C-STORE, fragmented at 16 KiB maximum PDU length and
    reassembled fragment by fragment, arrives bit-exact with a peak memory of
    a few fragments (the data set is never whole on either side)."""
    pair = ConnectionPair()
    associate(pair)
    chunk = bytes(range(256)) * 256
    total = 800 * len(chunk)
    store = c_store_rq(2, CT, "1.2.3")
    digest = hashlib.sha256()
    received = 0
    acceptor = pair.acceptor
    tracemalloc.start()
    try:
        message = pair.requestor.start_message(3, store)
        for index in range(801):
            if index < 800:
                message.push(chunk)
            else:
                message.finish()
            acceptor.receive_data(pair.requestor.data_to_send())
            while (event := acceptor.next_event()) is not NEED_DATA:
                if isinstance(event, DataSetFragment):
                    digest.update(event.data)
                    received += len(event.data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == total
    assert digest.digest() == hashlib.sha256(chunk * 800).digest()
    assert peak < 2 * 1024 * 1024


def test_rejection_closes_the_requestor() -> None:
    pair = ConnectionPair()
    pair.send(REQUESTOR, RequestAssociation(request=REQUEST))
    pair.connect()
    pair.pump()
    pair.send(ACCEPTOR, RejectAssociation(result=1, source=1, reason=7))
    assert pair.acceptor.state is State.STA13
    events = pair.pump()
    rejected, closed = events[REQUESTOR]
    assert isinstance(rejected, AssociationRejected)
    assert rejected.reason_text == "called-AE-title-not-recognized"
    assert isinstance(closed, ConnectionClosed)
    assert [type(e) for e in events[ACCEPTOR]] == [ConnectionClosed]


def test_negotiation_can_reject_through_accept() -> None:
    """AcceptAssociation runs the negotiation, which may still reject (here:
    the association limit)."""
    pair = ConnectionPair()
    pair.send(REQUESTOR, RequestAssociation(request=REQUEST))
    pair.connect()
    pair.pump()
    pair.send(ACCEPTOR, AcceptAssociation(config=CONFIG, active_associations=10))
    rejected = pair.pump()[REQUESTOR][0]
    assert isinstance(rejected, AssociationRejected)
    assert (rejected.pdu.result, rejected.pdu.source, rejected.pdu.reason) == (2, 3, 2)


def test_user_abort() -> None:
    pair = ConnectionPair()
    associate(pair)
    pair.send(REQUESTOR, Abort())
    assert pair.requestor.state is State.STA13
    events = pair.pump()
    aborted, closed = events[ACCEPTOR]
    assert isinstance(aborted, Aborted)
    assert aborted.by_peer
    assert isinstance(closed, ConnectionClosed)
    assert [type(e) for e in events[REQUESTOR]] == [ConnectionClosed]


@pytest.mark.parametrize("side", [REQUESTOR, ACCEPTOR])
def test_after_its_own_abort_only_a_requestor_closes_at_once(side: str) -> None:
    """The close policy is the core's (PS3.8 9.1.4 d): a requestor closes
    after its own A-ABORT without waiting out ARTIM for the peer; an
    acceptor waits in Sta13 for the peer to close, ARTIM bounding it."""
    pair = ConnectionPair()
    associate(pair)
    conn = pair.side(side)
    conn.send(Abort())
    assert conn.state is State.STA13
    assert conn.association_over
    closing = [ConnectionClosed()] if side == REQUESTOR else []
    assert list(iter(conn.next_event, NEED_DATA)) == closing


def test_a_requestor_that_timed_out_closes_at_once() -> None:
    """A timer's A-ABORT (AA-1) is this side's own too."""
    pair = ConnectionPair(requestor=Connection(Role.REQUESTOR, dimse_timeout=5))
    associate(pair)
    send_message(pair, REQUESTOR, ECHO_RQ)
    pair.requestor.handle_timeout(now=5)
    assert pair.requestor.state is State.STA13
    assert [type(e) for e in iter(pair.requestor.next_event, NEED_DATA)] == [
        Aborted,
        ConnectionClosed,
    ]


def test_a_requestor_that_answered_a_release_waits_for_the_close() -> None:
    """AR-4 on the requestor side (the acceptor asked to release): Sta13,
    the peer closes first; only an own A-ABORT closes at once."""
    pair = ConnectionPair()
    associate(pair)
    pair.send(ACCEPTOR, RequestRelease())
    pair.pump()
    answer_release(pair, REQUESTOR)
    assert pair.requestor.state is State.STA13
    assert pair.requestor.association_over
    assert pair.requestor.next_event() is NEED_DATA  # no ConnectionClosed: the peer closes


def test_malformed_pdu_in_sta6_is_aa8_with_the_decoders_reason() -> None:
    pair = ConnectionPair()
    associate(pair)
    pair.write(REQUESTOR, bytes.fromhex("04000000000600000001 0100".replace(" ", "")))
    events = pair.pump()
    aborted = events[ACCEPTOR][0]
    assert isinstance(aborted, Aborted)
    assert (aborted.source, aborted.reason, aborted.by_peer) == (2, 6, False)
    peer_saw = events[REQUESTOR][0]
    assert isinstance(peer_saw, Aborted)
    assert (peer_saw.source, peer_saw.reason, peer_saw.by_peer) == (2, 6, True)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes.fromhex("09000000000400000000"), 1),  # unrecognised PDU type: Evt19
        (None, 2),  # a second A-ASSOCIATE-RQ: Evt6 in Sta6
    ],
)
def test_issue_examples_in_sta6(data: bytes | None, reason: int) -> None:
    pair = ConnectionPair()
    associate(pair)
    if data is None:
        data = pair.transcript[0][1]
    pair.write(REQUESTOR, data)
    aborted = pair.pump()[ACCEPTOR][0]
    assert isinstance(aborted, Aborted)
    assert (aborted.source, aborted.reason) == (2, reason)


def test_p_data_before_association_is_aa1() -> None:
    acceptor = Connection(Role.ACCEPTOR)
    acceptor.transport_connected(now=0)
    acceptor.receive_data(bytes.fromhex("04000000000600000002 0103".replace(" ", "")))
    assert acceptor.next_event() is NEED_DATA
    sent = pdu.decode(acceptor.data_to_send())
    assert sent == pdu.AbortRQ(source=0, reason=0)  # AA-1: service-user source
    assert acceptor.state is State.STA13


def test_pdv_on_an_unaccepted_context_aborts() -> None:
    pair = ConnectionPair()
    associate(pair)
    wire = pdu.encode(
        pdu.PDataTF(pdvs=(pdu.PresentationDataValue(context_id=99, control_header=3, data=b""),))
    )
    pair.write(REQUESTOR, wire)
    aborted = pair.pump()[ACCEPTOR][0]
    assert isinstance(aborted, Aborted)
    assert "context 99" in aborted.message


def test_artim_expiry_closes_an_idle_connection() -> None:
    pair = ConnectionPair()
    pair.acceptor.transport_connected(now=0)
    assert pair.acceptor.next_deadline == 30.0
    assert pair.advance(29.9)[ACCEPTOR] == []
    events = pair.advance(0.2)
    assert [type(e) for e in events[ACCEPTOR]] == [ConnectionClosed]
    assert pair.is_closed(ACCEPTOR)


@pytest.mark.parametrize(
    ("acse_timeout", "artim_timeout", "expected"),
    [(7.0, None, 7.0), (None, None, DEFAULT_ARTIM_TIMEOUT), (7.0, 2.0, 2.0)],
)
def test_artim_falls_back_to_the_acse_timeout(
    acse_timeout: float | None, artim_timeout: float | None, expected: float
) -> None:
    """The timer policy is the core's: ARTIM is the ACSE timeout unless given
    (PS3.8 9.1.5 leaves its value local), the default without either."""
    conn = Connection(Role.ACCEPTOR, acse_timeout=acse_timeout, artim_timeout=artim_timeout)
    assert conn.artim_timeout == expected
    conn.transport_connected(now=100.0)
    assert conn.next_deadline == 100.0 + expected  # Evt5, AE-5: ARTIM started


def test_acse_timeout_aborts_a_silent_acceptor() -> None:
    pair = ConnectionPair(requestor=Connection(Role.REQUESTOR, acse_timeout=5))
    pair.send(REQUESTOR, RequestAssociation(request=REQUEST))
    pair.requestor.transport_connected(now=0)
    pair.flush(REQUESTOR)
    assert pair.requestor.next_deadline == 5
    pair.now = 5
    pair.requestor.handle_timeout(now=5)
    assert pair.requestor.state is State.STA13  # AA-1
    aborted, closed = list(iter(pair.requestor.next_event, NEED_DATA))
    assert isinstance(aborted, Aborted)
    assert isinstance(closed, ConnectionClosed)  # a requestor closes after its own abort
    assert pair.requestor.state is State.STA1
    assert "ACSE timeout" in aborted.message
    assert pdu.decode(pair.requestor.data_to_send()) == pdu.AbortRQ(source=0, reason=0)


def test_release_collision() -> None:
    pair = ConnectionPair()
    associate(pair)
    pair.send(REQUESTOR, RequestRelease())
    pair.send(ACCEPTOR, RequestRelease())
    events = pair.pump()
    assert events[REQUESTOR] == [ReleaseRequested(collision=True)]
    assert events[ACCEPTOR] == [ReleaseRequested(collision=True)]
    assert (pair.requestor.state, pair.acceptor.state) == (State.STA9, State.STA10)
    pair.send(REQUESTOR, RespondRelease())  # Sta9 -> AR-9 -> Sta11
    events = pair.pump()
    assert events[ACCEPTOR] == [Released()]  # AR-10 -> Sta12
    pair.send(ACCEPTOR, RespondRelease())  # AR-4 -> Sta13
    events = pair.pump()
    assert [type(e) for e in events[REQUESTOR]] == [Released, ConnectionClosed]
    assert [type(e) for e in events[ACCEPTOR]] == [ConnectionClosed]


# --------------------------------------------- release_to_answer (PS3.8 7.2)

PATIENT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
FIND_RQ = c_find_rq(1, PATIENT_FIND)
FIND_PENDING, FIND_DONE = (
    Command(
        command_field=CommandField.C_FIND_RSP,
        message_id_being_responded_to=1,
        affected_sop_class_uid=PATIENT_FIND,
        status=status,
        command_data_set_type=data_set_type,
    )
    for status, data_set_type in ((0xFF00, 0x0000), (0x0000, NO_DATA_SET))
)


def associate_for_find(pair: ConnectionPair) -> None:
    """Associate on one presentation context (ID 1): Patient Root C-FIND."""
    request = dataclasses.replace(REQUEST, contexts=propose_contexts([PATIENT_FIND], [IMPLICIT]))
    config = dataclasses.replace(
        CONFIG, supported={PATIENT_FIND: SupportedContext(transfer_syntaxes=(IMPLICIT,))}
    )
    pair.send(REQUESTOR, RequestAssociation(request=request))
    pair.connect()
    pair.pump()
    pair.send(ACCEPTOR, AcceptAssociation(config=config))
    pair.pump()
    assert pair.requestor.state is pair.acceptor.state is State.STA6


def answer_release(pair: ConnectionPair, side: str) -> None:
    """What an adapter does: answer the peer's release when the core says so."""
    assert pair.side(side).release_to_answer
    pair.send(side, RespondRelease())
    assert not pair.side(side).release_to_answer


def test_a_release_while_idle_is_to_be_answered() -> None:
    """Sta8 with nothing in hand: answer at once (AR-4)."""
    pair = ConnectionPair()
    associate(pair)
    assert not pair.acceptor.release_to_answer  # Sta6: nothing asked
    pair.send(REQUESTOR, RequestRelease())
    assert not pair.requestor.release_to_answer  # Sta7: the asker waits
    assert pair.pump()[ACCEPTOR] == [ReleaseRequested()]
    answer_release(pair, ACCEPTOR)
    assert [type(e) for e in pair.pump()[REQUESTOR]] == [Released, ConnectionClosed]


def test_a_release_during_an_operation_waits_for_its_final_response() -> None:
    """A release asked while a C-FIND is being served (the peer may ask: it
    only awaits responses) is answered after the final response, not after
    a pending one; the requestor gets every response, then the release."""
    pair = ConnectionPair()
    associate_for_find(pair)
    send_message(pair, REQUESTOR, FIND_RQ, b"", context=1)
    pair.send(REQUESTOR, RequestRelease())
    assert [type(e) for e in pair.pump()[ACCEPTOR]] == [
        CommandReceived,
        DataSetFragment,
        ReleaseRequested,
    ]
    assert not pair.acceptor.release_to_answer  # the query is being served
    send_message(pair, ACCEPTOR, FIND_PENDING, b"", context=1)
    assert not pair.acceptor.release_to_answer  # pending: not over yet
    send_message(pair, ACCEPTOR, FIND_DONE, context=1)
    answer_release(pair, ACCEPTOR)
    events = pair.pump()[REQUESTOR]
    assert [e.command.status for e in events if isinstance(e, CommandReceived)] == [0xFF00, 0]
    assert [type(e) for e in events][-2:] == [Released, ConnectionClosed]


def test_a_release_is_not_answered_in_the_middle_of_a_message() -> None:
    """A message of this side's half sent is finished before the A-RELEASE-RP."""
    pair = ConnectionPair()
    associate(pair)
    store = c_store_rq(2, CT, "1.2.3")
    pair.send(REQUESTOR, RequestRelease())
    pair.pump()
    message = pair.acceptor.start_message(3, store)
    message.push(b"x" * 100_000)
    pair.flush(ACCEPTOR)
    assert not pair.acceptor.release_to_answer
    message.finish()
    pair.flush(ACCEPTOR)
    assert pair.acceptor.release_to_answer


def test_release_collision_is_answered_by_the_requestor_then_the_acceptor() -> None:
    """PS3.8 9.2.9 collision: the requestor answers first (Sta9, AR-9); the
    acceptor answers once its own request is confirmed (Sta10 -> Sta12, AR-4)."""
    pair = ConnectionPair()
    associate(pair)
    pair.send(REQUESTOR, RequestRelease())
    pair.send(ACCEPTOR, RequestRelease())
    pair.pump()
    assert (pair.requestor.state, pair.acceptor.state) == (State.STA9, State.STA10)
    assert not pair.acceptor.release_to_answer
    answer_release(pair, REQUESTOR)
    assert pair.pump()[ACCEPTOR] == [Released()]
    answer_release(pair, ACCEPTOR)
    assert [type(e) for e in pair.pump()[REQUESTOR]] == [Released, ConnectionClosed]


def test_a_release_held_by_an_operation_then_aborted_is_not_answered() -> None:
    """The peer aborts while its release waits for an operation: nothing is
    left to answer (and RespondRelease would now be a local misuse)."""
    pair = ConnectionPair()
    associate(pair)
    send_message(pair, REQUESTOR, ECHO_RQ)
    pair.send(REQUESTOR, RequestRelease())
    pair.pump()
    assert not pair.acceptor.release_to_answer
    pair.send(REQUESTOR, Abort())
    assert [type(e) for e in pair.pump()[ACCEPTOR]] == [Aborted, ConnectionClosed]
    assert not pair.acceptor.release_to_answer
    with pytest.raises(LocalProtocolError):
        pair.acceptor.send(RespondRelease())


def test_local_misuse_changes_nothing() -> None:
    conn = Connection(Role.REQUESTOR)
    with pytest.raises(LocalProtocolError, match=r"Evt11 .* not valid in Sta1"):
        conn.send(RequestRelease())
    assert conn.state is State.STA1
    with pytest.raises(LocalProtocolError, match="only the requestor"):
        Connection(Role.ACCEPTOR).send(RequestAssociation(request=REQUEST))
    with pytest.raises(LocalProtocolError, match="not an event"):
        conn.send("hello")
    with pytest.raises(LocalProtocolError, match=r"Evt9 .* not valid in Sta1"):
        conn.send_message(1, ECHO_RQ)


def test_peer_vanishing_mid_association_is_an_abort() -> None:
    pair = ConnectionPair()
    associate(pair)
    pair.close(REQUESTOR)
    events = pair.pump()
    aborted, closed = events[ACCEPTOR]
    assert isinstance(aborted, Aborted)
    assert "closed unexpectedly" in aborted.message
    assert aborted.connection_lost
    assert not aborted.by_peer
    assert isinstance(closed, ConnectionClosed)


def test_replay_of_a_recorded_session() -> None:
    """The requestor's recorded bytes, replayed into a fresh acceptor, give
    the same events as the live run."""
    pair = ConnectionPair()
    associate(pair)
    send_message(pair, REQUESTOR, ECHO_RQ)
    pair.pump()
    incoming = [data for writer, data in pair.transcript if writer == REQUESTOR]
    fresh = Connection(Role.ACCEPTOR)
    fresh.transport_connected()
    events, written = replay(fresh, incoming[:1])
    assert [type(e) for e in events] == [AssociationRequested]
    fresh.send(AcceptAssociation(config=CONFIG))
    assert isinstance(pdu.decode(fresh.data_to_send()), pdu.AssociateAC)
    events, written = replay(fresh, incoming[1:])
    assert events == [CommandReceived(context_id=1, command=ECHO_RQ)]
    assert written == b""


def find_rq(message_id: int) -> Command:
    return Command(
        command_field=CommandField.C_FIND_RQ,
        message_id=message_id,
        affected_sop_class_uid=CT,
        priority=0,
        command_data_set_type=0,
    )


def find_rsp(message_id: int, status: int) -> Command:
    return Command(
        command_field=CommandField.C_FIND_RSP,
        message_id_being_responded_to=message_id,
        status=status,
        command_data_set_type=0 if status == 0xFF00 else 0x0101,
    )


def test_c_find_with_pending_responses() -> None:
    pair = ConnectionPair()
    associate(pair)
    send_message(pair, REQUESTOR, find_rq(5), b"\x08\x00\x52\x00\x08\x00\x00\x00PATIENT ")
    assert pair.requestor.outstanding_requests == {5}
    pair.pump()
    assert pair.acceptor.requests_to_answer == {5}
    for _ in range(3):
        send_message(pair, ACCEPTOR, find_rsp(5, 0xFF00), b"\x10\x00\x10\x00\x04\x00\x00\x00DOE ")
        command, fragment = pair.pump()[REQUESTOR]
        assert command.command.status == 0xFF00  # type: ignore[attr-defined]
        assert isinstance(fragment, DataSetFragment)
        assert pair.requestor.outstanding_requests == {5}
    send_message(pair, ACCEPTOR, find_rsp(5, 0x0000), context=3)
    (final,) = pair.pump()[REQUESTOR]
    assert final.command.status == 0  # type: ignore[attr-defined]
    assert pair.requestor.outstanding_requests == frozenset()
    assert pair.acceptor.requests_to_answer == frozenset()


def test_window_of_one_allows_one_outstanding_request() -> None:
    pair = ConnectionPair()
    associate(pair)
    send_message(pair, REQUESTOR, ECHO_RQ)
    with pytest.raises(LocalProtocolError, match="window allows 1"):
        pair.requestor.send_message(1, dataclasses.replace(ECHO_RQ, message_id=2))
    with pytest.raises(LocalProtocolError, match="no request with message ID 9"):
        pair.acceptor.send_message(
            1, dataclasses.replace(ECHO_RSP, message_id_being_responded_to=9)
        )
    with pytest.raises(LocalProtocolError, match="C-CANCEL of message 9"):
        pair.requestor.send_message(
            1, Command(command_field=CommandField.C_CANCEL_RQ, message_id_being_responded_to=9)
        )


@pytest.mark.parametrize(
    ("response", "says"),
    [
        (
            dataclasses.replace(ECHO_RSP, message_id_being_responded_to=2),
            "C_ECHO_RSP to message ID 2, which is not an outstanding request (outstanding: [1])",
        ),
        (
            Command(
                command_field=CommandField.C_STORE_RSP,
                message_id_being_responded_to=1,
                affected_sop_class_uid=CT,
                affected_sop_instance_uid="1.2.3",
                status=0,
            ),
            "answered the C_ECHO_RQ of message ID 1 with a C_STORE_RSP",
        ),
    ],
)
def test_a_response_that_answers_no_request_aborts(response: Command, says: str) -> None:
    """PS3.7 9.1.x.1.2: a response carries the Message ID of the request it
    answers.  Before: one with another ID was passed up, and an SCU waiting
    for its response waited for ever.  Now the association is aborted
    (invalid PDU parameter value), as DCMTK's SCUs abort on it."""
    pair = ConnectionPair()
    associate(pair)
    send_message(pair, REQUESTOR, ECHO_RQ)
    pair.pump()
    # Written past the acceptor's engine, which refuses to send such a response.
    for pdata in fragment(1, response, max_pdu_length=0):
        pair.write(ACCEPTOR, pdu.encode(pdata))
    events = pair.pump()
    aborted = events[REQUESTOR][0]
    assert isinstance(aborted, Aborted)
    assert says in aborted.message
    assert pair.is_closed(REQUESTOR)  # at once after its own A-ABORT
    (peer_saw,) = [e for e in events[ACCEPTOR] if isinstance(e, Aborted)]
    assert peer_saw.by_peer


def test_asynchronous_window_responses_in_any_order() -> None:
    """With a window of 3 negotiated, three requests are outstanding at once
    and their responses, in reverse order, are matched by message ID."""
    request = dataclasses.replace(REQUEST, asynchronous_operations=(3, 1))
    config = dataclasses.replace(CONFIG, asynchronous_operations=(1, 3))
    pair = ConnectionPair()
    pair.send(REQUESTOR, RequestAssociation(request=request))
    pair.connect()
    pair.pump()
    pair.send(ACCEPTOR, AcceptAssociation(config=config))
    (accepted,) = pair.pump()[REQUESTOR]
    assert accepted.negotiated.requestor_max_invoked == 3  # type: ignore[attr-defined]
    for message_id in (1, 2, 3):
        send_message(pair, REQUESTOR, dataclasses.replace(ECHO_RQ, message_id=message_id))
    with pytest.raises(LocalProtocolError, match="window allows 3"):
        pair.requestor.send_message(1, dataclasses.replace(ECHO_RQ, message_id=4))
    pair.pump()
    assert pair.acceptor.requests_to_answer == {1, 2, 3}
    for message_id in (3, 1, 2):
        send_message(
            pair, ACCEPTOR, dataclasses.replace(ECHO_RSP, message_id_being_responded_to=message_id)
        )
        (answer,) = pair.pump()[REQUESTOR]
        assert answer.command.message_id_being_responded_to == message_id  # type: ignore[attr-defined]
    assert pair.requestor.outstanding_requests == frozenset()


def test_c_cancel_reaches_the_scp_and_the_operation_stays_open() -> None:
    pair = ConnectionPair()
    associate(pair)
    send_message(pair, REQUESTOR, find_rq(5), b"")
    pair.pump()
    cancel = Command(command_field=CommandField.C_CANCEL_RQ, message_id_being_responded_to=5)
    send_message(pair, REQUESTOR, cancel, context=3)
    assert not pair.acceptor.cancel_requested(5)
    (received,) = pair.pump()[ACCEPTOR]
    assert received == CommandReceived(context_id=3, command=cancel)
    assert pair.acceptor.requests_to_answer == {5}  # the SCP still owes its final response
    assert pair.acceptor.cancel_requested(5)
    assert not pair.acceptor.cancel_requested(6)
    send_message(pair, ACCEPTOR, find_rsp(5, 0xFF00), b"", context=3)  # crossed the C-CANCEL
    assert pair.acceptor.cancel_requested(5)
    send_message(pair, ACCEPTOR, find_rsp(5, 0xFE00), context=3)
    assert not pair.acceptor.cancel_requested(5)  # answered: the C-CANCEL is spent
    pair.pump()
    assert pair.requestor.outstanding_requests == frozenset()
    send_message(pair, REQUESTOR, find_rq(5), b"")  # the message ID, reused
    pair.pump()
    assert not pair.acceptor.cancel_requested(5)


def test_a_c_cancel_that_crosses_the_final_response_is_dropped() -> None:
    """The SCP answered before the C-CANCEL arrived: it cancels nothing, and
    a later request reusing the message ID is not cancelled by it."""
    pair = ConnectionPair()
    associate(pair)
    send_message(pair, REQUESTOR, find_rq(5), b"")
    pair.pump()
    send_message(pair, ACCEPTOR, find_rsp(5, 0x0000), context=3)  # not yet delivered
    cancel = Command(command_field=CommandField.C_CANCEL_RQ, message_id_being_responded_to=5)
    send_message(pair, REQUESTOR, cancel, context=3)  # still outstanding for the SCU
    events = pair.pump()
    assert events[ACCEPTOR] == []
    assert pair.requestor.outstanding_requests == frozenset()
    send_message(pair, REQUESTOR, find_rq(5), b"")
    received = pair.pump()[ACCEPTOR]
    assert [type(e).__name__ for e in received] == ["CommandReceived", "DataSetFragment"]
    assert not pair.acceptor.cancel_requested(5)


def test_dimse_timeout_aborts_when_no_response_comes() -> None:
    pair = ConnectionPair(requestor=Connection(Role.REQUESTOR, dimse_timeout=10))
    associate(pair)
    assert pair.requestor.next_deadline is None
    send_message(pair, REQUESTOR, ECHO_RQ)
    pair.pump()
    assert pair.requestor.next_deadline == 10
    events = pair.advance(10)
    aborted = events[REQUESTOR][0]
    assert isinstance(aborted, Aborted)
    assert "DIMSE timeout" in aborted.message
    assert isinstance(events[ACCEPTOR][0], Aborted)


def test_dimse_timeout_aborts_a_message_the_peer_left_half_sent() -> None:
    """The acceptor has no request outstanding, but the peer began a C-STORE
    and stopped: the DIMSE timer runs until the message is whole."""
    pair = ConnectionPair(acceptor=Connection(Role.ACCEPTOR, dimse_timeout=10))
    associate(pair)
    assert pair.acceptor.next_deadline is None  # between messages: no DIMSE wait
    store = c_store_rq(2, CT, "1.2.3")
    message = pair.requestor.start_message(3, store)
    message.push(bytes(10))  # held back (not a fragment's worth): the command goes alone
    pair.flush(REQUESTOR)
    pair.pump()
    assert pair.acceptor.next_deadline == 10
    events = pair.advance(10)
    (aborted,) = [e for e in events[ACCEPTOR] if isinstance(e, Aborted)]
    assert "DIMSE timeout" in aborted.message


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("909a2fd90a1c776ac734", 1),  # no such PDU type: unrecognized-PDU
        ("04002fd90a1c776ac734", 6),  # a P-DATA-TF too long: invalid-PDU-parameter value
    ],
)
def test_oversized_pdu_header_aborts_once(header: str, reason: int) -> None:
    """A header announcing 800 MB: one A-ABORT with the PS3.8 9.3.8 reason,
    then the stream is ignored (found by fuzzing: the engine used to loop on
    the same framing error)."""
    pair = ConnectionPair()
    associate(pair)
    pair.write(REQUESTOR, bytes.fromhex(header))
    events = pair.pump()
    aborted = events[ACCEPTOR][0]
    assert isinstance(aborted, Aborted)
    assert aborted.reason == reason
    assert pair.acceptor.state in (State.STA13, State.STA1)
    assert sum(1 for writer, _ in pair.transcript if writer == ACCEPTOR) == 2  # AC, one abort


# Regressions from the review of the engine (each failed before its fix).


def test_dimse_timer_ends_with_the_association() -> None:
    """A request outstanding when the peer aborts must not leave a DIMSE
    deadline behind: handle_timeout after the end does nothing."""
    pair = ConnectionPair(requestor=Connection(Role.REQUESTOR, dimse_timeout=10))
    associate(pair)
    send_message(pair, REQUESTOR, ECHO_RQ)
    pair.pump()
    pair.send(ACCEPTOR, Abort())
    pair.pump()
    assert pair.requestor.state is State.STA1
    assert pair.requestor.next_deadline is None
    pair.requestor.handle_timeout(now=1000)  # must not raise


def test_dimse_timeout_fires_once() -> None:
    pair = ConnectionPair(requestor=Connection(Role.REQUESTOR, dimse_timeout=10))
    associate(pair)
    send_message(pair, REQUESTOR, ECHO_RQ)
    pair.pump()
    pair.advance(10)
    assert pair.requestor.state in (State.STA13, State.STA1)
    pair.requestor.handle_timeout(now=25)  # ARTIM or nothing: never a second abort
    assert pair.requestor.state in (State.STA13, State.STA1)


def test_trickling_bytes_do_not_extend_the_acse_timeout() -> None:
    requestor = Connection(Role.REQUESTOR, acse_timeout=30)
    requestor.send(RequestAssociation(request=REQUEST), now=0)
    requestor.transport_connected(now=0)
    header = bytes.fromhex("02000000ffff")  # an A-ASSOCIATE-AC of 65535 bytes, then a trickle
    for second in range(1, 30):
        byte = header[second - 1 : second] or b"\x00"
        requestor.receive_data(byte, now=second)
        assert requestor.next_event() is NEED_DATA
    assert requestor.next_deadline == 30
    requestor.handle_timeout(now=30)
    assert isinstance(requestor.next_event(), Aborted)


def test_peer_abort_mid_send_ends_the_generator_quietly() -> None:
    pair = ConnectionPair()
    associate(pair)
    store = c_store_rq(2, CT, "1.2.3")
    message = pair.requestor.start_message(3, store)
    message.push(bytes(50_000))
    pair.flush(REQUESTOR)
    pair.send(ACCEPTOR, Abort())
    pair.pump()
    assert pair.requestor.state is State.STA1
    message.push(bytes(50_000))  # no LocalProtocolError from the peer's action
    message.finish()
    assert pair.requestor.data_to_send() == b""  # nothing more goes out


def test_messages_cannot_be_interleaved() -> None:
    pair = ConnectionPair()
    associate(pair)
    store = c_store_rq(2, CT, "1.2.3")
    first = pair.requestor.start_message(3, store)
    first.push(bytes(100))
    with pytest.raises(LocalProtocolError, match="still being sent"):
        pair.requestor.send_message(1, dataclasses.replace(ECHO_RQ, message_id=3))
    first.finish()
    assert not first.open


def test_peer_reusing_an_outstanding_message_id_is_aborted() -> None:
    pair = ConnectionPair(
        requestor=Connection(Role.REQUESTOR),
        acceptor=Connection(Role.ACCEPTOR),
    )
    associate(pair)
    pair.requestor.send_message(1, ECHO_RQ)
    echo = pair.requestor.data_to_send()
    pair.write(REQUESTOR, echo + echo)  # the same request twice, as a broken peer would
    aborted = [e for e in pair.pump()[ACCEPTOR] if isinstance(e, Aborted)]
    assert aborted
    assert "reused message ID 1" in aborted[0].message


def test_responses_and_cancels_follow_their_request() -> None:
    pair = ConnectionPair()
    associate(pair)
    send_message(pair, REQUESTOR, ECHO_RQ)
    pair.pump()
    with pytest.raises(LocalProtocolError, match="context 1, its request's, not 3"):
        pair.acceptor.send_message(3, ECHO_RSP)
    with pytest.raises(LocalProtocolError, match="a C_FIND_RSP cannot answer a C_ECHO_RQ"):
        pair.acceptor.send_message(1, find_rsp(1, 0))
    cancel = Command(command_field=CommandField.C_CANCEL_RQ, message_id_being_responded_to=1)
    with pytest.raises(LocalProtocolError, match="not an outstanding C-FIND"):
        pair.requestor.send_message(1, cancel)


def test_new_message_ids_skip_outstanding_ones_and_wrap() -> None:
    pair = ConnectionPair()
    associate(pair)
    conn = pair.requestor
    assert [conn.new_message_id() for _ in range(3)] == [1, 2, 3]
    send_message(pair, REQUESTOR, dataclasses.replace(ECHO_RQ, message_id=4))
    assert conn.new_message_id() == 5  # 4 is outstanding
    conn._last_message_id = 0xFFFE
    assert [conn.new_message_id(), conn.new_message_id()] == [0xFFFF, 1]


def test_context_for_finds_an_accepted_context_by_role() -> None:
    pair = ConnectionPair()
    associate(pair)
    negotiated = pair.requestor.negotiated
    assert negotiated is not None
    context = negotiated.context_for(CT)
    assert context is not None
    assert context.context_id == 3
    assert negotiated.context_for(CT, requestor_as_scp=True) is None
    assert negotiated.context_for("1.2.3.4") is None


def test_can_send_messages_and_association_over_follow_the_states() -> None:
    pair = ConnectionPair()
    assert not pair.requestor.association_over  # not connected yet
    associate(pair)
    assert pair.requestor.can_send_messages
    assert not pair.acceptor.association_over
    pair.send(REQUESTOR, RequestRelease())
    pair.pump()
    assert pair.acceptor.can_send_messages  # Sta8: the peer asked, we may still answer
    assert not pair.requestor.can_send_messages  # Sta7
    pair.send(ACCEPTOR, RespondRelease())
    assert pair.acceptor.association_over  # Sta13, waiting for the close
    pair.pump()
    assert pair.requestor.association_over
    assert not pair.requestor.can_send_messages


def test_connection_closed_is_the_one_signal_to_close() -> None:
    """An acceptor that answered a release waits for the peer's close (Sta13:
    no ConnectionClosed yet); the requestor, released, is told to close; the
    acceptor then reads the close and gets its ConnectionClosed."""
    pair = ConnectionPair()
    associate(pair)
    pair.send(REQUESTOR, RequestRelease())
    pair.pump()
    pair.send(ACCEPTOR, RespondRelease())
    assert pair.acceptor.state is State.STA13
    assert pair.acceptor.next_event() is NEED_DATA  # the peer closes first
    pair.requestor.receive_data(pair.transcript[-1][1])
    assert [type(e) for e in iter(pair.requestor.next_event, NEED_DATA)] == [
        Released,
        ConnectionClosed,
    ]
    assert pair.requestor.next_event() is NEED_DATA  # ConnectionClosed comes once
    pair.acceptor.receive_data(b"")
    assert pair.acceptor.next_event() == ConnectionClosed()


def test_a_p_data_tf_of_unlimited_length_streams_with_bounded_memory() -> None:
    """An acceptor announcing no maximum PDU length (0, PS3.8 D.1) gets a
    256 MiB P-DATA-TF: its data set comes out fragment by fragment as the
    bytes arrive, never held whole (before: 256 MiB buffered, then decoded)."""
    config = dataclasses.replace(CONFIG, max_pdu_length=0)
    pair = ConnectionPair()
    pair.send(REQUESTOR, RequestAssociation(request=REQUEST))
    pair.connect()
    pair.pump()
    pair.send(ACCEPTOR, AcceptAssociation(config=config))
    pair.pump()
    store = c_store_rq(2, CT, "1.2.3")
    acceptor = pair.acceptor
    command = pdu.PresentationDataValue(context_id=3, control_header=3, data=encode_command(store))
    acceptor.receive_data(pdu.PDataTF(pdvs=(command,)).encode())
    assert isinstance(acceptor.next_event(), CommandReceived)
    size = 256 << 20
    chunk = bytes(range(256)) * 256
    received = 0
    tracemalloc.start()
    try:
        acceptor.receive_data(struct.pack(">BBLLBB", 4, 0, size + 6, size + 2, 3, 0x02))
        for _ in range(size // len(chunk)):
            acceptor.receive_data(chunk)
            while (event := acceptor.next_event()) is not NEED_DATA:
                assert isinstance(event, DataSetFragment)
                assert event.data == chunk
                received += len(event.data)
                last = event
            assert received  # fragments come before the PDU is whole
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    assert last.is_last
    assert acceptor.state is State.STA6
    assert peak < 1024 * 1024


def test_transitions_are_recorded_only_when_asked_and_taken_once() -> None:
    """What an adapter's EVT_FSM_TRANSITION handlers get: each step of PS3.8
    Table 9-10, the P-DATA fast paths (DT-1, DT-2) included."""
    pair = ConnectionPair()
    pair.acceptor.record_transitions = True
    associate(pair)
    send_message(pair, REQUESTOR, ECHO_RQ)
    pair.pump()
    send_message(pair, ACCEPTOR, ECHO_RSP)
    pair.pump()
    release(pair)
    steps = [
        (state.value, event.value, action.value, after.value)
        for state, event, action, after in pair.acceptor.take_transitions()
    ]
    assert steps[:4] == [
        ("Sta1", "Evt5", "AE-5", "Sta2"),
        ("Sta2", "Evt6", "AE-6", "Sta3"),
        ("Sta3", "Evt7", "AE-7", "Sta6"),
        ("Sta6", "Evt10", "DT-2", "Sta6"),
    ]
    assert ("Sta6", "Evt9", "DT-1", "Sta6") in steps
    assert pair.acceptor.take_transitions() == []
    assert pair.requestor.take_transitions() == []  # not asked: nothing kept
