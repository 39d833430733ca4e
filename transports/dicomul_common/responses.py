"""Response command sets as pydicom Datasets, the form the SCU APIs return.

The pynetdicom3-style API (and the async one after it) hands a response's
status back as a Dataset with ``Status`` (0000,0900) and whatever else the
response carried (the affected SOP instance an N-CREATE SCP assigned, the
sub-operation counts of a C-GET or C-MOVE, an error comment).  pydicom is
imported on first use only, so that importing an adapter stays fast.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any, Final

from dicomul import Command, CommandField

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["command_dataset"]


@functools.cache
def _status_dataset() -> type[Dataset]:
    from pydicom.dataset import Dataset  # noqa: PLC0415 - keep start-up fast

    class StatusDataset(Dataset):
        """A response's command set that also compares equal to its status
        as an int (``await assoc.c_echo() == 0x0000``), as the async API's
        first version returned a bare status; ``.Status`` is the documented
        way."""

        def __eq__(self, other: object) -> bool:
            if isinstance(other, int):
                return bool(self.get("Status") == other)
            return super().__eq__(other)

        def __ne__(self, other: object) -> bool:
            return not self == other

        def __int__(self) -> int:
            return int(self.Status)

        __hash__ = None  # type: ignore[assignment]  # mutable, as any Dataset

    return StatusDataset


def command_dataset(command: Command, *, comparable: bool = False) -> Dataset:
    """A response command set as a pydicom Dataset; ``comparable``: one that
    also compares equal to its status as an int.

    Built from elements made already converted (about 13 µs instead of 30:
    pydicom's conversion and validation of each value set by keyword is
    most of a small C-STORE's response cost), where that gives exactly what
    setting each by keyword gives: values of their plain types that
    pydicom's validation would pass in silence.  Anything else (a value
    pydicom would warn about or split at a backslash, an int subclass) is
    set by keyword, as always (:func:`_by_keyword`)."""
    made = _made_elements(command)
    if made is None:
        return _by_keyword(command, comparable=comparable)
    return (_status_dataset() if comparable else _dataset_class())(made)


def _by_keyword(command: Command, *, comparable: bool = False) -> Dataset:
    """:func:`command_dataset` the general way: each element set by keyword."""
    from pydicom.dataset import Dataset  # noqa: PLC0415

    response = _status_dataset()() if comparable else Dataset()
    response.Status = command.status
    response.MessageIDBeingRespondedTo = command.message_id_being_responded_to
    for keyword, value in (
        ("AffectedSOPClassUID", command.affected_sop_class_uid),
        ("AffectedSOPInstanceUID", command.affected_sop_instance_uid),
        ("ErrorComment", command.error_comment),
        ("EventTypeID", command.event_type_id),
        ("ActionTypeID", command.action_type_id),
    ):
        if value:
            setattr(response, keyword, value)
    for keyword, count in (
        ("NumberOfRemainingSuboperations", command.number_of_remaining_suboperations),
        ("NumberOfCompletedSuboperations", command.number_of_completed_suboperations),
        ("NumberOfFailedSuboperations", command.number_of_failed_suboperations),
        ("NumberOfWarningSuboperations", command.number_of_warning_suboperations),
    ):
        if count is not None:
            setattr(response, keyword, count)
    return response


@functools.cache
def _dataset_class() -> type[Dataset]:
    from pydicom.dataset import Dataset  # noqa: PLC0415

    return Dataset


@functools.cache
def _pydicom_makers() -> tuple[Any, dict[str, Any], Any, int]:
    """pydicom's DataElement, the tag of each keyword of
    :func:`_element_values` (a BaseTag), UID and its validation mode
    "ignore", imported on first use."""
    from pydicom.config import IGNORE  # noqa: PLC0415
    from pydicom.datadict import tag_for_keyword  # noqa: PLC0415
    from pydicom.dataelem import DataElement  # noqa: PLC0415
    from pydicom.tag import BaseTag  # noqa: PLC0415
    from pydicom.uid import UID  # noqa: PLC0415

    tags: dict[str, Any] = {}
    for keyword, _, _, _ in _element_values(_SAMPLE):
        tag = tag_for_keyword(keyword)
        assert tag is not None, keyword
        tags[keyword] = BaseTag(tag)
    return DataElement, tags, UID, IGNORE


#: What pydicom's validation passes in silence (PS3.5 Table 6.2-1, as
#: pydicom checks it): a UID of at most 64 characters, components without
#: leading zeros; LO text of at most 64 printable ASCII characters and no
#: backslash (which would make it several values).
_PLAIN_UID: Final = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*")
_PLAIN_LO: Final = re.compile(r"[\x20-\x5b\x5d-\x7e]*")


def _made_elements(command: Command) -> dict[Any, Any] | None:
    """The Dataset's elements of :func:`command_dataset`, made already
    converted, keyed by tag; None if a value is not plain (see there)."""
    element, tags, uid, ignore = _pydicom_makers()
    made: dict[Any, Any] = {}
    for keyword, vr, given, when in _element_values(command):
        if given is None or (not given and when is _IF_TRUE):
            continue
        value = given
        kind = type(given)
        if vr == "US":
            if kind is not int or not 0 <= given <= 0xFFFF:
                return None
        elif kind is not str or len(given) > 64:
            return None
        elif vr == "UI":
            if _PLAIN_UID.fullmatch(given) is None:
                return None
            value = uid(given, ignore)  # checked just above, as pydicom would
        elif _PLAIN_LO.fullmatch(given) is None:
            return None
        key = tags[keyword]
        made[key] = element(key, vr, value, already_converted=True)
    if (
        len(made) < 2
        or tags["Status"] not in made
        or tags["MessageIDBeingRespondedTo"] not in made
    ):
        return None  # a response always has both; else the general way says what
    return made


_SAMPLE: Final = Command(
    command_field=CommandField.C_ECHO_RSP, message_id_being_responded_to=1, status=0
)
_ALWAYS: Final = object()
_IF_SET: Final = object()
_IF_TRUE: Final = object()


def _element_values(command: Command) -> tuple[tuple[str, str, Any, object], ...]:
    """(keyword, VR, value, when it is kept) of every element
    :func:`_by_keyword` sets, in the same order."""
    return (
        ("Status", "US", command.status, _ALWAYS),
        ("MessageIDBeingRespondedTo", "US", command.message_id_being_responded_to, _ALWAYS),
        ("AffectedSOPClassUID", "UI", command.affected_sop_class_uid, _IF_TRUE),
        ("AffectedSOPInstanceUID", "UI", command.affected_sop_instance_uid, _IF_TRUE),
        ("ErrorComment", "LO", command.error_comment, _IF_TRUE),
        ("EventTypeID", "US", command.event_type_id, _IF_TRUE),
        ("ActionTypeID", "US", command.action_type_id, _IF_TRUE),
        (
            "NumberOfRemainingSuboperations",
            "US",
            command.number_of_remaining_suboperations,
            _IF_SET,
        ),
        (
            "NumberOfCompletedSuboperations",
            "US",
            command.number_of_completed_suboperations,
            _IF_SET,
        ),
        ("NumberOfFailedSuboperations", "US", command.number_of_failed_suboperations, _IF_SET),
        ("NumberOfWarningSuboperations", "US", command.number_of_warning_suboperations, _IF_SET),
    )
