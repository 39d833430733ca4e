"""A requestor and an acceptor driven against each other at random (hypothesis
RuleBasedStateMachine): random message sequences in both directions, random
chunking of the byte stream, release or abort at any point.  Both sides must
agree on the state, and every command and data set must arrive intact."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from dicomul import LocalProtocolError
from dicomul._acse import AcceptorConfig, AssociationRequest, SupportedContext, propose_contexts
from dicomul._command import Command, CommandField
from dicomul._dimse import CommandReceived, DataSetFragment
from dicomul._events import (
    Abort,
    Aborted,
    AcceptAssociation,
    AssociationAccepted,
    AssociationRequested,
    ConnectionClosed,
    Released,
    ReleaseRequested,
    RequestAssociation,
    RequestRelease,
    RespondRelease,
)
from dicomul._fsm import State
from dicomul.testing.pair import ACCEPTOR, REQUESTOR, ConnectionPair
from dicomul.testing.strategies import commands

SOP = "1.2.840.10008.5.1.4.1.1.2"
TS = "1.2.840.10008.1.2"


class Association(RuleBasedStateMachine):
    """One association, from request to release or abort."""

    def __init__(self) -> None:
        super().__init__()
        self.pair = ConnectionPair()
        self.finished = False
        # The command field of each side's outstanding request.
        self.requested: dict[str, int] = {}

    @rule(chunk=st.one_of(st.none(), st.integers(1, 300)))
    def rechunk(self, chunk: int | None) -> None:
        self.pair.chunk_size = chunk

    @precondition(lambda self: self.pair.requestor.state is State.STA1 and not self.finished)
    @rule(
        max_pdu=st.sampled_from([0, 512, 4096, 16382]),
        acceptor_max=st.sampled_from([0, 777, 16384]),
    )
    def associate(self, max_pdu: int, acceptor_max: int) -> None:
        request = AssociationRequest(
            calling_ae_title="A",
            called_ae_title="B",
            contexts=propose_contexts([SOP], [TS]),
            max_pdu_length=max_pdu,
        )
        config = AcceptorConfig(
            ae_title="B",
            supported={SOP: SupportedContext(transfer_syntaxes=(TS,))},
            max_pdu_length=acceptor_max,
        )
        self.pair.send(REQUESTOR, RequestAssociation(request=request))
        self.pair.connect()
        assert [type(e) for e in self.pair.pump()[ACCEPTOR]] == [AssociationRequested]
        self.pair.send(ACCEPTOR, AcceptAssociation(config=config))
        assert [type(e) for e in self.pair.pump()[REQUESTOR]] == [AssociationAccepted]

    def established(self) -> bool:
        return self.pair.requestor.state is State.STA6 and not self.finished

    def deliver(self, sender: str, command: Command, data: bytes) -> None:
        """Send one message and check the other side receives it intact."""
        body = data if command.has_data_set else None
        self.pair.send_message(sender, 1, command, body)
        events = self.pair.pump()[self.pair.other(sender)]
        assert events[0] == CommandReceived(context_id=1, command=command)
        fragments = events[1:]
        assert all(isinstance(f, DataSetFragment) for f in fragments)
        received = b"".join(bytes(f.data) for f in fragments)  # type: ignore[attr-defined]
        assert received == (data if body is not None else b"")
        if body is not None:
            assert fragments[-1].is_last  # type: ignore[attr-defined]

    @precondition(established)
    @rule(
        sender=st.sampled_from([REQUESTOR, ACCEPTOR]),
        command=commands().filter(
            lambda c: not c.is_response and c.command_field != CommandField.C_CANCEL_RQ
        ),
        data=st.binary(max_size=3000),
    )
    def request(self, sender: str, command: Command, data: bytes) -> None:
        conn = self.pair.side(sender)
        if conn.outstanding_requests:  # window of one: wait for the answer first
            with pytest.raises(LocalProtocolError, match=r"window|already outstanding"):
                conn.send_message(1, command, data if command.has_data_set else None)
            return
        self.deliver(sender, command, data)
        self.requested[sender] = command.command_field
        assert command.message_id in conn.outstanding_requests
        assert command.message_id in self.pair.side(self.pair.other(sender)).requests_to_answer

    @precondition(established)
    @rule(
        responder=st.sampled_from([REQUESTOR, ACCEPTOR]),
        command=commands().filter(lambda c: c.is_response),
        pending=st.booleans(),
        data=st.binary(max_size=500),
    )
    def respond(self, responder: str, command: Command, pending: bool, data: bytes) -> None:
        conn = self.pair.side(responder)
        if not conn.requests_to_answer:
            return
        (message_id,) = conn.requests_to_answer
        command = dataclasses.replace(
            command,
            command_field=self.requested[self.pair.other(responder)] | 0x8000,
            message_id_being_responded_to=message_id,
            status=0xFF00 if pending else 0,
        )
        self.deliver(responder, command, data)
        requester = self.pair.side(self.pair.other(responder))
        assert (message_id in requester.outstanding_requests) == pending
        assert (message_id in conn.requests_to_answer) == pending

    @precondition(established)
    @rule(sender=st.sampled_from([REQUESTOR, ACCEPTOR]))
    def cancel(self, sender: str) -> None:
        conn = self.pair.side(sender)
        cancellable = {CommandField.C_FIND_RQ, CommandField.C_GET_RQ, CommandField.C_MOVE_RQ}
        if not conn.outstanding_requests or self.requested[sender] not in cancellable:
            return
        (message_id,) = conn.outstanding_requests
        self.deliver(
            sender,
            Command(
                command_field=CommandField.C_CANCEL_RQ, message_id_being_responded_to=message_id
            ),
            b"",
        )
        assert message_id in conn.outstanding_requests  # still awaiting its final response

    @precondition(established)
    @rule(first=st.sampled_from([REQUESTOR, ACCEPTOR]), collide=st.booleans())
    def release(self, first: str, collide: bool) -> None:
        other = self.pair.other(first)
        self.pair.send(first, RequestRelease())
        if collide:
            self.pair.send(other, RequestRelease())
        events = self.pair.pump()
        assert ReleaseRequested(collision=collide) in events[other]
        if collide:
            # Sta9 (requestor side) answers first; the acceptor (Sta12) after.
            self.pair.send(REQUESTOR, RespondRelease())
            self.pair.pump()
            self.pair.send(ACCEPTOR, RespondRelease())
        else:
            self.pair.send(other, RespondRelease())
        self.pair.pump()
        assert Released() in self.pair.events[first if not collide else REQUESTOR]
        self.finish()

    @precondition(established)
    @rule(who=st.sampled_from([REQUESTOR, ACCEPTOR]))
    def abort(self, who: str) -> None:
        self.pair.send(who, Abort())
        events = self.pair.pump()
        aborted = events[self.pair.other(who)][0]
        assert isinstance(aborted, Aborted)
        assert aborted.by_peer
        self.finish()

    def finish(self) -> None:
        for name in (REQUESTOR, ACCEPTOR):
            assert isinstance(self.pair.events[name][-1], ConnectionClosed)
            assert self.pair.side(name).state is State.STA1
        self.finished = True

    @invariant()
    def both_sides_agree(self) -> None:
        states = (self.pair.requestor.state, self.pair.acceptor.state)
        assert states in {(State.STA1, State.STA1), (State.STA6, State.STA6)}, states


TestAssociation = Association.TestCase
