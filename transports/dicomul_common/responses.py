"""Response command sets as pydicom Datasets, the form the SCU APIs return.

The pynetdicom3-style API (and the async one after it) hands a response's
status back as a Dataset with ``Status`` (0000,0900) and whatever else the
response carried (the affected SOP instance an N-CREATE SCP assigned, the
sub-operation counts of a C-GET or C-MOVE, an error comment).  pydicom is
imported on first use only, so that importing an adapter stays fast.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from dicomul import Command

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pydicom.tag import BaseTag

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


#: The response fields given as raw (encoded) elements, which pydicom
#: converts only when read: (keyword, VR, Command field), 0 or "" left out.
_OPTIONAL = (
    ("AffectedSOPClassUID", "UI", "affected_sop_class_uid"),
    ("AffectedSOPInstanceUID", "UI", "affected_sop_instance_uid"),
    ("EventTypeID", "US", "event_type_id"),
    ("ActionTypeID", "US", "action_type_id"),
)
#: The sub-operation counts (PS3.7 9.3.3.2, 9.3.4.2), kept when 0: (keyword,
#: Command field).
_COUNTS = (
    ("NumberOfRemainingSuboperations", "number_of_remaining_suboperations"),
    ("NumberOfCompletedSuboperations", "number_of_completed_suboperations"),
    ("NumberOfFailedSuboperations", "number_of_failed_suboperations"),
    ("NumberOfWarningSuboperations", "number_of_warning_suboperations"),
)


def command_dataset(command: Command, *, comparable: bool = False) -> Dataset:
    """A response command set as a pydicom Dataset; ``comparable``: one that
    also compares equal to its status as an int.

    Its elements are pydicom's raw elements, encoded here (implicit VR
    little endian, PS3.7 6.3.1) and decoded by pydicom when first read: a
    quarter of the cost of setting each attribute, which was a good part of
    a C-ECHO's round trip.  A value that does not encode plainly (not a
    16-bit unsigned int, a UID not in ASCII) is set as an attribute, as
    the error comment is."""
    from pydicom.dataelem import DataElement, RawDataElement  # noqa: PLC0415 - start-up
    from pydicom.dataset import Dataset  # noqa: PLC0415

    raw: dict[BaseTag, RawDataElement] = {}
    slow: list[tuple[str, object]] = []

    def add(keyword: str, vr: str, value: object) -> None:
        encoded: bytes | None = None
        if vr == "US" and isinstance(value, int) and 0 <= value <= 0xFFFF:
            encoded = int(value).to_bytes(2, "little")
        elif vr == "UI" and isinstance(value, str) and value.isascii():
            encoded = value.encode("ascii")
            encoded += b"\0" * (len(encoded) % 2)  # even length, NUL padded (PS3.5 6.2)
        if encoded is None:
            slow.append((keyword, value))
            return
        tag = _tag(keyword)
        raw[tag] = RawDataElement(tag, vr, len(encoded), encoded, 0, True, True)

    add("MessageIDBeingRespondedTo", "US", command.message_id_being_responded_to)
    add("Status", "US", command.status)
    for keyword, vr, field in _OPTIONAL:
        value = getattr(command, field)
        if value:
            add(keyword, vr, value)
    for keyword, field in _COUNTS:
        count = getattr(command, field)
        if count is not None:
            add(keyword, "US", count)
    elements: dict[BaseTag, DataElement | RawDataElement] = {tag: raw[tag] for tag in sorted(raw)}
    response = _status_dataset()(elements) if comparable else Dataset(elements)
    for keyword, value in slow:
        setattr(response, keyword, value)
    if command.error_comment:
        response.ErrorComment = command.error_comment
    return response


@functools.cache
def _tag(keyword: str) -> BaseTag:
    """The tag of a command field's keyword (PS3.7 E.1)."""
    from pydicom.datadict import tag_for_keyword  # noqa: PLC0415
    from pydicom.tag import BaseTag  # noqa: PLC0415

    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return BaseTag(tag)
