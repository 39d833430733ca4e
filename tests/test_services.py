"""DIMSE service rules (dicomul._services): what a handler's outcome
becomes on the wire, and each service's name in log lines."""

from __future__ import annotations

import pytest

from dicomul import (
    OUTCOME_STATUSES,
    CommandField,
    HandlerOutcome,
    Status,
    answer_status,
    is_cancel_request,
    outcome_status,
    service_name,
)

F = CommandField
NOT_IMPLEMENTED = HandlerOutcome.NOT_IMPLEMENTED
FAILED = HandlerOutcome.FAILED
OUT_OF_RESOURCES = HandlerOutcome.OUT_OF_RESOURCES

#: Every service and outcome, with the status the standard gives it (the
#: wire values, written out: PS3.7 C.5 for 0x0110 / 0x0211 / 0x0213; PS3.4
#: B.2.3 for C-STORE, C.4.1.1.4 / C.4.2.1.5 / C.4.3.1.4 for C-FIND / C-MOVE
#: / C-GET).
TABLE = [
    (F.C_ECHO_RQ, NOT_IMPLEMENTED, 0x0211),
    (F.C_ECHO_RQ, FAILED, 0x0110),
    (F.C_ECHO_RQ, OUT_OF_RESOURCES, 0x0213),
    (F.C_STORE_RQ, NOT_IMPLEMENTED, 0x0211),
    (F.C_STORE_RQ, FAILED, 0xC000),
    (F.C_STORE_RQ, OUT_OF_RESOURCES, 0xA700),
    (F.C_FIND_RQ, NOT_IMPLEMENTED, 0x0211),
    (F.C_FIND_RQ, FAILED, 0xC000),
    (F.C_FIND_RQ, OUT_OF_RESOURCES, 0xA700),
    (F.C_GET_RQ, NOT_IMPLEMENTED, 0x0211),
    (F.C_GET_RQ, FAILED, 0xC000),
    (F.C_GET_RQ, OUT_OF_RESOURCES, 0xA701),
    (F.C_MOVE_RQ, NOT_IMPLEMENTED, 0x0211),
    (F.C_MOVE_RQ, FAILED, 0xC000),
    (F.C_MOVE_RQ, OUT_OF_RESOURCES, 0xA701),
    *[
        (field, outcome, status)
        for field in (
            F.N_EVENT_REPORT_RQ,
            F.N_GET_RQ,
            F.N_SET_RQ,
            F.N_ACTION_RQ,
            F.N_CREATE_RQ,
            F.N_DELETE_RQ,
        )
        for outcome, status in (
            (NOT_IMPLEMENTED, 0x0211),
            (FAILED, 0x0110),
            (OUT_OF_RESOURCES, 0x0213),
        )
    ],
]


@pytest.mark.parametrize(("field", "outcome", "status"), TABLE)
def test_each_services_outcome(field: CommandField, outcome: HandlerOutcome, status: int) -> None:
    assert outcome_status(field, outcome) == status
    # A response's command field names the same service.
    assert outcome_status(field | 0x8000, outcome) == status
    # Whatever became of the handler, the peer learns that it failed.
    assert Status(status) == "Failure"


def test_the_table_covers_every_answered_service_and_outcome() -> None:
    answered = {f for f in CommandField if not f.is_response and f != F.C_CANCEL_RQ}
    assert set(OUTCOME_STATUSES) == answered
    assert {(f, o) for f, o, _ in TABLE} == {(f, o) for f in answered for o in HandlerOutcome}


def test_a_c_cancel_has_no_outcome() -> None:
    """C-CANCEL is answered by no response (PS3.7 9.3.2.3)."""
    with pytest.raises(KeyError):
        outcome_status(F.C_CANCEL_RQ, FAILED)


class _WithStatus:
    Status = 0xB000


@pytest.mark.parametrize(
    ("answer", "status"),
    [(None, 0x0000), (0, 0x0000), (0xA700, 0xA700), (_WithStatus(), 0xB000), (Status(1), 1)],
)
def test_answer_status(answer: object, status: int) -> None:
    """None is Success (PS3.7 C.1); a data set answers with its Status."""
    assert answer_status(answer) == status


@pytest.mark.parametrize("answer", [-1, 0x10000])
def test_an_answer_outside_the_status_field_is_refused(answer: int) -> None:
    with pytest.raises(ValueError, match="16-bit"):
        answer_status(answer)


def test_an_answer_that_is_no_status_is_refused() -> None:
    with pytest.raises(TypeError):
        answer_status(object())


@pytest.mark.parametrize(
    ("field", "name"),
    [
        (F.C_ECHO_RQ, "Echo"),
        (F.C_STORE_RQ, "Store"),
        (F.C_FIND_RQ, "Find"),
        (F.C_GET_RQ, "Get"),
        (F.C_MOVE_RQ, "Move"),
        (F.C_CANCEL_RQ, "Cancel"),
        (F.N_EVENT_REPORT_RQ, "Event Report"),
        (F.N_GET_RQ, "N-GET"),
        (F.N_SET_RQ, "N-SET"),
        (F.N_ACTION_RQ, "N-ACTION"),
        (F.N_CREATE_RQ, "N-CREATE"),
        (F.N_DELETE_RQ, "N-DELETE"),
    ],
)
def test_service_names_as_dcmtk_logs_them(field: CommandField, name: str) -> None:
    assert service_name(field) == name
    if field != F.C_CANCEL_RQ:
        assert service_name(field | 0x8000) == name  # its response


@pytest.mark.parametrize("field", [0x0999, 0x8999, 0x0000])
def test_a_command_field_of_no_service_is_named_in_hex(field: int) -> None:
    assert service_name(field) == hex(field)


def test_is_cancel_request_recognises_only_a_c_cancel() -> None:
    """PS3.7 9.3.2.3: the C-CANCEL-RQ is told apart by its command field alone."""
    from dicomul import CommandReceived, c_cancel_rq, c_echo_rq

    cancel = CommandReceived(context_id=1, command=c_cancel_rq(7))
    echo = CommandReceived(context_id=1, command=c_echo_rq(7))
    assert is_cancel_request(cancel)
    assert not is_cancel_request(echo)
    assert not is_cancel_request(c_cancel_rq(7))  # a command, not a received event
    assert not is_cancel_request(None)
