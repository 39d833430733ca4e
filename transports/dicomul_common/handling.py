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

from collections import deque
from typing import TYPE_CHECKING

from dicomul import (
    Aborted,
    CommandField,
    ConnectionClosed,
    DataSetFragment,
    HandlerOutcome,
    answer_status,
    outcome_status,
)

if TYPE_CHECKING:
    import logging

    from pydicom.dataset import Dataset

    from dicomul import Connection

__all__ = [
    "MAX_REQUEST_DATA_SET",
    "CollectedDataSet",
    "DataSetTooLargeError",
    "HELD_EVENT_COST",
    "MAX_HELD_DATA",
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

#: The most bytes an SCP keeps of what the peer sends while it performs
#: one of its requests (:class:`HeldEvents`).
MAX_HELD_DATA = 64 * 1024 * 1024
#: What each event held counts for besides its data-set bytes: about what a
#: decoded command (a C-ECHO-RQ, say) costs in memory.
HELD_EVENT_COST = 512


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
    """What a peer sends while an SCP is busy with one of its requests, taken
    from the connection early and kept, in order, for the association's
    loop to serve after it; one holder per association.

    An SCP reads on while it performs a request in two cases: it looks for
    a C-CANCEL before each C-FIND match and each C-GET or C-MOVE
    sub-operation (PS3.7 9.3.2.3, 9.3.3.3, 9.3.4.3), and it waits for the
    response to a C-GET's C-STORE sub-operation.  A peer that keeps within
    the operations window it was granted (PS3.7 D.3.3.3; one, unless
    negotiated) sends little meanwhile: a C-CANCEL, and the requests the
    window allows.  One that pushes a large data set, or request after
    request, would have it all held in memory.  So what is held is bounded
    (``MAX_HELD_DATA``, read when the holder is made): each event counts its
    data-set bytes and :data:`HELD_EVENT_COST` (what a small event costs in
    memory, so that a flood of requests without data counts too), until
    :meth:`take` gives it back.  Past the bound, :meth:`keep` drops
    everything held and aborts the association (A-P-ABORT), once; after
    that only its end (Aborted, ConnectionClosed) is kept.
    """

    def __init__(self) -> None:
        self._events: deque[tuple[object, int]] = deque()
        self.limit = MAX_HELD_DATA
        #: The bytes the events held count for now.
        self.size = 0
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._events)

    def hold(self, event: object) -> bool:
        """Keep ``event``; False the one time what is held passes the limit
        (then nothing is held any more)."""
        if isinstance(event, Aborted | ConnectionClosed):
            self._events.append((event, 0))
            return True
        if self.overflowed:
            return True  # dropped: the association is being aborted
        cost = HELD_EVENT_COST
        if isinstance(event, DataSetFragment):
            cost += len(event.data)
        self.size += cost
        if self.size > self.limit:
            self._events.clear()
            self.size = 0
            self.overflowed = True
            return False
        self._events.append((event, cost))
        return True

    def keep(self, event: object, conn: Connection, *, during: str, now: float) -> None:
        """:meth:`hold` ``event``; past the limit, abort ``conn``'s
        association on the provider's account (A-P-ABORT, PS3.8 7.4), with
        a message saying the peer sent too much ``during`` what ("a C-FIND
        was performed").  An association already over is left as it is."""
        if not self.hold(event) and not conn.association_over:
            conn.provider_abort(message=self.overflow_message(during), now=now)

    def take(self) -> object:
        """The first event held (IndexError if none); it counts no more."""
        event, cost = self._events.popleft()
        self.size -= cost
        return event

    @staticmethod
    def performing(command_field: int) -> str:
        """What an SCP performing a ``command_field`` request was doing, as
        :meth:`keep` says it: "a C-FIND was performed"."""
        name = CommandField(command_field).name.removesuffix("_RQ").replace("_", "-")
        return f"a {name} was performed"

    def overflow_message(self, during: str) -> str:
        """Why the association is aborted, for its log line."""
        return (
            f"the peer sent over {self.limit} bytes of other requests' data while "
            f"{during} (beyond its operations window)"
        )
