"""Where received data sets go, and how a user handler is called.

A C-STORE's data set flows into a sink as it arrives (:class:`StoreSink`:
the user's stream, the durable directory, or a buffer decoded for
``on_c_store``); other requests' data sets are collected, within a limit.
Whatever a sink or handler raises becomes the standard's failure status:
the core's :func:`dicomul.outcome_status` says which; here are only the
calls, and the log lines.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from dicomul_common import handling
from dicomul_common.handling import (
    MAX_REQUEST_DATA_SET,
    DataSetTooLargeError,
    answer_of,
    decode_data_set,
    is_peer_data_error,
    logged_failure_status,
    storage_failure_status,
)

from dicomul import HandlerOutcome, answer_status, outcome_status

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomul import StoreCheck, StoreRefusal

    from ._handlers import ServiceRequest, StoreHandlers, StoreSink

__all__ = [
    "MAX_REQUEST_DATA_SET",
    "CollectedDataSet",
    "DataSetTooLargeError",
    "call_handler",
    "decode_data_set",
]

LOGGER = logging.getLogger("dicomul.sync.services")


def call_handler(
    handler: Callable[..., object], args: tuple[object, ...], command_field: int
) -> tuple[int, Dataset | None]:
    """Run a user handler for a request of ``command_field``: the status it
    gives and the data set it returns with it, if any (a handler returns a
    status, a Dataset with ``Status``, or a (status, data set) pair; see
    :func:`dicomul.answer_status`).  NotImplementedError is a service not
    served, any other raise a failure (and a logged traceback): the status
    :func:`dicomul.outcome_status` gives the service for each."""
    try:
        return answer_of(handler(*args))
    except Exception as exc:
        return logged_failure_status(command_field, exc, LOGGER), None


def notify_handler(handler: Callable[..., object], *args: object) -> None:
    """Run a notification handler (``on_c_stored``): what it returns is
    ignored, a raise is logged and changes nothing (the answer is decided)."""
    try:
        handler(*args)
    except Exception:
        LOGGER.exception("notification handler failed")


class GuardedSink:
    """A data set of a ``command_field`` request arriving into a sink; a sink
    that raises becomes the service's failure status (OSError: out of
    resources, 0xA700 for C-STORE; anything else: a failure, 0xC000 for
    C-STORE; :func:`dicomul.outcome_status`).  :attr:`failure` is the status
    logged, and the one to answer.

    With a :class:`dicomul.StoreCheck` (a C-STORE), every piece is followed
    by it too, and a data set it refuses (not whole, not inflating within its
    bound, not the instance the request names) is discarded and answered
    with the check's status: Success only for the instance asked, whole.
    """

    def __init__(
        self,
        factory: Callable[..., object],
        *args: object,
        command_field: int,
        check: StoreCheck | None = None,
    ) -> None:
        self.sink: StoreSink | None = None
        self.failure: int | None = None
        self._command_field = command_field
        self.check = check
        try:
            self.sink = factory(*args)  # type: ignore[assignment]
        except Exception as exc:
            self._fail(exc, "cannot receive the data set")

    def _fail(self, exc: Exception, what: str) -> None:
        self.failure = storage_failure_status(self._command_field, exc)
        if isinstance(exc, NotImplementedError):  # no handler: not a failure of ours
            LOGGER.warning("no handler: answering 0x%04X (%s)", self.failure, exc)
        elif is_peer_data_error(exc):  # the peer's data: one line, no traceback
            LOGGER.error("%s: %s; answering 0x%04X", what, exc, self.failure)
        else:
            LOGGER.error("%s; answering 0x%04X", what, self.failure, exc_info=exc)
        self.discard()

    def _refuse(self, refusal: StoreRefusal) -> None:
        """The peer's data set is not to be kept: one line, no traceback."""
        if self.failure is None:
            self.failure = int(refusal.status)
            LOGGER.error(
                "refusing the data set: %s; answering 0x%04X", refusal.reason, self.failure
            )
        self.discard()

    def write(self, data: bytes | memoryview) -> None:
        if self.sink is None:
            return
        if self.check is not None and (refusal := self.check.feed(data)) is not None:
            self._refuse(refusal)
            return
        try:
            self.sink.write(data)
        except Exception as exc:
            self._fail(exc, "writing the data set failed")

    def finish(self) -> int:
        """The status to answer: Success only for data the sink took safely."""
        if self.sink is not None and self.check is not None:
            refusal = self.check.finish()
            if refusal is not None:
                self._refuse(refusal)
        if self.sink is None:
            if self.failure is not None:
                return self.failure
            return outcome_status(self._command_field, HandlerOutcome.FAILED)
        try:
            return answer_status(self.sink.commit())
        except Exception as exc:
            self._fail(exc, "storing the data set failed")
            assert self.failure is not None
            return self.failure

    def collected(self) -> bytes | None:
        """The bytes a :class:`CollectedDataSet` sink holds (None after a failure)."""
        return self.sink.data() if isinstance(self.sink, CollectedDataSet) else None

    def discard(self) -> None:
        sink, self.sink = self.sink, None
        if sink is not None:
            try:
                sink.discard()
            except Exception:
                LOGGER.exception("discarding a partial data set failed")


class CollectedDataSet(handling.CollectedDataSet):
    """The data set of a request other than C-STORE, kept whole in memory up
    to this module's :data:`MAX_REQUEST_DATA_SET`, read at each request (so
    that it can be lowered, as the tests do)."""

    def __init__(self) -> None:
        super().__init__(MAX_REQUEST_DATA_SET)


class DatasetSink:
    """Collect the data set, decode it, and hand it to ``ae.on_c_store``
    with its ``file_meta`` (PS3.10 7.1: the request's SOP class and
    instance, the transfer syntax it came in, the AE's implementation), so
    that ``dataset.save_as(path, enforce_file_format=True)`` writes a Part
    10 file as it is, compressed or not."""

    def __init__(self, ae: StoreHandlers, request: ServiceRequest) -> None:
        self.ae = ae
        self.request = request
        self.parts: list[bytes] = []

    def write(self, data: bytes | memoryview) -> None:
        self.parts.append(bytes(data))

    def commit(self) -> int | None:
        from dicomul_common.storage import file_meta_for  # noqa: PLC0415 - pydicom now loaded

        from dicomul import MAX_INFLATED_SIZE  # noqa: PLC0415

        request = self.request
        dataset = decode_data_set(
            b"".join(self.parts), request.transfer_syntax, max_inflated_size=MAX_INFLATED_SIZE
        )
        self.parts = []
        dataset.file_meta = file_meta_for(
            request.sop_class_uid,
            request.sop_instance_uid or "",
            request.transfer_syntax,
            implementation_class_uid=self.ae.implementation_class_uid,
            implementation_version_name=self.ae.implementation_version_name,
        )
        return answer_status(self.ae.on_c_store(dataset))

    def discard(self) -> None:
        self.parts = []


class DirectorySink:
    """Store the data set durably under ``ae.store_directory`` as a Part 10
    file: :class:`dicomul_common.store_sink.CheckedStore`, which checks it
    (whole, naming the instance asked) and answers Success only once it is
    fsynced under its final name, the PS3.4 status otherwise (logged there)."""

    def __init__(self, ae: StoreHandlers, request: ServiceRequest) -> None:
        from dicomul_common.store_sink import CheckedStore  # noqa: PLC0415 - pydicom only when storing

        self.ae = ae
        self.store = CheckedStore(
            request.command, request.transfer_syntax, ae.store_directory or os.curdir
        )

    def write(self, data: bytes | memoryview) -> None:
        self.store.write(data)

    def commit(self) -> int | None:
        status = self.store.finish()
        if self.store.path is not None:  # the data is safe whatever on_c_stored does
            notify_handler(self.ae.on_c_stored, self.store.path)
        return status

    def discard(self) -> None:
        self.store.discard()
