"""DIMSE messages over P-DATA-TF: fragmentation and reassembly (PS3.7 6.3, PS3.8 9.3.5, Annex E).

Theory of operation
-------------------
A DIMSE message is a command set and, when the command says so, a data set.
Each travels as a sequence of presentation data values (PDVs) on one
presentation context: the Message Control Header of every PDV says whether it
carries command or data-set bytes and whether it is the last fragment
(PS3.8 Annex E.2).  The command's fragments come first, then the data set's;
fragments of different messages are not interleaved.

:class:`Fragmenter` cuts a message into P-DATA-TF PDUs no larger than the
peer's maximum PDU length as its data set is pushed chunk by chunk (from an
async source, say); :func:`fragment` feeds it a whole data set or an
iterable of chunks.  Data-set bytes are sliced with ``memoryview``; only the
fragment held back at the end of a chunk (it may be the last, which must be
flagged so) is copied.  A data set can be an iterable of chunks
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

from ._command import Command, decode_command, encode_command
from ._enums import AbortReason, MessageControlHeader
from ._errors import LocalProtocolError, RemoteProtocolError
from ._record import dataclass
from ._wire import BytesLike
from .pdu import PDataTF, PresentationDataValue

__all__ = [
    "MAX_COMMAND_LENGTH",
    "join_data_set",
    "UNLIMITED_PDU_CAP",
    "CommandReceived",
    "DataSetFragment",
    "DataSetSource",
    "Fragmenter",
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

# Plain ints: an IntFlag's operators run in Python.
_COMMAND = int(MessageControlHeader.COMMAND)
_LAST = int(MessageControlHeader.LAST)

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


#: One PDV to send: (Message Control Header, the fragment's bytes).
Piece = tuple[int, BytesLike]

# Each class's own allocator, for building without the constructor's
# checks: object.__new__ itself in Python; compiled by mypyc (the optional
# build, bench/README.md), the native class's, which object.__new__ refuses.
_new_pdv = PresentationDataValue.__new__
_new_pdata = PDataTF.__new__
_set = object.__setattr__


def _pdu(context_id: int, control: int, data: BytesLike) -> PDataTF:
    """A P-DATA-TF of one PDV, built without the constructors' checks: the
    context ID is checked once by the Fragmenter, the control header is one
    of the four flag values and the data a bytes or memoryview."""
    pdv = _new_pdv(PresentationDataValue)
    _set(pdv, "context_id", context_id)
    _set(pdv, "control_header", control)
    _set(pdv, "data", data)
    pdata = _new_pdata(PDataTF)
    _set(pdata, "pdvs", (pdv,))
    _set(pdata, "header_reserved", 0)
    return pdata


def _immutable_view(chunk: BytesLike | bytearray) -> memoryview:
    """``chunk`` as a flat memoryview that stays valid: a view of ``bytes``
    as it is, anything else (a bytearray or mmap the caller may refill)
    copied once, so that fragments can be kept as views until they are
    written."""
    view = memoryview(chunk)
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    return view if isinstance(view.obj, bytes) else memoryview(view.tobytes())


class Fragmenter:
    """Cut one DIMSE message into P-DATA-TF PDUs as its data set is pushed.

    The push side of fragmentation (PS3.8 9.3.5, Annex E), for a data set
    that arrives in chunks of any size (read from a file or an async source):
    :meth:`push` gives the PDUs each chunk completes, :meth:`finish` the rest,
    the last data-set fragment flagged "last".  The command's fragments come
    before the first data-set fragment.  A fragment is sent only once the
    bytes that follow it exist (the last one must carry the "last" bit), so
    up to one fragment's worth is held back.  Fragments are ``memoryview``
    slices of the pushed chunks, never copies, when the chunks are ``bytes``
    (immutable); a chunk of any other buffer type (a ``bytearray`` the
    caller refills, say) is copied once when pushed.

    Caller errors raise :class:`~dicomul.LocalProtocolError` and change
    nothing (the message stays open): a chunk for a command that announces
    no data set, a chunk or finish after :meth:`finish`, more bytes than the
    announced ``length``, or :meth:`finish` before ``length`` bytes came.

    >>> from dicomul import c_store_rq
    >>> f = Fragmenter(1, c_store_rq(1, "1.2.840.10008.5.1.4.1.1.2", "1.2.3"),
    ...                max_pdu_length=16)
    >>> [len(p.pdvs[0].data) for p in f.push(b"x" * 25)][-2:]  # the command, then 10 + 10
    [10, 10]
    >>> [(len(p.pdvs[0].data), p.pdvs[0].is_last) for p in f.finish()]
    [(5, True)]
    """

    def __init__(
        self,
        context_id: int,
        command: Command,
        *,
        max_pdu_length: int,
        length: int | None = None,
    ) -> None:
        if not 0 <= context_id <= 0xFF:
            raise LocalProtocolError(f"context_id {context_id} must fit one byte")
        self.context_id = context_id
        self.command = command
        #: The data set's announced length in bytes, checked at finish (None: not known).
        self.length = length
        #: Data-set bytes pushed so far.
        self.pushed = 0
        #: True once :meth:`finish` produced the last fragment.
        self.finished = False
        self._size = fragment_size(max_pdu_length)
        self._command_sent = False
        # Data-set bytes not sent yet (1 to a fragment's worth once any came).
        self._held: list[memoryview] = []
        self._held_length = 0

    @property
    def started(self) -> bool:
        """True once any of the message's PDUs was produced."""
        return self._command_sent

    def push(self, chunk: BytesLike | bytearray) -> Iterator[PDataTF]:
        """The PDUs that ``chunk`` (the next data-set bytes) completes.

        Checks happen at the call, and so does the cutting; the PDU objects
        are made as they are iterated.
        """
        return self._pdus(self.push_pieces(chunk))

    def finish(self) -> Iterator[PDataTF]:
        """The PDUs that end the message: the command's if not yet sent, and
        the data set's last fragment (an empty one for an empty data set)."""
        return self._pdus(self.finish_pieces())

    def _pdus(self, pieces: list[Piece]) -> Iterator[PDataTF]:
        context_id = self.context_id
        for control, data in pieces:
            yield _pdu(context_id, control, data)

    def push_pieces(self, chunk: BytesLike | bytearray) -> list[Piece]:
        """:meth:`push` as (Message Control Header, fragment) pairs, one per
        PDU, for an engine that encodes them itself (no PDU objects)."""
        if self.finished:
            raise LocalProtocolError("the message is finished: no more data set bytes")
        if not self.command.has_data_set:
            raise LocalProtocolError(
                "the command's Command Data Set Type (0000,0800) announces no data set"
            )
        view = _immutable_view(chunk)
        if self.length is not None and self.pushed + len(view) > self.length:
            raise LocalProtocolError(
                f"{self.pushed + len(view)} data set bytes pushed, more than the "
                f"announced {self.length}"
            )
        self.pushed += len(view)
        pieces = self._command_pieces()
        size = self._size
        if self._held_length + len(view) <= size:
            self._hold(view)
            return pieces
        if self._held_length:
            take = size - self._held_length
            pieces.append((0, b"".join((*self._held, view[:take]))))
            self._held, self._held_length = [], 0
            view = view[take:]
        whole = (len(view) - 1) // size * size  # leave 1 to size bytes held back
        pieces.extend((0, view[start : start + size]) for start in range(0, whole, size))
        self._hold(view[whole:])
        return pieces

    def finish_pieces(self) -> list[Piece]:
        """:meth:`finish` as (Message Control Header, fragment) pairs."""
        if self.finished:
            raise LocalProtocolError("the message is already finished")
        if self.length is not None and self.pushed != self.length:
            raise LocalProtocolError(
                f"{self.pushed} data set bytes pushed, fewer than the announced {self.length}"
            )
        self.finished = True
        pieces = self._command_pieces()
        if self.command.has_data_set:
            held, self._held, self._held_length = self._held, [], 0
            pieces.append((_LAST, held[0] if len(held) == 1 else b"".join(held)))
        return pieces

    def _command_pieces(self) -> list[Piece]:
        """The command's fragments, the first time only (a command set is a
        few hundred bytes: one fragment unless the peer's PDUs are tiny)."""
        if self._command_sent:
            return []
        self._command_sent = True
        encoded = encode_command(self.command)
        size = self._size
        if len(encoded) <= size:
            return [(_COMMAND | _LAST, encoded)]
        view = memoryview(encoded)
        starts = range(0, len(view), size)
        return [
            (_COMMAND | _LAST if start == starts[-1] else _COMMAND, view[start : start + size])
            for start in starts
        ]

    def _hold(self, view: memoryview) -> None:
        if len(view):
            self._held.append(view)
            self._held_length += len(view)


def fragment(
    context_id: int,
    command: Command,
    data_set: DataSetSource | None = None,
    *,
    max_pdu_length: int,
) -> Iterator[PDataTF]:
    """The P-DATA-TF PDUs that carry one DIMSE message, produced lazily.

    A :class:`Fragmenter` fed the whole data set (or its chunks in turn), so
    that there is one way to fragment.

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
    check_data_set(command, data_set)
    fragmenter = Fragmenter(context_id, command, max_pdu_length=max_pdu_length)
    return _fragments(fragmenter, data_set)


def check_data_set(command: Command, data_set: object) -> None:
    """Raise LocalProtocolError unless ``command`` announces a data set exactly
    when one is given (Command Data Set Type (0000,0800), PS3.7 E.1)."""
    if command.has_data_set != (data_set is not None):
        given = "none was given" if data_set is None else "one was given"
        raise LocalProtocolError(
            f"the command's Command Data Set Type (0000,0800) disagrees: {given}"
        )


def _fragments(fragmenter: Fragmenter, data_set: DataSetSource | None) -> Iterator[PDataTF]:
    for chunk in chunks_of(data_set):
        yield from fragmenter.push(chunk)
    yield from fragmenter.finish()


def chunks_of(data_set: DataSetSource | None) -> Iterable[BytesLike]:
    """``data_set`` as an iterable of chunks (none for no data set)."""
    if data_set is None:
        return ()
    if isinstance(data_set, bytes | bytearray | memoryview):
        return (data_set,)
    return data_set


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


_new_received = CommandReceived.__new__
_new_fragment = DataSetFragment.__new__


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
        control = pdv.control_header
        if control & _COMMAND:
            if self._expect_data_set:
                raise _unexpected("command fragment where the announced data set was expected")
            return self._command_fragment(pdv)
        if not self._expect_data_set:
            raise _unexpected(
                "data set fragment before the command was complete"
                if self._command_parts
                else "data set fragment with no command announcing a data set"
            )
        is_last = bool(control & _LAST)
        if is_last:
            self._context = None
            self._expect_data_set = False
        # Every field is as read from the PDV: built without the
        # constructor's keyword parsing, once per PDU of every data set.
        fragment = _new_fragment(DataSetFragment)
        _set(fragment, "context_id", context_id)
        _set(fragment, "data", pdv.data)
        _set(fragment, "is_last", is_last)
        return fragment

    def _command_fragment(self, pdv: PresentationDataValue) -> CommandReceived | None:
        context_id = pdv.context_id
        self._context = context_id
        data = pdv.data
        self._command_length += len(data)
        if self._command_length > MAX_COMMAND_LENGTH:
            raise RemoteProtocolError(
                f"command set longer than {MAX_COMMAND_LENGTH} bytes",
                abort_reason=AbortReason.INVALID_PDU_PARAMETER_VALUE,
            )
        if not pdv.control_header & _LAST:
            self._command_parts.append(bytes(data))
            return None
        if self._command_parts:
            self._command_parts.append(bytes(data))
            data = b"".join(self._command_parts)
            self._command_parts = []
        # else the whole command in one PDV (nearly always): decoded as it is
        self._command_length = 0
        command = decode_command(data)
        if command.has_data_set:
            self._expect_data_set = True
        else:
            self._context = None
        # Both fields are known good: built without the keyword parsing.
        received = _new_received(CommandReceived)
        _set(received, "context_id", context_id)
        _set(received, "command", command)
        return received


def join_data_set(fragments: Iterable[DataSetFragment]) -> bytes:
    """The whole data set from its fragments, for when a user wants it in memory.

    Pass the result to :func:`dicomul.decode_dataset` (with the context's
    transfer syntax) for a pydicom Dataset.  Streaming receivers write the
    fragments out one by one instead.
    """
    return b"".join(fragment.data for fragment in fragments)
