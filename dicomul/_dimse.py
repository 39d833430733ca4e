"""DIMSE messages over P-DATA-TF: fragmentation and reassembly (PS3.7 6.3, PS3.8 9.3.5, Annex E).

Theory of operation
-------------------
A DIMSE message is a command set and, when the command says so, a data set.
Each travels as a sequence of presentation data values (PDVs) on one
presentation context: the Message Control Header of every PDV says whether it
carries command or data-set bytes and whether it is the last fragment
(PS3.8 Annex E.2).  The command's fragments come first, then the data set's;
fragments of different messages are not interleaved.

:func:`fragment` cuts a message into P-DATA-TF PDUs no larger than the peer's
maximum PDU length.  Data-set bytes are sliced with ``memoryview``, never
copied, unless a fragment has to span two chunks of an iterable data set
(then only that fragment is joined).  A data set can be an iterable of chunks
read from a file, so a 2 GiB data set never has to be held whole: fragments
are produced lazily, one PDU at a time.

:class:`Reassembler` does the reverse on the receiving side, one PDV at a
time.  It joins the (small) command fragments and decodes the command, and
passes data-set fragments through as they come, so a receiver can stream a
data set to disk.  A PDV that breaks the rules (an unaccepted context, a data
set before its command, a data set the command did not announce, a context
that changes mid-message) raises :class:`~dicomul.RemoteProtocolError` with
the A-ABORT reason to answer with.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from ._command import Command, decode_command, encode_command
from ._enums import AbortReason, MessageControlHeader
from ._errors import LocalProtocolError, RemoteProtocolError
from ._wire import BytesLike
from .pdu import PDataTF, PresentationDataValue

__all__ = [
    "MAX_COMMAND_LENGTH",
    "join_data_set",
    "UNLIMITED_PDU_CAP",
    "CommandReceived",
    "DataSetFragment",
    "DataSetSource",
    "Reassembler",
    "fragment",
    "fragment_size",
]

#: When the peer announces no limit (maximum length 0), P-DATA-TF PDUs are
#: still cut at this PDU-length so that each one is bounded in memory.
UNLIMITED_PDU_CAP = 1024 * 1024
#: Largest command set accepted from a peer.  Real command sets are a few
#: hundred bytes; this bounds what a hostile peer can make us buffer.
MAX_COMMAND_LENGTH = 64 * 1024
#: PDV item overhead inside a P-DATA-TF: Item-length (4), context ID, control header.
_PDV_OVERHEAD = 6

_COMMAND = MessageControlHeader.COMMAND
_LAST = MessageControlHeader.LAST

#: An outgoing data set: encoded whole, or as chunks produced as they are
#: sent (read from a file, say), so that it is never held whole.
DataSetSource = BytesLike | Iterable[BytesLike]


def fragment_size(max_pdu_length: int) -> int:
    """Largest PDV payload that fits a P-DATA-TF of ``max_pdu_length`` (0: no limit).

    PS3.8 D.1: the maximum length bounds the P-DATA-TF's variable field, that
    is its PDV items, each with six bytes of overhead.
    """
    limit = UNLIMITED_PDU_CAP if max_pdu_length == 0 else min(max_pdu_length, UNLIMITED_PDU_CAP)
    if limit <= _PDV_OVERHEAD:
        raise LocalProtocolError(
            f"maximum PDU length {max_pdu_length} leaves no room for a PDV's data"
        )
    return limit - _PDV_OVERHEAD


def _pdu(context_id: int, control: int, data: BytesLike) -> PDataTF:
    return PDataTF(
        pdvs=(PresentationDataValue(context_id=context_id, control_header=control, data=data),)
    )


def _slices(data: BytesLike, size: int) -> Iterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield view[start : start + size]


def _rechunk(chunks: Iterable[BytesLike], size: int) -> Iterator[BytesLike]:
    """Cut a stream of chunks into pieces of exactly ``size`` (the last one shorter).

    Pieces inside one chunk are memoryview slices; only a piece that spans a
    chunk boundary is joined.
    """
    pending: list[memoryview] = []
    pending_len = 0
    for chunk in chunks:
        view = memoryview(chunk)
        if pending_len:
            take = size - pending_len
            pending.append(view[:take])
            pending_len += len(pending[-1])
            view = view[take:]
            if pending_len < size:
                continue
            yield b"".join(pending)
            pending, pending_len = [], 0
        whole = len(view) - len(view) % size
        yield from _slices(view[:whole], size)
        if whole < len(view):
            pending, pending_len = [view[whole:]], len(view) - whole
    if pending_len:
        yield b"".join(pending)


def _with_last(pieces: Iterator[BytesLike]) -> Iterator[tuple[BytesLike, bool]]:
    """Pair each piece with whether it is the last; an empty stream gives one empty piece."""
    previous: BytesLike | None = None
    for piece in pieces:
        if previous is not None:
            yield previous, False
        previous = piece
    yield (b"" if previous is None else previous), True


def fragment(
    context_id: int,
    command: Command,
    data_set: DataSetSource | None = None,
    *,
    max_pdu_length: int,
) -> Iterator[PDataTF]:
    """The P-DATA-TF PDUs that carry one DIMSE message, produced lazily.

    Parameters
    ----------
    context_id : int
        The accepted presentation context the message travels on.
    command : Command
        The command set; it must announce a data set exactly when one is given.
    data_set : bytes, memoryview, iterable of them, or None
        The encoded data set, whole or as chunks (e.g. read from a file).
    max_pdu_length : int
        The peer's maximum PDU length (0: no limit, capped at
        :data:`UNLIMITED_PDU_CAP`).
    """
    if command.has_data_set != (data_set is not None):
        given = "none was given" if data_set is None else "one was given"
        raise LocalProtocolError(
            f"the command's Command Data Set Type (0000,0800) disagrees: {given}"
        )
    size = fragment_size(max_pdu_length)
    for piece, last in _with_last(_slices(encode_command(command), size)):
        yield _pdu(context_id, _COMMAND | _LAST if last else _COMMAND, piece)
    if data_set is None:
        return
    pieces = (
        _slices(data_set, size)
        if isinstance(data_set, bytes | bytearray | memoryview)
        else _rechunk(data_set, size)
    )
    for piece, last in _with_last(pieces):
        yield _pdu(context_id, _LAST if last else 0, piece)


# ------------------------------------------------------------------ reassembly


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandReceived:
    """A whole command set arrived (its data set, if any, follows as fragments)."""

    context_id: int
    command: Command


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSetFragment:
    """A piece of the data set of the last command received, in order.

    ``data`` is a view into the received PDU: copy it (``bytes(data)``) or
    write it out before the PDU's buffer is released if it must outlive it.
    """

    context_id: int
    data: BytesLike
    is_last: bool

    def __repr__(self) -> str:
        return (
            f"DataSetFragment(context_id={self.context_id}, data=<{len(self.data)} bytes>, "
            f"is_last={self.is_last})"
        )


def _unexpected(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message, abort_reason=AbortReason.UNEXPECTED_PDU_PARAMETER)


class Reassembler:
    """Rebuild DIMSE messages from PDVs, checking PS3.7 6.3 and PS3.8 Annex E.

    Parameters
    ----------
    accepted_contexts : Mapping[int, object]
        The presentation contexts accepted on the association, by ID; a PDV
        on any other context is a protocol error.
    """

    def __init__(self, accepted_contexts: Mapping[int, object]) -> None:
        self._accepted = accepted_contexts
        self._command_parts: list[bytes] = []
        self._command_length = 0
        # The context of the message being received, or None between messages.
        self._context: int | None = None
        self._expect_data_set = False

    @property
    def idle(self) -> bool:
        """True between messages (nothing partly received)."""
        return self._context is None

    def feed(self, pdv: PresentationDataValue) -> CommandReceived | DataSetFragment | None:
        """Take one PDV; return what it completes, or None for a partial command."""
        context_id = pdv.context_id
        if context_id not in self._accepted:
            raise RemoteProtocolError(
                f"PDV on presentation context {context_id}, which was not accepted",
                abort_reason=AbortReason.INVALID_PDU_PARAMETER_VALUE,
            )
        if self._context is not None and context_id != self._context:
            raise _unexpected(
                f"PDV on context {context_id} in the middle of a message "
                f"on context {self._context}"
            )
        if pdv.is_command:
            if self._expect_data_set:
                raise _unexpected("command fragment where the announced data set was expected")
            return self._command_fragment(pdv)
        if not self._expect_data_set:
            raise _unexpected(
                "data set fragment before the command was complete"
                if self._command_parts
                else "data set fragment with no command announcing a data set"
            )
        if pdv.is_last:
            self._context = None
            self._expect_data_set = False
        return DataSetFragment(context_id=context_id, data=pdv.data, is_last=pdv.is_last)

    def _command_fragment(self, pdv: PresentationDataValue) -> CommandReceived | None:
        self._context = pdv.context_id
        self._command_length += len(pdv.data)
        if self._command_length > MAX_COMMAND_LENGTH:
            raise RemoteProtocolError(
                f"command set longer than {MAX_COMMAND_LENGTH} bytes",
                abort_reason=AbortReason.INVALID_PDU_PARAMETER_VALUE,
            )
        self._command_parts.append(bytes(pdv.data))
        if not pdv.is_last:
            return None
        command = decode_command(b"".join(self._command_parts))
        self._command_parts = []
        self._command_length = 0
        if command.has_data_set:
            self._expect_data_set = True
        else:
            self._context = None
        return CommandReceived(context_id=pdv.context_id, command=command)


def join_data_set(fragments: Iterable[DataSetFragment]) -> bytes:
    """The whole data set from its fragments, for when a user wants it in memory.

    Pass the result to :func:`dicomul.decode_dataset` (with the context's
    transfer syntax) for a pydicom Dataset.  Streaming receivers write the
    fragments out one by one instead.
    """
    return b"".join(fragment.data for fragment in fragments)
