"""Request builders (dicomul._requests): every DIMSE request with its
mandatory fields, the right data-set flag, and a round trip on the wire."""

from __future__ import annotations

import pytest

from dicomul import (
    Command,
    CommandField,
    Priority,
    c_cancel_rq,
    c_echo_rq,
    c_find_rq,
    c_get_rq,
    c_move_rq,
    c_store_rq,
    decode_command,
    encode_command,
    n_action_rq,
    n_create_rq,
    n_delete_rq,
    n_event_report_rq,
    n_get_rq,
    n_set_rq,
    response_for,
)

CT = "1.2.840.10008.5.1.4.1.1.2"
FIND = "1.2.840.10008.5.1.4.1.2.1.1"
MPPS = "1.2.840.10008.3.1.2.3.3"

#: (request, its command field, whether a data set follows)
CASES: list[tuple[Command, CommandField, bool]] = [
    (c_echo_rq(1), CommandField.C_ECHO_RQ, False),
    (c_store_rq(2, CT, "1.2.3"), CommandField.C_STORE_RQ, True),
    (c_find_rq(3, FIND), CommandField.C_FIND_RQ, True),
    (c_get_rq(4, FIND), CommandField.C_GET_RQ, True),
    (c_move_rq(5, FIND, "STORESCP"), CommandField.C_MOVE_RQ, True),
    (c_cancel_rq(3), CommandField.C_CANCEL_RQ, False),
    (n_event_report_rq(6, MPPS, "1.2.4", 1), CommandField.N_EVENT_REPORT_RQ, True),
    (
        n_event_report_rq(6, MPPS, "1.2.4", 1, with_data_set=False),
        CommandField.N_EVENT_REPORT_RQ,
        False,
    ),
    (n_get_rq(7, MPPS, "1.2.4", attributes=[0x00100010]), CommandField.N_GET_RQ, False),
    (n_set_rq(8, MPPS, "1.2.4"), CommandField.N_SET_RQ, True),
    (n_action_rq(9, MPPS, "1.2.4", 2), CommandField.N_ACTION_RQ, True),
    (n_create_rq(10, MPPS), CommandField.N_CREATE_RQ, True),
    (n_create_rq(10, MPPS, "1.2.5", with_data_set=False), CommandField.N_CREATE_RQ, False),
    (n_delete_rq(11, MPPS, "1.2.4"), CommandField.N_DELETE_RQ, False),
]


@pytest.mark.parametrize(("request_", "field", "with_data_set"), CASES)
def test_each_request_is_complete_and_survives_the_wire(
    request_: Command, field: CommandField, with_data_set: bool
) -> None:
    assert request_.command_field == field
    assert request_.missing_fields() == ()
    assert request_.has_data_set is with_data_set
    assert decode_command(encode_command(request_)) == request_
    if field != CommandField.C_CANCEL_RQ:
        response = response_for(request_, 0)
        assert response.message_id_being_responded_to == request_.message_id


def test_priority_and_move_originator_are_carried() -> None:
    store = c_store_rq(2, CT, "1.2.3", priority=Priority.HIGH, move_originator=("MOVESCU", 9))
    assert store.priority == Priority.HIGH
    assert store.move_originator_application_entity_title == "MOVESCU"
    assert store.move_originator_message_id == 9
    assert c_find_rq(3, FIND).priority == Priority.MEDIUM
    assert c_move_rq(5, FIND, "DEST").move_destination == "DEST"


def test_n_get_without_attributes_asks_for_all() -> None:
    assert n_get_rq(7, MPPS, "1.2.4").attribute_identifier_list is None
    assert n_get_rq(
        7, MPPS, "1.2.4", attributes=[0x00100010, 0x00100020]
    ).attribute_identifier_list == (
        0x00100010,
        0x00100020,
    )


def test_priority_is_checked_and_names_are_taken() -> None:
    """PS3.7 9.1 / Annex E: LOW 2, MEDIUM 0, HIGH 1; nothing else goes on the wire."""
    from dicomul import Priority, c_find_rq, c_store_rq, check_priority

    assert c_store_rq(1, "1.2", "1.2.3", priority="low").priority == Priority.LOW
    assert c_find_rq(1, "1.2", priority=1).priority == Priority.HIGH
    assert check_priority(Priority.MEDIUM) is Priority.MEDIUM
    for bad in (3, -1, 0x0100, "URGENT"):
        with pytest.raises(ValueError, match=r"not LOW \(2\), MEDIUM \(0\) or HIGH \(1\)"):
            c_store_rq(1, "1.2", "1.2.3", priority=bad)
    for wrong_type in (True, 1.0, None):
        with pytest.raises(TypeError):
            check_priority(wrong_type)
