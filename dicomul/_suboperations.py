"""The bookkeeping of a C-GET's or C-MOVE's C-STORE sub-operations.

PS3.4 C.4.2.1.5 and C.4.3.1.4: each pending response carries the numbers of
remaining, completed, failed and warning sub-operations; the final response
carries the completed, failed and warning counts (and the remaining count if
the SCU cancelled), a status from them (:func:`suboperations_status`), and,
if any failed, an identifier listing their SOP Instance UIDs (C.4.2.1.4.1,
Failed SOP Instance UID List).  Every adapter's retrieve SCP keeps the same
books, so they are kept here, with no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._status import Status, suboperations_status

__all__ = ["SubOperations"]


@dataclass(slots=True)
class SubOperations:
    """The counts of one retrieve's sub-operations, as they are done.

    >>> books = SubOperations(remaining=2)
    >>> books.record("1.2.3", 0x0000)
    >>> books.pending_counts()["number_of_remaining_suboperations"]
    1
    >>> books.record("1.2.4", 0xA700)
    >>> status, counts = books.final()
    >>> hex(status), counts["number_of_failed_suboperations"], books.failed_uids
    ('0xb000', 1, ['1.2.4'])
    """

    remaining: int
    completed: int = 0
    failed: int = 0
    warning: int = 0
    cancelled: bool = False
    failed_uids: list[str] = field(default_factory=list)

    def record(self, sop_instance_uid: str, status: int | None) -> None:
        """One sub-operation done: its C-STORE response status, or None if
        it could not be sent (no context, unreadable file, association gone)."""
        self.remaining -= 1
        category = None if status is None else Status(status)
        if category == "Success":
            self.completed += 1
        elif category == "Warning":
            self.warning += 1
        else:
            self.failed += 1
            self.failed_uids.append(sop_instance_uid)

    def cancel(self) -> None:
        """The SCU cancelled (or the association can carry no more): the
        rest are not done, and the final status is Cancel."""
        self.cancelled = True

    def pending_counts(self) -> dict[str, int]:
        """The counts of a pending response, as :func:`response_for` keywords."""
        return {
            "number_of_remaining_suboperations": self.remaining,
            "number_of_completed_suboperations": self.completed,
            "number_of_failed_suboperations": self.failed,
            "number_of_warning_suboperations": self.warning,
        }

    def final(self) -> tuple[int, dict[str, int]]:
        """The final response's status and counts (remaining only if cancelled)."""
        status = suboperations_status(
            completed=self.completed,
            failed=self.failed,
            warning=self.warning,
            cancelled=self.cancelled,
        )
        counts = self.pending_counts()
        if not self.cancelled:
            del counts["number_of_remaining_suboperations"]
        return status, counts
