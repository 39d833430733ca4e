"""A response command set as the pydicom Dataset the SCU APIs return
(dicomul_common.responses): the fast construction (elements made already
converted) gives exactly what setting each element by keyword gives, for
any command; values pydicom would warn about or split take the keyword
way, warnings included."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
from dicomul_common import responses
from dicomul_common.responses import command_dataset
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from dicomul import Command, c_echo_rq, c_find_rq, c_store_rq, response_for
from dicomul.testing.strategies import commands

CT = "1.2.840.10008.5.1.4.1.1.2"

#: Text the fast way must refuse or pass exactly as pydicom would see it.
_ODD_TEXT = st.one_of(
    st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=70),
    st.sampled_from(["a\\b", "x" * 65, "1.02.3", "1.2.3 ", " 1.2", "ok ", "", "0", "1..2"]),
)


def seen(dataset: Dataset) -> list[tuple[object, ...]]:
    """Everything a user sees of ``dataset``: each element's tag, VR, value
    and the value's type, in order."""
    return [
        (element.tag, element.VR, element.value, type(element.value))
        for element in (dataset[tag] for tag in sorted(dataset.keys()))
    ]


def both(command: Command, *, comparable: bool) -> tuple[Dataset, list[str], Dataset, list[str]]:
    with warnings.catch_warnings(record=True) as fast_warnings:
        warnings.simplefilter("always")
        fast = command_dataset(command, comparable=comparable)
        seen(fast)  # any warning pydicom gives on access counts too
    with warnings.catch_warnings(record=True) as slow_warnings:
        warnings.simplefilter("always")
        slow = responses._by_keyword(command, comparable=comparable)
        seen(slow)
    return (
        fast,
        [str(w.message) for w in fast_warnings],
        slow,
        [str(w.message) for w in slow_warnings],
    )


def assert_same(command: Command) -> None:
    for comparable in (False, True):
        fast, fast_warnings, slow, slow_warnings = both(command, comparable=comparable)
        assert type(fast) is type(slow)
        assert seen(fast) == seen(slow)
        assert fast == slow
        assert fast_warnings == slow_warnings
        if comparable and command.status is not None:
            assert fast == command.status
            assert int(fast) == command.status


@settings(max_examples=300, deadline=None)
@given(commands())
def test_any_command_as_by_keyword(command: Command) -> None:
    assert_same(command)


@settings(max_examples=300, deadline=None)
@given(
    commands(),
    st.dictionaries(
        st.sampled_from(["affected_sop_class_uid", "affected_sop_instance_uid", "error_comment"]),
        _ODD_TEXT,
    ),
)
def test_odd_text_as_by_keyword(command: Command, text: dict[str, str]) -> None:
    """UIDs pydicom warns about, text with a backslash (several values),
    too long, or with spaces: the same elements, values and warnings."""
    assert_same(dataclasses.replace(command, **text))  # type: ignore[arg-type]


def test_typical_responses_take_the_fast_way() -> None:
    """An echo's and a store's response, a C-MOVE's counts, an error comment:
    made already converted (nothing set by keyword)."""
    echo = response_for(c_echo_rq(3), 0)
    store = response_for(c_store_rq(4, CT, "1.2.3.4"), 0xA700, error_comment="disk full")
    counts = dataclasses.replace(
        store, number_of_remaining_suboperations=0, number_of_completed_suboperations=2
    )
    for command in (echo, store, counts):
        assert responses._made_elements(command) is not None
        assert_same(command)
    dataset = command_dataset(store)
    assert dataset.Status == 0xA700
    assert type(dataset.Status) is int
    assert dataset.ErrorComment == "disk full"
    assert dataset.AffectedSOPInstanceUID == "1.2.3.4"


def test_values_not_plain_take_the_keyword_way() -> None:
    store = response_for(c_store_rq(4, CT, "1.2.3.4"), 0)
    for odd in (
        dataclasses.replace(store, error_comment="a\\b"),
        dataclasses.replace(store, affected_sop_instance_uid="1.02"),
        dataclasses.replace(store, error_comment="x" * 65),
    ):
        assert responses._made_elements(odd) is None
        assert_same(odd)
    assert command_dataset(dataclasses.replace(store, error_comment="a\\b")).ErrorComment == [
        "a",
        "b",
    ]


# The hand-picked cases of the async adapter's round (i16-async-speed),
# against the attributes set one by one.

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
