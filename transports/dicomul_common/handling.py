"""What becomes of an SCP handler's answer, or of what it raised: the
plumbing both servers share (the blocking ``dicomul_sync`` and the async
``dicomul_anyio``), so that each only calls and awaits.

The statuses are the core's (:func:`dicomul.answer_status`,
:func:`dicomul.outcome_status`); here is only which Python exception is
which :class:`dicomul.HandlerOutcome`, which errors are the peer's data
(one log line, no traceback), and the bounded collection of a request's
data set other than a C-STORE's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicomul import (
    Aborted,
    ConnectionClosed,
    DataSetFragment,
    HandlerOutcome,
    answer_status,
    outcome_status,
)

if TYPE_CHECKING:
    import logging

    from pydicom.dataset import Dataset

__all__ = [
    "MAX_REQUEST_DATA_SET",
    "CollectedDataSet",
    "DataSetTooLargeError",
    "HeldEvents",
    "answer_of",
    "decode_data_set",
    "handler_failure_status",
    "logged_failure_status",
    "is_peer_data_error",
    "storage_failure_status",
]

#: The largest data set kept in memory for a request other than C-STORE (a
#: query identifier, an N-SET modification list): beyond it the request is
#: answered with a failure instead of exhausting memory for a hostile peer.
MAX_REQUEST_DATA_SET = 64 * 1024 * 1024

#: The most data-set bytes an SCP keeps of what the peer sends while it
#: waits for something else (:class:`HeldEvents`).
MAX_HELD_DATA = 64 * 1024 * 1024


class DataSetTooLargeError(ValueError):
    """A request's data set over :data:`MAX_REQUEST_DATA_SET` bytes."""


def answer_of(result: object) -> tuple[int, Dataset | None]:
    """A handler's answer as (status, data set to send back): a handler
    returns a status, a Dataset with ``Status``, None (Success), or a
    ``(status, data set)`` pair (:func:`dicomul.answer_status`).  Raises
    what :func:`dicomul.answer_status` raises for an answer that is none."""
    if isinstance(result, tuple):
        status, data = result
        return answer_status(status), data
    return answer_status(result), None


def handler_failure_status(command_field: int, exc: BaseException) -> int:
    """The status for a handler of a ``command_field`` request that raised
    ``exc``: NotImplementedError means no handler serves the service
    ("unrecognized operation"), anything else a failure (PS3.7 C.5; each
    service's own status: :func:`dicomul.outcome_status`)."""
    outcome = (
        HandlerOutcome.NOT_IMPLEMENTED
        if isinstance(exc, NotImplementedError)
        else HandlerOutcome.FAILED
    )
    return outcome_status(command_field, outcome)


def logged_failure_status(command_field: int, exc: Exception, logger: logging.Logger) -> int:
    """:func:`handler_failure_status`, logged on ``logger`` as both servers
    log it: no handler is a one-line warning, any other raise an error with
    its traceback."""
    status = handler_failure_status(command_field, exc)
    if isinstance(exc, NotImplementedError):
        logger.warning("no handler: answering 0x%04X (%s)", status, exc)
    else:
        logger.error(
            "handler failed (or returned no status); answering 0x%04X", status, exc_info=exc
        )
    return status


def storage_failure_status(command_field: int, exc: BaseException) -> int:
    """The status for a request's data set that could not be kept because
    ``exc`` was raised while taking it: an OSError (a full disk, too many
    open files) is out of resources (0xA7xx for a C-STORE, PS3.4 B.2.3),
    NotImplementedError no handler to take it (0x0211, as
    :func:`handler_failure_status`), anything else a failure."""
    if isinstance(exc, NotImplementedError):
        return handler_failure_status(command_field, exc)
    outcome = (
        HandlerOutcome.OUT_OF_RESOURCES if isinstance(exc, OSError) else HandlerOutcome.FAILED
    )
    return outcome_status(command_field, outcome)


def is_peer_data_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the peer's data is wrong (a SOP Instance UID that
    cannot name a file, a data set whose structure is broken or too large),
    which is logged in one line: no fault of ours, no traceback."""
    from dicomul import DataSetStructureError  # noqa: PLC0415
    from dicomul_common.storage import NotAFileNameError  # noqa: PLC0415 - pydicom only when storing

    return isinstance(exc, NotAFileNameError | DataSetStructureError | DataSetTooLargeError)


def decode_data_set(data: bytes, transfer_syntax: str, *, max_inflated_size: int) -> Dataset:
    """Decode a request's data set (pydicom imported only when needed)."""
    from dicomul import decode_dataset  # noqa: PLC0415 - pydicom only when needed

    return decode_dataset(data, transfer_syntax, max_inflated_size=max_inflated_size)


class CollectedDataSet:
    """The data set of a request other than C-STORE, kept whole in memory,
    up to :data:`MAX_REQUEST_DATA_SET` bytes (DataSetTooLargeError past it)."""

    def __init__(self, limit: int = MAX_REQUEST_DATA_SET) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.limit = limit

    def write(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise DataSetTooLargeError(
                f"a request's data set over {self.limit} bytes (MAX_REQUEST_DATA_SET)"
            )
        self.parts.append(bytes(data))

    def commit(self) -> int | None:
        return None

    def data(self) -> bytes:
        return b"".join(self.parts)

    def discard(self) -> None:
        self.parts = []


class HeldEvents:
    """What a peer sends while an SCP waits for one thing (the response to a
    C-GET's C-STORE sub-operation), kept in order to be served after it.

    A peer that keeps within the operations window it was granted (PS3.7
    D.3.3.3; one, unless negotiated) sends little meanwhile: at most a
    C-CANCEL and requests the window allows.  One that pushes a large data
    set instead would have it all held in memory, since the SCP must read on
    to find the response it waits for.  So the data held is bounded
    (``MAX_HELD_DATA``, read when the holder is made): past it, :meth:`hold`
    drops everything and returns False once, and the caller aborts the
    association; after that only its end (Aborted, ConnectionClosed) is kept.
    """

    def __init__(self) -> None:
        self.events: list[object] = []
        self.limit = MAX_HELD_DATA
        self.size = 0
        self.overflowed = False

    def hold(self, event: object) -> bool:
        """Keep ``event``; False the one time the data held passes the limit."""
        if isinstance(event, Aborted | ConnectionClosed):
            self.events.append(event)
            return True
        if self.overflowed:
            return True  # dropped: the association is being aborted
        if isinstance(event, DataSetFragment):
            self.size += len(event.data)
            if self.size > self.limit:
                self.events.clear()
                self.overflowed = True
                return False
        self.events.append(event)
        return True

    @property
    def overflow_message(self) -> str:
        """Why the association is aborted, for its log line."""
        return (
            f"the peer sent over {self.limit} bytes of other requests' data while a "
            "response was awaited (beyond its operations window)"
        )
