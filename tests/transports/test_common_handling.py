"""dicomul_common.handling: what both servers make of a handler's answer or
of what it raised, the bound on a request's data set, and the bound on
what a peer sends while a request is performed (HeldEvents)."""

from __future__ import annotations

import errno

import pytest
from dicomul_common.handling import (
    HELD_EVENT_COST,
    CollectedDataSet,
    DataSetTooLargeError,
    HeldEvents,
    answer_of,
    handler_failure_status,
    is_peer_data_error,
    storage_failure_status,
)
from dicomul_common.storage import NotAFileNameError
from pydicom.dataset import Dataset

from dicomul import (
    NEED_DATA,
    Aborted,
    AbortSource,
    AcceptAssociation,
    AcceptorConfig,
    AssociationRequest,
    CommandField,
    CommandReceived,
    ConnectionClosed,
    DataSetFragment,
    DataSetStructureError,
    GeneralStatus,
    QueryRetrieveStatus,
    RequestAssociation,
    StoreStatus,
    SupportedContext,
    c_echo_rq,
    propose_contexts,
)
from dicomul.testing.pair import ACCEPTOR, REQUESTOR, ConnectionPair


def test_answer_of_a_status_a_pair_a_dataset_and_none() -> None:
    reply = Dataset()
    assert answer_of(None) == (GeneralStatus.SUCCESS, None)
    assert answer_of(0xB000) == (0xB000, None)
    assert answer_of((0x0107, reply)) == (0x0107, reply)
    status = Dataset()
    status.Status = 0xA700
    assert answer_of(status) == (0xA700, None)


def test_what_a_raising_handler_answers() -> None:
    field = CommandField
    assert (
        handler_failure_status(field.C_ECHO_RQ, RuntimeError()) == GeneralStatus.PROCESSING_FAILURE
    )
    assert (
        handler_failure_status(field.C_FIND_RQ, NotImplementedError())
        == GeneralStatus.UNRECOGNIZED_OPERATION
    )
    # an OSError from a handler is a failure like any other; only storing
    # turns it into "out of resources" (PS3.4 B.2.3)
    disk_full = OSError(errno.ENOSPC, "No space left on device")
    assert (
        handler_failure_status(field.C_FIND_RQ, disk_full) == QueryRetrieveStatus.UNABLE_TO_PROCESS
    )
    assert storage_failure_status(field.C_STORE_RQ, disk_full) == StoreStatus.OUT_OF_RESOURCES
    assert storage_failure_status(field.C_STORE_RQ, ValueError()) == StoreStatus.CANNOT_UNDERSTAND


def test_peer_data_errors_are_told_apart() -> None:
    assert is_peer_data_error(NotAFileNameError("../x"))
    assert is_peer_data_error(DataSetStructureError("cut short"))
    assert is_peer_data_error(DataSetTooLargeError("big"))
    assert not is_peer_data_error(OSError())
    assert not is_peer_data_error(ValueError())


def test_a_collected_data_set_is_bounded() -> None:
    collected = CollectedDataSet(limit=10)
    collected.write(b"12345")
    collected.write(memoryview(b"67890"))
    assert collected.data() == b"1234567890"
    with pytest.raises(DataSetTooLargeError):
        collected.write(b"!")
    collected.discard()
    assert collected.data() == b""


VERIFICATION, IMPLICIT = "1.2.840.10008.1.1", "1.2.840.10008.1.2"


def _fragment(size: int) -> DataSetFragment:
    return DataSetFragment(context_id=1, data=b"\0" * size, is_last=False)


def test_held_events_count_until_taken() -> None:
    """Each event held counts its data-set bytes and HELD_EVENT_COST, in
    order, and counts no more once taken: what is held at once is bounded,
    not what is held over an association's life."""
    held = HeldEvents()
    held.limit = 3 * HELD_EVENT_COST + 1000
    echo = CommandReceived(context_id=1, command=c_echo_rq(2))
    first, second = _fragment(600), _fragment(400)
    assert held.hold(echo)
    assert held.hold(first)
    assert held.size == 2 * HELD_EVENT_COST + 600
    assert held.take() is echo
    assert held.take() is first
    assert not held
    for _ in range(10):  # far over the limit in all, never at once
        assert held.hold(second)
        assert held.take() is second
    assert held.size == 0


def test_past_the_limit_everything_is_dropped_but_the_end() -> None:
    """A flood of requests without data counts too; past the limit hold()
    is False once, nothing is held any more, and only the association's
    end is kept after that."""
    held = HeldEvents()
    held.limit = 10 * HELD_EVENT_COST
    echoes = [CommandReceived(context_id=1, command=c_echo_rq(n)) for n in range(2, 13)]
    assert [held.hold(echo) for echo in echoes] == [True] * 10 + [False]
    assert not held
    assert held.hold(_fragment(1))  # dropped
    aborted = Aborted(source=AbortSource.SERVICE_USER, reason=0, by_peer=True)
    assert held.hold(aborted)
    assert held.hold(ConnectionClosed())
    assert [type(held.take()), type(held.take())] == [Aborted, ConnectionClosed]
    assert not held


def test_keeping_past_the_limit_aborts_the_association() -> None:
    """keep() makes the A-P-ABORT (source 2, PS3.8 Table 9-26) once, with
    the message both servers log; an association already over is left."""
    pair = ConnectionPair()
    request = AssociationRequest(
        calling_ae_title="SCU",
        called_ae_title="SCP",
        contexts=propose_contexts([VERIFICATION], [IMPLICIT]),
    )
    pair.send(REQUESTOR, RequestAssociation(request=request))
    pair.connect()
    pair.pump()
    config = AcceptorConfig(
        ae_title="SCP", supported={VERIFICATION: SupportedContext(transfer_syntaxes=(IMPLICIT,))}
    )
    pair.send(ACCEPTOR, AcceptAssociation(config=config))
    pair.pump()
    conn = pair.acceptor
    held = HeldEvents()
    held.limit = 1000
    during = HeldEvents.performing(CommandField.C_FIND_RQ)
    held.keep(_fragment(100), conn, during=during, now=0.0)
    assert conn.can_send_messages
    held.keep(_fragment(1000), conn, during=during, now=0.0)
    assert conn.association_over
    abort = conn.data_to_send()
    assert (abort[0], abort[8]) == (0x07, AbortSource.SERVICE_PROVIDER)  # A-ABORT PDU
    aborted = conn.next_event()
    assert isinstance(aborted, Aborted)
    assert aborted.source == AbortSource.SERVICE_PROVIDER
    assert aborted.message == (
        "the peer sent over 1000 bytes of other requests' data while a C-FIND was "
        "performed (beyond its operations window)"
    )
    held.keep(_fragment(1000), conn, during=during, now=0.0)  # no second abort
    later = HeldEvents()  # events read in one batch with the association's end
    later.limit = 10
    later.keep(_fragment(100), conn, during=during, now=0.0)
    assert not conn.data_to_send()
    assert conn.next_event() is NEED_DATA
