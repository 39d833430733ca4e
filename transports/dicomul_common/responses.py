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
    also compares equal to its status as an int."""
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
