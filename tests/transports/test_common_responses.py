"""A response command set as the SCU APIs return it (dicomul_common.responses).

It is built of raw elements that pydicom decodes when read (issue 16: setting
each attribute was a good part of a C-ECHO's round trip); what it holds must
be what setting the attributes one by one gave.
"""

from __future__ import annotations

import dataclasses

import pytest
from dicomul_common.responses import command_dataset
from pydicom.dataset import Dataset

from dicomul import Command, c_echo_rq, c_find_rq, c_store_rq, response_for

CT = "1.2.840.10008.5.1.4.1.1.2"
STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"

KEYWORDS = {
    "message_id_being_responded_to": "MessageIDBeingRespondedTo",
    "status": "Status",
    "affected_sop_class_uid": "AffectedSOPClassUID",
    "affected_sop_instance_uid": "AffectedSOPInstanceUID",
    "error_comment": "ErrorComment",
    "event_type_id": "EventTypeID",
    "action_type_id": "ActionTypeID",
    "number_of_remaining_suboperations": "NumberOfRemainingSuboperations",
    "number_of_completed_suboperations": "NumberOfCompletedSuboperations",
    "number_of_failed_suboperations": "NumberOfFailedSuboperations",
    "number_of_warning_suboperations": "NumberOfWarningSuboperations",
}


def one_by_one(command: Command) -> Dataset:
    """The reference: each field set as an attribute (the first version's way)."""
    reference = Dataset()
    reference.Status = command.status
    reference.MessageIDBeingRespondedTo = command.message_id_being_responded_to
    for field, keyword in KEYWORDS.items():
        value = getattr(command, field)
        if field in ("status", "message_id_being_responded_to"):
            continue
        if field.startswith("number_of_"):
            if value is not None:
                setattr(reference, keyword, value)
        elif value:
            setattr(reference, keyword, value)
    return reference


RESPONSES = [
    response_for(c_echo_rq(7), 0x0000),
    response_for(c_store_rq(65535, CT, "1.2.3.4.5"), 0xB000),  # an odd-length UID
    response_for(c_store_rq(2, CT, "1.2.3.44"), 0xA700),
    dataclasses.replace(
        response_for(c_find_rq(3, STUDY_FIND), 0xFE00),
        number_of_remaining_suboperations=0,
        number_of_completed_suboperations=12,
        number_of_failed_suboperations=1,
        number_of_warning_suboperations=0,
    ),
    dataclasses.replace(response_for(c_echo_rq(4), 0x0110), error_comment="disk full"),
    dataclasses.replace(response_for(c_echo_rq(5), 0x0000), event_type_id=2, action_type_id=1),
]


@pytest.mark.parametrize("command", RESPONSES)
def test_the_dataset_holds_what_setting_each_attribute_gave(command: Command) -> None:
    built = command_dataset(command)
    reference = one_by_one(command)
    assert [element.tag for element in built] == [element.tag for element in reference]
    for element in reference:
        assert built[element.tag].VR == element.VR
        assert built[element.tag].value == element.value
    assert built == reference


def test_a_comparable_one_equals_its_status() -> None:
    built = command_dataset(RESPONSES[2], comparable=True)
    assert built == 0xA700
    assert built != 0
    assert built.Status == 0xA700
    assert isinstance(built.Status, int)
