"""The query/retrieve SCP operations, as objects an adapter drives.

Theory of operation
-------------------
A C-FIND, C-GET or C-MOVE SCP answers one request with any number of
pending responses and one final response (PS3.7 9.1.2, 9.1.3, 9.1.4).
What to send, and when to stop, is the standard's; calling the user's
handler (which may block, or be awaited), reading the peer's C-CANCEL and
performing each C-STORE sub-operation is the adapter's.  So an adapter
creates one operation object per request, feeds it what happened, and
sends each :class:`Reply` it gets back, in order, until one is final:

- :class:`FindOperation` (PS3.4 C.4.1.2, C.4.1.1.4): a pending response
  per match the handler yields, with the match as its identifier; a
  non-pending status from the handler, a C-CANCEL (Cancel, 0xFE00) or a
  failing handler ends the query; exhaustion answers Success.
- :class:`RetrieveOperation` (PS3.4 C.4.2.2, C.4.3.2): the C-STORE
  sub-operations of a C-GET or C-MOVE, a C-CANCEL checked before each, a
  pending response with the counts after each but the last, the final
  response with the counts and the Failed SOP Instance UID List
  (0008,0058) (the books are :class:`dicomul.SubOperations`).

Whether the peer cancelled is the connection's to say
(:meth:`dicomul.Connection.cancel_requested`); the adapter passes it in.
Nothing here does I/O: identifiers are encoded to bytes in the request's
transfer syntax, ready to send.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, TypeVar

from ._command import Command, CommandField
from ._record import dataclass
from ._services import HandlerOutcome, outcome_status
from ._status import GeneralStatus, QueryRetrieveStatus, Status
from ._suboperations import SubOperations

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["FindOperation", "Reply", "RetrieveOperation", "handler_refusal"]

#: Where a move destination is (the adapter's business: host and port, say).
_Address = TypeVar("_Address")


@dataclass(frozen=True, slots=True)
class Reply:
    """One response to send to the request being served.

    ``data_set`` is its identifier, encoded (None for none); ``counts`` are
    the sub-operation counts, as :func:`dicomul.response_for` keywords.
    """

    status: int
    data_set: bytes | None = None
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        """True unless the response is a pending one (PS3.7 C.1: 0xFF00, 0xFF01)."""
        return Status(self.status) != "Pending"


class _Operation:
    """What every operation shares: it ends with one final reply, after
    which it answers nothing more."""

    def __init__(self) -> None:
        self.done = False

    def _give(self, reply: Reply) -> Reply:
        if self.done:
            raise RuntimeError("the operation already gave its final response")
        self.done = reply.is_final
        return reply


class FindOperation(_Operation):
    """One C-FIND, as an SCP performs it (PS3.4 C.4.1.2; PS3.7 9.1.2).

    The adapter iterates the handler and, for each item it yields, sends
    :meth:`match`'s reply, telling it whether the peer has cancelled
    meanwhile (the cancel is checked between matches, before each is
    sent); it stops once :attr:`done`.  A handler that raises (or a match
    that cannot be encoded) gets :meth:`failed`; a handler that is
    exhausted first, :meth:`exhausted`.

    >>> query = FindOperation("1.2.840.10008.1.2.1")
    >>> hex(query.match((0xA700, None), cancelled=False).status), query.done
    ('0xa700', True)
    """

    def __init__(self, transfer_syntax: str) -> None:
        super().__init__()
        self.transfer_syntax = transfer_syntax

    def match(self, item: object, *, cancelled: bool) -> Reply:
        """The reply to one item of the handler: a match (a Dataset), or a
        ``(status, match)`` pair.  A pending status (0xFF00, or 0xFF01 when
        optional keys were not supported, PS3.4 C.4.1.1.4) sends the match
        as its identifier; any other status ends the query with it, without
        an identifier; a cancelled query ends with Cancel (0xFE00).

        Raises what encoding the match raises (the adapter answers
        :meth:`failed`), and ValueError for a status that is no 16-bit code.
        """
        if cancelled:
            return self._give(Reply(GeneralStatus.CANCEL))
        status, identifier = item if isinstance(item, tuple) else (GeneralStatus.PENDING, item)
        code = int(status)
        if Status(code) != "Pending":
            return self._give(Reply(code))
        from ._dataset import encode_dataset  # noqa: PLC0415 - pydicom is slow to import

        return self._give(Reply(code, encode_dataset(identifier, self.transfer_syntax)))

    def failed(self) -> Reply:
        """The final reply when the handler raised: "Unable to process"."""
        return self._give(Reply(outcome_status(CommandField.C_FIND_RQ, HandlerOutcome.FAILED)))

    def exhausted(self) -> Reply:
        """The final reply when the handler has no more matches: Success."""
        return self._give(Reply(GeneralStatus.SUCCESS))


def handler_refusal(items: Sequence[object]) -> int | None:
    """The status with which a retrieve handler refuses its request: that of
    the first ``(status, None)`` pair among its items (as ``on_c_find``
    yields a non-pending status), None if it gave only matches."""
    refusal = next((item for item in items if isinstance(item, tuple)), None)
    return None if refusal is None else int(refusal[0])


class RetrieveOperation(_Operation):
    """One C-GET or C-MOVE, as an SCP performs it (PS3.4 C.4.2.2, C.4.3.2;
    PS3.7 9.1.3, 9.1.4), once its handler has named the matches.

    The adapter calls :meth:`proceed` before each sub-operation (False:
    the peer cancelled, or the association can carry no more; stop), then
    performs it and reports its C-STORE status to :meth:`performed`, which
    gives the pending reply (None after the last); then it sends
    :meth:`final`.  With no match there is no sub-operation
    (:attr:`has_suboperations` is False): :meth:`final` at once, and a
    C-MOVE opens no association.

    >>> retrieve = RetrieveOperation(CommandField.C_GET_RQ, "1.2.840.10008.1.2", ["1.1", "1.2"])
    >>> retrieve.proceed(cancelled=False)
    True
    >>> retrieve.performed(0x0000).counts["number_of_remaining_suboperations"]
    1
    """

    def __init__(
        self, command_field: int, transfer_syntax: str, sop_instance_uids: Sequence[str]
    ) -> None:
        super().__init__()
        self.command_field = command_field
        self.transfer_syntax = transfer_syntax
        self._uids = list(sop_instance_uids)
        self._books = SubOperations(remaining=len(self._uids))

    @property
    def remaining(self) -> int:
        """How many sub-operations are still to be performed."""
        return self._books.remaining

    @property
    def has_suboperations(self) -> bool:
        """Whether the handler named any match, so that there are
        sub-operations to perform at all (whether or not they were done
        since).  False: the final reply (Success, all counts zero, PS3.4
        C.4.2.1.5, C.4.3.1.4) is the only response, and a C-MOVE opens no
        association to its Move Destination, having nothing to send there
        (PS3.4 C.4.2.3.1 opens associations for the sub-operations)."""
        return bool(self._uids)

    @staticmethod
    def failed(command_field: int) -> Reply:
        """The final reply when the handler raised before naming the
        matches: "Unable to process" (PS3.4 C.4.2.1.5, C.4.3.1.4)."""
        return Reply(outcome_status(command_field, HandlerOutcome.FAILED))

    @staticmethod
    def refused(status: int) -> Reply:
        """The final reply when the handler refused the request with ``status``."""
        return Reply(status)

    @staticmethod
    def destination_address(
        command: Command, destinations: Mapping[str, _Address]
    ) -> tuple[str, _Address | None]:
        """A C-MOVE's Move Destination (0000,0600) and where it is: the AE
        title as the request names it, and its entry in ``destinations``
        (AE title to address), or None if the SCP knows no such AE (then
        :meth:`destination_unknown`).  An AE title's leading and trailing
        spaces are not significant (PS3.5 6.2, AE), on either side.

        >>> from dicomul import c_move_rq
        >>> RetrieveOperation.destination_address(
        ...     c_move_rq(1, "1.2.840.10008.5.1.4.1.2.1.2", "STORE  "),
        ...     {" STORE": ("localhost", 11113)})
        ('STORE', ('localhost', 11113))
        """
        title = (command.move_destination or "").strip()
        for known, address in destinations.items():
            if known.strip() == title:
                return title, address
        return title, None

    @staticmethod
    def destination_unknown() -> Reply:
        """A C-MOVE's final reply when its Move Destination is not an AE the
        SCP knows (PS3.4 C.4.2.1.5: 0xA801), before any handler runs."""
        return Reply(QueryRetrieveStatus.MOVE_DESTINATION_UNKNOWN)

    def proceed(self, *, cancelled: bool) -> bool:
        """Whether to perform the next sub-operation; the caller asks before
        each (PS3.4 C.4.2.3.1: a C-CANCEL stops the sub-operations not yet
        started).  ``cancelled`` is True when the peer cancelled the request
        or the association can carry no more."""
        if cancelled:
            self._books.cancel()
        return self.remaining > 0 and not self._books.cancelled

    def performed(self, status: int | None) -> Reply | None:
        """The next sub-operation is done: its C-STORE status, or None if it
        could not be performed.  The pending reply with the counts, or None
        after the last (the final reply carries them)."""
        if self.remaining <= 0:
            raise RuntimeError("no sub-operation remains to be performed")
        uid = self._uids[len(self._uids) - self.remaining]
        self._books.record(uid, status)
        if not self._books.remaining:
            return None
        return self._give(Reply(GeneralStatus.PENDING, counts=self._books.pending_counts()))

    def final(self) -> Reply:
        """The final reply: the status from the counts (PS3.4 C.4.2.1.5),
        the counts, and, if any sub-operation failed, an identifier with
        their Failed SOP Instance UID List (PS3.4 C.4.2.1.4.1)."""
        status, counts = self._books.final()
        failed = self._books.failed_uids
        identifier = _failed_list(failed, self.transfer_syntax) if failed else None
        return self._give(Reply(status, identifier, counts))


def _failed_list(uids: list[str], transfer_syntax: str) -> bytes:
    """The identifier of a final retrieve response listing ``uids``."""
    from pydicom.dataset import Dataset  # noqa: PLC0415 - pydicom is slow to import

    from ._dataset import encode_dataset  # noqa: PLC0415

    identifier: Dataset = Dataset()
    identifier.FailedSOPInstanceUIDList = uids
    return encode_dataset(identifier, transfer_syntax)
