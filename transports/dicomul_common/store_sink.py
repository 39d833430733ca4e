"""One C-STORE's data set received into a directory, and the status to answer.

:class:`CheckedStore` puts together what every storage SCP does with the
data set of a C-STORE request, whatever drives its I/O: each piece is
followed by :class:`dicomul.StoreCheck` (the data set must be whole and name
the instance its request names, PS3.4 B.2.3) and written to a
:class:`~dicomul_common.storage.DurableFile`; :meth:`CheckedStore.finish`
commits the file and only then gives Success.  Whatever goes wrong becomes
the status PS3.4 Table B.2-1 gives (through :func:`dicomul.outcome_status`):
a full disk is "Refused: Out of Resources", a SOP Instance UID that cannot
name a file "Error: Cannot understand", and the partial file is removed.
Nothing is raised for a peer's data or a failing disk: a server answers,
and the reason is logged once (one line for the peer's data, a traceback
for our own failure).  Every adapter's directory store is this one (the
blocking SCP's, the async SCP's and the async SCU's C-GET store; the async
ones call it in worker threads), so these rules are written once.
"""

from __future__ import annotations

import logging
import os
import pathlib

from dicomul import (
    BytesLike,
    Command,
    CommandField,
    CommandReceived,
    GeneralStatus,
    Negotiated,
    StoreCheck,
)

from .handling import is_peer_data_error, storage_failure_status
from .storage import DurableFile

__all__ = ["CheckedStore"]

LOGGER = logging.getLogger("dicomul.storage")


class CheckedStore:
    """The data set of the C-STORE ``request``, arriving in ``transfer_syntax``.

    ``directory`` None checks the data set and keeps nothing (a sink that
    answers Success for any whole, matching data set).  Feed every piece to
    :meth:`write`, then call :meth:`finish` once for the status to answer;
    :meth:`discard` drops the partial file of a transfer that was cut short.
    """

    def __init__(
        self,
        request: Command,
        transfer_syntax: str,
        directory: str | os.PathLike[str] | None,
    ) -> None:
        self.check = StoreCheck(request, transfer_syntax)
        #: The status to answer; None while nothing has gone wrong.
        self.failure: int | None = None
        #: Why the data set is not stored (for a log line), once it is not.
        self.reason = ""
        #: Where the instance is, once committed.
        self.path: pathlib.Path | None = None
        self._file: DurableFile | None = None
        if directory is not None:
            try:
                self._file = DurableFile(
                    directory,
                    sop_class_uid=request.affected_sop_class_uid or "",
                    sop_instance_uid=request.affected_sop_instance_uid or "",
                    transfer_syntax=transfer_syntax,
                )
            except (OSError, ValueError) as exc:  # no room; a UID that names no file
                self._fail(exc, "cannot receive the data set")

    @classmethod
    def for_request(
        cls,
        event: CommandReceived,
        negotiated: Negotiated | None,
        directory: str | os.PathLike[str] | None,
    ) -> CheckedStore | None:
        """The store for the data set of the request ``event`` brings, if it is
        a C-STORE on a context of ``negotiated`` (the data set arrives in that
        context's transfer syntax); None for any other request."""
        command = event.command
        if command.command_field != CommandField.C_STORE_RQ or negotiated is None:
            return None
        context = negotiated.contexts.get(event.context_id)
        if context is None:
            return None
        return cls(command, context.transfer_syntax, directory)

    def write(self, data: BytesLike) -> None:
        """Take the next piece of the data set (ignored once it is refused)."""
        if self.failure is not None:
            return
        refusal = self.check.feed(data)
        if refusal is not None:
            self._refuse(refusal.status, refusal.reason)
            return
        if self._file is not None:
            try:
                self._file.write(data)
            except OSError as exc:
                self._fail(exc, "writing the data set failed")

    def finish(self) -> int:
        """The status to answer: Success only once the whole data set, naming
        the instance asked, is durably on disk (or, without a directory, was
        checked whole)."""
        if self.failure is None and (refusal := self.check.finish()) is not None:
            self._refuse(refusal.status, refusal.reason)
        if self.failure is None and self._file is not None:
            try:
                self.path = self._file.commit()
            except OSError as exc:  # commit() removed the partial file
                self._fail(exc, "storing the data set failed")
        return GeneralStatus.SUCCESS if self.failure is None else self.failure

    def discard(self) -> None:
        """Drop the partial file, if the data set was not stored (idempotent)."""
        if self._file is not None and self.path is None:
            self._file.discard()

    def _refuse(self, status: int, reason: str, *, what: str = "refusing the data set") -> None:
        self.failure, self.reason = int(status), reason
        LOGGER.error("%s: %s; answering 0x%04X", what, reason, self.failure)
        self.discard()

    def _fail(self, exc: OSError | ValueError, what: str) -> None:
        status = storage_failure_status(CommandField.C_STORE_RQ, exc)
        if is_peer_data_error(exc):  # the peer's data: one line, no traceback
            self._refuse(status, str(exc), what=what)
            return
        self.failure, self.reason = int(status), str(exc)
        LOGGER.error("%s; answering 0x%04X", what, self.failure, exc_info=exc)
        self.discard()
