"""Request builders: the command set of each DIMSE-C and DIMSE-N request.

The request-side twin of :func:`dicomul.response_for`.  Each builder fills
the fields PS3.7 makes mandatory for its request (Tables 9.3-1 to 9.3-12 for
C-STORE, C-FIND, C-GET, C-MOVE, C-CANCEL and C-ECHO; Tables 10.3-1 to
10.3-11 for the N- services) and sets Command Data Set Type (0000,0800) to
say whether a data set follows, so that an adapter (or a test) never writes
a :class:`~dicomul.Command` by hand.  Priority (0000,0700) is MEDIUM unless
given (LOW, MEDIUM or HIGH, or their names; PS3.7 Table 9.3-1; anything
else raises ValueError, see :func:`~dicomul.check_priority`).

>>> rq = c_store_rq(7, "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4")
>>> (CommandField(rq.command_field).name, rq.message_id, rq.has_data_set)
('C_STORE_RQ', 7, True)
>>> n_get_rq(8, "1.2.840.10008.5.1.1.16", "1.2.3", attributes=[0x00100010]).has_data_set
False
"""

from __future__ import annotations

from collections.abc import Iterable

from ._command import (
    NO_DATA_SET,
    Command,
    CommandField,
    Priority,
    check_priority,
    quick_command,
)

__all__ = [
    "c_cancel_rq",
    "c_echo_rq",
    "c_find_rq",
    "c_get_rq",
    "c_move_rq",
    "c_store_rq",
    "n_action_rq",
    "n_create_rq",
    "n_delete_rq",
    "n_event_report_rq",
    "n_get_rq",
    "n_set_rq",
]

#: Command Data Set Type (0000,0800) when a data set follows: any value but
#: 0x0101 (PS3.7 E.1); 0x0000 as DCMTK and pynetdicom send.
_DATA_SET = 0x0000


def _data_set_type(with_data_set: bool) -> int:
    return _DATA_SET if with_data_set else NO_DATA_SET


def c_echo_rq(message_id: int, sop_class_uid: str = "1.2.840.10008.1.1") -> Command:
    """C-ECHO-RQ (PS3.7 9.3.5.1, Table 9.3-12): no data set."""
    return quick_command(
        {
            "command_field": CommandField.C_ECHO_RQ,
            "message_id": message_id,
            "affected_sop_class_uid": sop_class_uid,
        }
    )


def c_store_rq(
    message_id: int,
    sop_class_uid: str,
    sop_instance_uid: str,
    *,
    priority: int | str = Priority.MEDIUM,
    move_originator: tuple[str, int] | None = None,
) -> Command:
    """C-STORE-RQ (PS3.7 9.3.1.1, Table 9.3-1): the data set follows.

    ``move_originator`` is the (AE title, message ID) of the C-MOVE this
    store is a sub-operation of (Move Originator Application Entity Title
    and Message ID, (0000,1030) and (0000,1031)).
    """
    return quick_command(
        {
            "command_field": CommandField.C_STORE_RQ,
            "message_id": message_id,
            "affected_sop_class_uid": sop_class_uid,
            "affected_sop_instance_uid": sop_instance_uid,
            "priority": check_priority(priority),
            "command_data_set_type": _DATA_SET,
            "move_originator_application_entity_title": (
                None if move_originator is None else move_originator[0]
            ),
            "move_originator_message_id": None if move_originator is None else move_originator[1],
        }
    )


def _query_rq(
    field: CommandField,
    message_id: int,
    sop_class_uid: str,
    priority: int | str,
    move_destination: str | None = None,
) -> Command:
    return Command(
        command_field=field,
        message_id=message_id,
        affected_sop_class_uid=sop_class_uid,
        priority=check_priority(priority),
        move_destination=move_destination,
        command_data_set_type=_DATA_SET,
    )


def c_find_rq(
    message_id: int, sop_class_uid: str, *, priority: int | str = Priority.MEDIUM
) -> Command:
    """C-FIND-RQ (PS3.7 9.3.2.1, Table 9.3-3): the identifier follows."""
    return _query_rq(CommandField.C_FIND_RQ, message_id, sop_class_uid, priority)


def c_get_rq(
    message_id: int, sop_class_uid: str, *, priority: int | str = Priority.MEDIUM
) -> Command:
    """C-GET-RQ (PS3.7 9.3.3.1, Table 9.3-6): the identifier follows."""
    return _query_rq(CommandField.C_GET_RQ, message_id, sop_class_uid, priority)


def c_move_rq(
    message_id: int, sop_class_uid: str, destination: str, *, priority: int | str = Priority.MEDIUM
) -> Command:
    """C-MOVE-RQ (PS3.7 9.3.4.1, Table 9.3-9): Move Destination (0000,0600)
    names the AE the matches go to; the identifier follows."""
    return _query_rq(CommandField.C_MOVE_RQ, message_id, sop_class_uid, priority, destination)


def c_cancel_rq(message_id_being_responded_to: int) -> Command:
    """C-CANCEL-RQ (PS3.7 9.3.2.3, 9.3.3.3, 9.3.4.3; Tables 9.3-5, 9.3-8,
    9.3-11): cancels the C-FIND, C-GET or C-MOVE with that message ID; no
    data set."""
    return Command(
        command_field=CommandField.C_CANCEL_RQ,
        message_id_being_responded_to=message_id_being_responded_to,
    )


def n_event_report_rq(
    message_id: int,
    sop_class_uid: str,
    sop_instance_uid: str,
    event_type_id: int,
    *,
    with_data_set: bool = True,
) -> Command:
    """N-EVENT-REPORT-RQ (PS3.7 10.3.1.1, Table 10.3-1): the Event
    Information follows unless ``with_data_set`` is False."""
    return Command(
        command_field=CommandField.N_EVENT_REPORT_RQ,
        message_id=message_id,
        affected_sop_class_uid=sop_class_uid,
        affected_sop_instance_uid=sop_instance_uid,
        event_type_id=event_type_id,
        command_data_set_type=_data_set_type(with_data_set),
    )


def n_get_rq(
    message_id: int,
    sop_class_uid: str,
    sop_instance_uid: str,
    *,
    attributes: Iterable[int] | None = None,
) -> Command:
    """N-GET-RQ (PS3.7 10.3.2.1, Table 10.3-3): Attribute Identifier List
    (0000,1005) names the attributes wanted (None: all); no data set."""
    return Command(
        command_field=CommandField.N_GET_RQ,
        message_id=message_id,
        requested_sop_class_uid=sop_class_uid,
        requested_sop_instance_uid=sop_instance_uid,
        attribute_identifier_list=None if attributes is None else tuple(attributes),
    )


def n_set_rq(message_id: int, sop_class_uid: str, sop_instance_uid: str) -> Command:
    """N-SET-RQ (PS3.7 10.3.3.1, Table 10.3-5): the Modification List follows."""
    return Command(
        command_field=CommandField.N_SET_RQ,
        message_id=message_id,
        requested_sop_class_uid=sop_class_uid,
        requested_sop_instance_uid=sop_instance_uid,
        command_data_set_type=_DATA_SET,
    )


def n_action_rq(
    message_id: int,
    sop_class_uid: str,
    sop_instance_uid: str,
    action_type_id: int,
    *,
    with_data_set: bool = True,
) -> Command:
    """N-ACTION-RQ (PS3.7 10.3.4.1, Table 10.3-7): the Action Information
    follows unless ``with_data_set`` is False."""
    return Command(
        command_field=CommandField.N_ACTION_RQ,
        message_id=message_id,
        requested_sop_class_uid=sop_class_uid,
        requested_sop_instance_uid=sop_instance_uid,
        action_type_id=action_type_id,
        command_data_set_type=_data_set_type(with_data_set),
    )


def n_create_rq(
    message_id: int,
    sop_class_uid: str,
    sop_instance_uid: str | None = None,
    *,
    with_data_set: bool = True,
) -> Command:
    """N-CREATE-RQ (PS3.7 10.3.5.1, Table 10.3-9): without an Affected SOP
    Instance UID the SCP assigns one (10.1.5.1.4); the Attribute List
    follows unless ``with_data_set`` is False."""
    return Command(
        command_field=CommandField.N_CREATE_RQ,
        message_id=message_id,
        affected_sop_class_uid=sop_class_uid,
        affected_sop_instance_uid=sop_instance_uid,
        command_data_set_type=_data_set_type(with_data_set),
    )


def n_delete_rq(message_id: int, sop_class_uid: str, sop_instance_uid: str) -> Command:
    """N-DELETE-RQ (PS3.7 10.3.6.1, Table 10.3-11): no data set."""
    return Command(
        command_field=CommandField.N_DELETE_RQ,
        message_id=message_id,
        requested_sop_class_uid=sop_class_uid,
        requested_sop_instance_uid=sop_instance_uid,
    )
