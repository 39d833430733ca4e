"""IncomingRequests: which request an event completes, for an SCP that takes
one event at a time; and unhandled_status, the answer when no handler decides."""

from __future__ import annotations

import pytest

from dicomul import (
    Aborted,
    AcceptAssociation,
    AcceptorConfig,
    AssociationRequest,
    CommandField,
    CommandReceived,
    DataSetFragment,
    GeneralStatus,
    IncomingRequests,
    ReleaseRequested,
    RequestAssociation,
    c_cancel_rq,
    c_echo_rq,
    c_find_rq,
    c_store_rq,
    propose_contexts,
    response_for,
    unhandled_status,
)
from dicomul.testing.pair import ACCEPTOR, REQUESTOR, ConnectionPair

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
FIND = "1.2.840.10008.5.1.4.1.2.2.1"
IMPLICIT = "1.2.840.10008.1.2"


def fragment(data: bytes, *, last: bool) -> DataSetFragment:
    return DataSetFragment(context_id=3, data=data, is_last=last)


def test_a_request_without_data_set_is_whole_with_its_command() -> None:
    requests = IncomingRequests()
    echo = CommandReceived(context_id=1, command=c_echo_rq(1))
    assert requests.follow(echo) is echo
    assert requests.in_hand is None


def test_a_request_with_a_data_set_is_whole_with_its_last_fragment() -> None:
    requests = IncomingRequests()
    store = CommandReceived(context_id=3, command=c_store_rq(2, CT, "1.2.3"))
    assert requests.follow(store) is None
    assert requests.in_hand is store
    assert requests.follow(fragment(b"ab", last=False)) is None
    assert requests.in_hand is store
    assert requests.follow(fragment(b"cd", last=True)) is store
    assert requests.in_hand is None
    assert requests.follow(fragment(b"stray", last=True)) is None  # no request in hand


def test_a_cancel_and_a_response_are_no_requests_to_answer() -> None:
    requests = IncomingRequests()
    find = CommandReceived(context_id=5, command=c_find_rq(3, FIND))
    requests.follow(find)
    assert requests.follow(CommandReceived(context_id=5, command=c_cancel_rq(3))) is None
    response = response_for(c_echo_rq(4), GeneralStatus.SUCCESS)
    assert requests.follow(CommandReceived(context_id=1, command=response)) is None
    assert requests.in_hand is None


def test_an_abort_drops_the_request_in_hand() -> None:
    requests = IncomingRequests()
    store = CommandReceived(context_id=3, command=c_store_rq(2, CT, "1.2.3"))
    requests.follow(store)
    assert requests.follow(ReleaseRequested()) is None
    assert requests.in_hand is store  # a release waits for the request (PS3.8 7.2)
    requests.follow(Aborted(source=0, reason=0, by_peer=True))
    assert requests.in_hand is None
    assert requests.follow(fragment(b"late", last=True)) is None


def test_it_follows_the_events_of_a_real_connection() -> None:
    """Over a ConnectionPair, split into 7-byte pieces: the acceptor's events
    give each request once, whole, in the order sent."""
    pair = ConnectionPair(chunk_size=7)
    request = AssociationRequest(
        calling_ae_title="SCU",
        called_ae_title="SCP",
        contexts=propose_contexts([VERIFICATION, CT], [IMPLICIT]),
    )
    config = AcceptorConfig.for_sop_classes(
        ae_title="SCP", scp_sop_classes=[VERIFICATION, CT], transfer_syntaxes=[IMPLICIT]
    )
    pair.send(REQUESTOR, RequestAssociation(request=request))
    pair.connect()
    pair.pump()
    pair.send(ACCEPTOR, AcceptAssociation(config=config))
    pair.pump()
    requests = IncomingRequests()
    whole = []
    data_set = bytes(range(256)) * 200  # several PDUs
    for command, data, context in (
        (c_echo_rq(1), None, 1),
        (c_store_rq(2, CT, "1.2.3"), data_set, 3),
    ):
        pair.send_message(REQUESTOR, context, command, data)
        pieces = []
        for event in pair.pump()[ACCEPTOR]:
            if isinstance(event, DataSetFragment):
                pieces.append(bytes(event.data))
            if (done := requests.follow(event)) is not None:
                whole.append((done.command.command_field, b"".join(pieces)))
        answer = response_for(command, GeneralStatus.SUCCESS)
        pair.send_message(ACCEPTOR, context, answer)
        pair.pump()
    assert whole == [(CommandField.C_ECHO_RQ, b""), (CommandField.C_STORE_RQ, data_set)]


@pytest.mark.parametrize(
    ("field", "status"),
    [
        (CommandField.C_ECHO_RQ, GeneralStatus.SUCCESS),
        (CommandField.C_FIND_RQ, GeneralStatus.UNRECOGNIZED_OPERATION),
        (CommandField.N_SET_RQ, GeneralStatus.UNRECOGNIZED_OPERATION),
        (CommandField.C_STORE_RQ, GeneralStatus.UNRECOGNIZED_OPERATION),
    ],
)
def test_unhandled_status(field: CommandField, status: int) -> None:
    """C-ECHO is answered Success (PS3.7 9.1.5.2 c), anything else no
    handler serves "Unrecognized operation" (PS3.7 C.5)."""
    assert unhandled_status(field) == status
