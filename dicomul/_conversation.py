"""Decode a captured DICOM conversation: what both sides of one TCP stream said.

A packet analyser (``dicomul dump``, or a user's own) reassembles the TCP
segments of a connection and hands :class:`ConversationDecoder` each side's
bytes in capture order, with their timestamps.  The decoder gives back what
those bytes mean, as frozen events: every PDU (PS3.8 9.3), the association's
negotiation (its presentation contexts and their transfer syntaxes), every
DIMSE command (PS3.7 9.3, 10.3) and the data set that follows it, each
message once whole (its size, transfer syntax, SOP class and instance, its
status and what the status means, the request a response answers), how the
association ended, and a :class:`Finding` wherever the bytes break the rules.
It does no I/O and reads no clock: times are the numbers the caller passes.

Theory of operation
-------------------
*One codec.*  PDUs are decoded by :func:`dicomul.pdu.decode`, PDVs joined
into commands and data sets by :class:`dicomul.Reassembler`, a P-DATA-TF too
long to hold is cut as it arrives by :class:`dicomul.ReceiveBuffer`, and
statuses get their meaning from :func:`dicomul.status_meaning`: the decoder
adds only what an observer needs and a party to the association does not.

*It goes on.*  A party aborts at the first broken PDU; an analyser shows it
and reads on.  Each direction is either in step (the next bytes are taken to
be a PDU header: PS3.8 9.3.1's type, reserved byte and length) or looking
for one.  A header that cannot be one (an unknown type, a length its type
cannot have) gives a finding and starts the search; a PDU whose header is
sound but whose body does not decode is skipped whole, by its length, with a
finding at the offset the codec names.  While searching, a position is taken
for the next PDU only if a whole PDU starts there that decodes under
``strict=True`` (and, for a P-DATA-TF, whose PDVs have odd context IDs and
no reserved control bits set): random bytes pass that test about once in
2**40 positions.  The bytes skipped are reported in one finding.

*Half a conversation.*  A capture may start mid-association (no
A-ASSOCIATE-RQ or -AC: the contexts and their transfer syntaxes are unknown,
said once by a finding; a data set's syntax is then guessed from its first
element header, and said to be guessed), mid-stream (``mid_stream=True``:
both sides start by searching), or lose bytes (:meth:`ConversationDecoder.gap`:
the message the bytes belonged to is reported incomplete, and the side
searches again).  Every :class:`SeenCommand` is followed, sooner or later,
by exactly one :class:`SeenMessage`, ``complete`` or not.

*Bounded.*  A side holds at most one PDU: a control PDU up to
``max_control_length`` bytes, a P-DATA-TF up to ``hold_pdata_up_to``; a
longer P-DATA-TF is handed on in pieces as it arrives (its PDVs are then not
listed, and its PDV-derived events carry the PDU's offset).  Data-set bytes
are passed on as :class:`SeenDataSetBytes`, never gathered.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from enum import Enum
from typing import TypeAlias

from ._buffer import DEFAULT_MAX_CONTROL_PDU_LENGTH, STREAM_PDATA_ABOVE, ReceiveBuffer
from ._command import Command, CommandField
from ._connection import Role
from ._describe import _RESULTS, HEX_DUMP_LIMIT, describe_frame, describe_pdu
from ._dimse import CommandReceived, Reassembler
from ._enums import AbortReason, AbortSource, ContextResult, ItemType, PDUType, reject_reason_name
from ._errors import PDUDecodeError, RemoteProtocolError
from ._record import dataclass
from ._responses import is_final_response
from ._status import status_meaning
from ._syntax import (
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
)
from ._wire import PDU_HEADER, U32, BytesLike
from .pdu import (
    PDU,
    AbortRQ,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    PDataTF,
    PresentationDataValue,
    ReleaseRP,
    ReleaseRQ,
    decode,
    peek_header,
)

__all__ = [
    "ConversationDecoder",
    "ConversationEvent",
    "Ending",
    "Finding",
    "SeenCommand",
    "SeenContext",
    "SeenDataSetBytes",
    "SeenEnd",
    "SeenMessage",
    "SeenNegotiation",
    "SeenPDU",
    "guess_transfer_syntax",
]

#: Fixed length of A-ASSOCIATE-RQ/AC fields after the header (PS3.8 Table 9-11).
_ASSOCIATE_FIXED = 68
#: PDU types whose PDU-length is always 4: A-ASSOCIATE-RJ, A-RELEASE-RQ/RP, A-ABORT.
_FOUR_BYTE_PDUS = frozenset(
    {PDUType.A_ASSOCIATE_RJ, PDUType.A_RELEASE_RQ, PDUType.A_RELEASE_RP, PDUType.A_ABORT}
)
_ASSOCIATE_PDUS = frozenset({PDUType.A_ASSOCIATE_RQ, PDUType.A_ASSOCIATE_AC})
#: Where a search for a PDU looks: a PS3.8 Table 9-1 type, then a zero reserved byte.
_HEADER_START = re.compile(rb"[\x01-\x07]\x00")
#: A PDV item header: Item-length, Presentation-context-ID, Message Control Header.
_PDV_HEADER = 6
#: Message Control Header bits PS3.8 E.2 leaves reserved (must be 0).
_RESERVED_CONTROL_BITS = 0xFC
#: The services whose statuses PS3.4 gives meanings of its own.
_STATUS_SERVICES = {
    CommandField.C_STORE_RQ: "store",
    CommandField.C_FIND_RQ: "find",
    CommandField.C_GET_RQ: "get",
    CommandField.C_MOVE_RQ: "move",
}
#: The value representations of PS3.5 Table 6.2-1, to tell explicit VR bytes.
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI "
    b"UL UN UR US UT UV".split()
)


def _command_name(command_field: int) -> str:
    """``C-STORE-RQ`` for 0x0001 (PS3.7 Table E.1-1); hex for no DIMSE command."""
    try:
        return CommandField(command_field).name.replace("_", "-")
    except ValueError:
        return f"command 0x{command_field:04X}"


def guess_transfer_syntax(data: BytesLike) -> str | None:
    """The uncompressed transfer syntax a data set's first element header
    suggests, for a data set whose context was not captured; None if its
    bytes tell none (fewer than 8, or deflated).

    PS3.5 7.1: an explicit VR element has two letters of a VR after its tag;
    the byte order is the one that makes the first group small and even.

    >>> guess_transfer_syntax(bytes.fromhex("0800 1600") + b"UI" + bytes(2))
    '1.2.840.10008.1.2.1'
    >>> guess_transfer_syntax(bytes.fromhex("0008 0016") + b"UI" + bytes(2))
    '1.2.840.10008.1.2.2'
    >>> guess_transfer_syntax(bytes.fromhex("0800 1600 0400 0000"))
    '1.2.840.10008.1.2'
    """
    if len(data) < 8:
        return None
    little = data[0] | data[1] << 8
    big = data[0] << 8 | data[1]
    group = min(little, big)
    if group % 2 or group < 0x0008:
        return None
    if bytes(data[4:6]) in _VRS:
        return EXPLICIT_VR_LITTLE_ENDIAN if little <= big else EXPLICIT_VR_BIG_ENDIAN
    return IMPLICIT_VR_LITTLE_ENDIAN if little <= big else None


# ---------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenPDU:
    """One PDU, as it was on the wire (PS3.8 9.3)."""

    #: The side that sent it.
    sender: Role
    #: Its first byte's offset in the sender's stream.
    offset: int
    #: When it was whole (a long P-DATA-TF: when its first bytes were in).
    time: float | None
    pdu_type: int
    #: The PDU-length field: the bytes after the six-byte header.
    length: int
    #: The decoded PDU; None for a P-DATA-TF longer than the decoder holds,
    #: whose PDVs are handed on as they arrive.
    pdu: PDU | None
    #: Its first bytes, header included (enough for a hex dump).
    head: bytes

    @property
    def name(self) -> str:
        """``A-ASSOCIATE-RQ``, ``P-DATA-TF``...: PS3.8 Table 9-1's name."""
        try:
            return PDUType(self.pdu_type).name.replace("_", "-")
        except ValueError:
            return f"PDU 0x{self.pdu_type:02X}"

    def describe(self, limit: int | None = HEX_DUMP_LIMIT) -> list[str]:
        """The lines the apps' ``-d`` logs for this PDU (:func:`dicomul.describe_frame`
        and :func:`dicomul.describe_pdu`, the same words)."""
        lines = describe_frame(self.head, limit, size=PDU_HEADER.size + self.length)
        if self.pdu is not None:
            return lines + describe_pdu(self.pdu)
        return [*lines, "PDVs: not listed (a P-DATA-TF this long is decoded as it arrives)"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenContext:
    """A presentation context as negotiated (PS3.8 9.3.2.2, 9.3.3.2)."""

    context_id: int
    #: None if the A-ASSOCIATE-RQ that proposed it was not captured.
    abstract_syntax: str | None
    proposed_transfer_syntaxes: tuple[str, ...]
    #: The A-ASSOCIATE-AC's Result/Reason (:class:`dicomul.ContextResult`).
    result: int
    #: The accepted transfer syntax; None unless accepted.
    transfer_syntax: str | None

    @property
    def accepted(self) -> bool:
        return self.result == ContextResult.ACCEPTANCE

    @property
    def result_meaning(self) -> str:
        """``Accepted``, ``Abstract Syntax Not Supported``... (PS3.8 Table 9-18)."""
        return _RESULTS.get(self.result, f"Result {self.result}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenNegotiation:
    """The acceptor's answer: an A-ASSOCIATE-AC or -RJ, with the request it answers."""

    sender: Role
    offset: int
    time: float | None
    #: The A-ASSOCIATE-RQ, if it was captured.
    request: AssociateRQ | None
    #: When the request was whole, if captured.
    request_time: float | None
    answer: AssociateAC | AssociateRJ
    #: Every context the request proposed or the answer names, by ID order.
    contexts: tuple[SeenContext, ...]

    @property
    def accepted(self) -> bool:
        return isinstance(self.answer, AssociateAC)

    @property
    def setup_time(self) -> float | None:
        """Seconds from the request to the answer, if both times are known."""
        if self.time is None or self.request_time is None:
            return None
        return self.time - self.request_time

    @property
    def rejection(self) -> str | None:
        """For an A-ASSOCIATE-RJ, its result, source and reason (PS3.8 Table 9-21)."""
        if not isinstance(self.answer, AssociateRJ):
            return None
        answer = self.answer
        result = {1: "rejected-permanent", 2: "rejected-transient"}.get(
            answer.result, f"result {answer.result}"
        )
        source = {
            1: "service-user",
            2: "service-provider (ACSE)",
            3: "service-provider (presentation)",
        }.get(answer.source, f"source {answer.source}")
        return f"{result}, {source}, {reject_reason_name(answer.source, answer.reason)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenCommand:
    """A whole DIMSE command set; its data set, if it announces one, follows."""

    sender: Role
    #: The offset of its first PDV item (a long P-DATA-TF's: the PDU's).
    offset: int
    time: float | None
    context_id: int
    command: Command
    #: The context's abstract syntax, if the negotiation was captured.
    abstract_syntax: str | None
    #: The context's accepted transfer syntax, if the negotiation was captured.
    transfer_syntax: str | None

    @property
    def name(self) -> str:
        """``C-ECHO-RQ``, ``C-FIND-RSP``... (PS3.7 Table E.1-1)."""
        return _command_name(self.command.command_field)


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenDataSetBytes:
    """A piece of the data set of the sender's last command, in order.

    ``data`` may be a view into a captured PDU: copy it if it must last.
    """

    sender: Role
    offset: int
    time: float | None
    context_id: int
    data: BytesLike
    is_last: bool

    def __repr__(self) -> str:
        return (
            f"SeenDataSetBytes(sender={self.sender}, offset={self.offset}, "
            f"data=<{len(self.data)} bytes>, is_last={self.is_last})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenMessage:
    """A DIMSE message once whole (or once it can no longer be: ``complete`` False)."""

    sender: Role
    #: The offset of its command's first PDV.
    offset: int
    #: When it was whole (or given up).
    time: float | None
    #: When its first byte came.
    started: float | None
    context_id: int
    command: Command
    #: Bytes of its data set (received so far, if incomplete); None for none.
    data_set_size: int | None
    #: The data set's transfer syntax: the context's, or guessed (below).
    transfer_syntax: str | None
    #: True if the context's syntax is unknown and ``transfer_syntax`` is
    #: :func:`guess_transfer_syntax`'s guess.
    transfer_syntax_guessed: bool
    #: False if the capture lost part of it, or the stream broke or ended in it.
    complete: bool
    #: For a response, the request it answers, if that was captured.
    request: SeenMessage | None

    @property
    def name(self) -> str:
        return _command_name(self.command.command_field)

    @property
    def message_id(self) -> int | None:
        """The request's Message ID, or the one a response or C-CANCEL answers."""
        command = self.command
        return (
            command.message_id
            if command.message_id is not None
            else (command.message_id_being_responded_to)
        )

    @property
    def sop_class_uid(self) -> str | None:
        """The Affected (or Requested) SOP Class UID of the command."""
        return self.command.affected_sop_class_uid or self.command.requested_sop_class_uid

    @property
    def sop_instance_uid(self) -> str | None:
        """The Affected (or Requested) SOP Instance UID of the command."""
        return self.command.affected_sop_instance_uid or self.command.requested_sop_instance_uid

    @property
    def status(self) -> int | None:
        return self.command.status

    @property
    def status_meaning(self) -> str | None:
        """What PS3.7 Annex C, or PS3.4 for the service, says the status means."""
        status = self.command.status
        if status is None:
            return None
        service = _STATUS_SERVICES.get(self.command.command_field & 0x7FFF)  # type: ignore[call-overload]
        return status_meaning(status, service)

    @property
    def latency(self) -> float | None:
        """For a response: seconds since its request was whole, if both times are known."""
        if self.request is None or self.time is None or self.request.time is None:
            return None
        return self.time - self.request.time


class Ending(Enum):
    """How an association ended."""

    #: A-RELEASE-RQ answered by A-RELEASE-RP (PS3.8 7.2).
    RELEASED = "released"
    #: A-ABORT (PS3.8 7.3, 7.4).
    ABORTED = "aborted"
    #: A-ASSOCIATE-RJ (PS3.8 7.1.1.7).
    REJECTED = "rejected"
    #: The stream ended (closed, or the capture stopped) with neither.
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenEnd:
    """The association ended; ``sender`` is the side whose PDU ended it."""

    sender: Role | None
    offset: int | None
    time: float | None
    how: Ending
    #: For an A-ABORT: its source and reason, in words (PS3.8 Table 9-26).
    detail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """Something in the stream that breaks a rule, or that the capture lacks."""

    #: The side whose bytes it is about; None for the conversation as a whole.
    sender: Role | None
    #: Where, in the sender's stream; None if no one place.
    offset: int | None
    time: float | None
    message: str
    #: The first bytes concerned, where there are any (for a hex dump).
    head: bytes = b""


ConversationEvent: TypeAlias = (
    SeenPDU | SeenNegotiation | SeenCommand | SeenDataSetBytes | SeenMessage | SeenEnd | Finding
)


# --------------------------------------------------------------------- decoder


class _EveryContext(Mapping[int, object]):
    """Lets a :class:`Reassembler` take every context: the decoder says itself
    which were not accepted, and decodes them all the same."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: int) -> object:
        return None

    def __iter__(self) -> Iterator[int]:
        return iter(())

    def __len__(self) -> int:
        return 0


_EVERY_CONTEXT = _EveryContext()


@dataclass(slots=True)
class _Message:
    """A message whose command came and whose data set is arriving."""

    command: SeenCommand
    started: float | None
    size: int = 0
    transfer_syntax: str | None = None
    guessed: bool = False


@dataclass(slots=True)
class _Long:
    """A P-DATA-TF too long to hold, handed on as it arrives."""

    offset: int
    left: int
    pieces: ReceiveBuffer


class _Side:
    """What the decoder knows of one direction."""

    def __init__(self, sender: Role, *, in_step: bool) -> None:
        self.sender = sender
        self.buffer = bytearray()
        #: Stream offset of buffer[0].
        self.start = 0
        self.in_step = in_step
        #: True when a search found the PDU heading the buffer whole and sound.
        self.vetted = False
        #: Searching: where the bytes being skipped began (None: none yet),
        #: and the index in ``buffer`` to search from.
        self.lost_at: int | None = None
        self.search_from = 0
        #: Searching: positions in ``buffer`` that may start a PDU not yet whole.
        self.waiting: list[int] = []
        self.long: _Long | None = None
        self.reassembler = Reassembler(_EVERY_CONTEXT)
        #: Offset and time of the first PDV of the command being joined.
        self.command_offset = 0
        self.command_started: float | None = None
        self.message: _Message | None = None
        #: Skipping data-set PDVs whose command was lost, up to the last one.
        self.orphaned = False
        #: This side's requests not finally answered yet, by Message ID.
        self.outstanding: dict[int, SeenMessage] = {}
        self.time: float | None = None
        self.unaccepted_noted: set[int] = set()
        self.too_long_noted = False

    @property
    def end(self) -> int:
        """The offset just past the bytes received so far."""
        return self.start + len(self.buffer)

    def take(self, size: int) -> bytes:
        with memoryview(self.buffer) as view:
            taken = bytes(view[:size])
        del self.buffer[:size]
        self.start += size
        return taken


class ConversationDecoder:
    """Decode both directions of one captured DICOM TCP stream.

    Parameters
    ----------
    mid_stream : bool
        True if the capture may start in the middle of a PDU (the TCP
        connection's start was not captured): each side then looks for its
        first whole PDU instead of taking its first bytes as one.
    hold_pdata_up_to : int
        Largest P-DATA-TF held whole and listed PDV by PDV; a longer one is
        handed on as it arrives.
    max_control_length : int
        Largest PDU-length taken for an A-ASSOCIATE-RQ or -AC.

    Examples
    --------
    >>> from dicomul import Role, pdu
    >>> decoder = ConversationDecoder()
    >>> events = decoder.feed(Role.REQUESTOR, pdu.encode(pdu.ReleaseRQ()), time=1.0)
    >>> [(type(e).__name__, e.offset) for e in events]
    [('SeenPDU', 0)]
    >>> events = decoder.feed(Role.ACCEPTOR, b"\\x06\\x00\\x00\\x00\\x00\\x04" + bytes(4), 1.5)
    >>> [type(e).__name__ for e in events]
    ['SeenPDU', 'SeenEnd']
    >>> events[1].how
    <Ending.RELEASED: 'released'>
    """

    def __init__(
        self,
        *,
        mid_stream: bool = False,
        hold_pdata_up_to: int = STREAM_PDATA_ABOVE,
        max_control_length: int = DEFAULT_MAX_CONTROL_PDU_LENGTH,
    ) -> None:
        self.hold_pdata_up_to = max(hold_pdata_up_to, HEX_DUMP_LIMIT)
        self.max_control_length = max_control_length
        self._sides = {role: _Side(role, in_step=not mid_stream) for role in Role}
        #: The A-ASSOCIATE-RQ, once seen, and when.
        self.request: AssociateRQ | None = None
        self._request_time: float | None = None
        self._acceptance: AssociateAC | None = None
        #: The negotiated contexts by ID, once the A-ASSOCIATE-AC is seen.
        self.contexts: dict[int, SeenContext] | None = None
        #: How the association ended, once it has.
        self.ending: Ending | None = None
        self._release_requested = False
        self._unknown_noted = False
        self._closed = False

    # ------------------------------------------------------------ inputs

    def feed(
        self, sender: Role, data: BytesLike | bytearray, time: float | None = None
    ) -> list[ConversationEvent]:
        """Take the next bytes ``sender`` sent; return what they complete."""
        side = self._sides[sender]
        events: list[ConversationEvent] = []
        if self._closed or not data:
            return events
        side.buffer += data
        side.time = time
        self._advance(side, events)
        return events

    def gap(
        self, sender: Role, size: int | None = None, time: float | None = None
    ) -> list[ConversationEvent]:
        """Say that ``size`` bytes ``sender`` sent next are missing from the
        capture (None: an unknown number); the side then looks for its next
        whole PDU."""
        side = self._sides[sender]
        events: list[ConversationEvent] = []
        if self._closed:
            return events
        side.time = time
        at = side.end
        how_many = "bytes" if size is None else f"{size} bytes"
        pending = ""
        if side.long is not None:
            pending = f": the P-DATA-TF at byte {side.long.offset} is cut"
        elif side.in_step and side.buffer:
            pending = f": the PDU at byte {side.start} is cut"
        self._find(events, side, at, f"{how_many} missing from the capture at byte {at}{pending}")
        self._give_up_message(side, events, at, orphan=True)
        side.long = None
        side.buffer.clear()
        side.start = at + (size or 0)
        self._start_search(side, side.start, skip=0)
        return events

    def close(self, time: float | None = None) -> list[ConversationEvent]:
        """The stream (or the capture) ended: report what it left unfinished."""
        events: list[ConversationEvent] = []
        if self._closed:
            return events
        for side in self._sides.values():
            side.time = time if time is not None else side.time
            self._drain(side, events)
            self._give_up_message(side, events, side.end, orphan=False)
            side.buffer.clear()
            for message_id, request in side.outstanding.items():
                self._find(
                    events,
                    side,
                    request.offset,
                    f"{request.name} (MsgID {message_id}) got no final response",
                )
            side.outstanding.clear()
        if self.ending is None:
            self.ending = Ending.CLOSED
            events.append(SeenEnd(sender=None, offset=None, time=time, how=Ending.CLOSED))
        self._closed = True
        return events

    def _drain(self, side: _Side, events: list[ConversationEvent]) -> None:
        """No more bytes will come to ``side``: decode what it holds."""
        cut_at: int | None = None  # a PDU cut short, already reported
        while True:
            long = side.long
            if long is not None:
                self._find(
                    events,
                    side,
                    long.offset,
                    f"the stream ends within the P-DATA-TF at byte {long.offset} "
                    f"({long.left} of its bytes never came)",
                )
                side.long = None
                return
            if side.in_step:
                if not side.buffer:
                    return
                header = peek_header(bytes(side.buffer[: PDU_HEADER.size]))
                whole = "" if header is None else f" of {PDU_HEADER.size + header[1]}"
                self._find(
                    events,
                    side,
                    side.start,
                    f"the stream ends within the PDU at byte {side.start} "
                    f"({len(side.buffer)}{whole} bytes came)",
                    bytes(side.buffer[:HEX_DUMP_LIMIT]),
                )
                # Its header may have been no header: what follows may hold PDUs.
                cut_at = side.start
                self._start_search(side, side.start, skip=1)
                continue
            if self._search(side, events, final=True):
                self._advance(side, events)
                continue
            if side.lost_at is not None and cut_at != side.lost_at < side.start:
                message = self._skipped_message(side, side.start, "the stream ended")
                self._find(events, side, side.lost_at, message)
            side.lost_at = None
            side.buffer.clear()
            return

    # ------------------------------------------------------------ framing

    def _advance(self, side: _Side, events: list[ConversationEvent]) -> None:
        while True:
            if side.long is not None:
                if not self._long_piece(side, events):
                    return
            elif not side.in_step:
                if not self._search(side, events):
                    return
            elif not self._next_pdu(side, events):
                return

    def _next_pdu(self, side: _Side, events: list[ConversationEvent]) -> bool:
        """Take the PDU at the head of an in-step side; False until it is in."""
        header = peek_header(bytes(side.buffer[: PDU_HEADER.size]))
        if header is None:
            return False
        pdu_type, length = header
        offset = side.start
        vetted, side.vetted = side.vetted, False
        problem = None if vetted else self._header_problem(pdu_type, length)
        skip = 1
        if problem is None and pdu_type == PDUType.P_DATA_TF and not vetted:
            if len(side.buffer) < PDU_HEADER.size + _PDV_HEADER:
                return False
            problem = self._pdata_problem(side, length)
            limit = self._max_length(_other(side.sender))
            if problem is None and limit and length > limit:
                # Longer than its receiver announced: taken only if a search
                # finds it whole and sound (the length finding says the rest).
                self._start_search(side, offset, skip=0)
                return True
        elif problem is None and pdu_type in _ASSOCIATE_PDUS and not vetted:
            if len(side.buffer) < PDU_HEADER.size + _ASSOCIATE_FIXED + 1:
                return False
            problem = self._associate_problem(side)
        if problem is not None:
            self._find(
                events,
                side,
                offset,
                f"no PDU header at byte {offset} ({problem}): looking for the next PDU",
                bytes(side.buffer[:HEX_DUMP_LIMIT]),
            )
            self._start_search(side, offset, skip=skip)
            return True
        size = PDU_HEADER.size + length
        if pdu_type == PDUType.P_DATA_TF and length > self.hold_pdata_up_to:
            if len(side.buffer) < HEX_DUMP_LIMIT:
                return False
            head = bytes(side.buffer[:HEX_DUMP_LIMIT])
            events.append(
                SeenPDU(
                    sender=side.sender,
                    offset=offset,
                    time=side.time,
                    pdu_type=pdu_type,
                    length=length,
                    pdu=None,
                    head=head,
                )
            )
            self._check_length(side, length, offset, events)
            pieces = ReceiveBuffer(
                max_pdata_length=None,
                max_control_length=None,
                stream_pdata_above=self.hold_pdata_up_to,
            )
            side.long = _Long(offset=offset, left=size, pieces=pieces)
            return True
        if len(side.buffer) < size:
            return False
        with memoryview(side.buffer) as view:
            frame = bytes(view[:size])
        try:
            pdu = decode(frame)
        except PDUDecodeError as exc:
            # Sound header, broken body: more often framing lost (bytes the
            # capture missed) than a peer's bad PDU, so look for the next PDU
            # from the next byte rather than trust the length.
            self._find(
                events,
                side,
                offset + exc.offset,
                f"the {_pdu_name(pdu_type)} at byte {offset} does not decode: {exc}",
                frame[:HEX_DUMP_LIMIT],
            )
            self._start_search(side, offset, skip=1)
            return True
        del side.buffer[:size]
        side.start += size
        self._take_pdu(side, pdu, offset, frame, events)
        return True

    def _header_problem(self, pdu_type: int, length: int) -> str | None:
        """Why a header cannot start a PDU, for a side in step; None if it can."""
        if pdu_type not in PDUType._value2member_map_:
            return f"type 0x{pdu_type:02X} is no PDU type of PS3.8 Table 9-1"
        if pdu_type in _FOUR_BYTE_PDUS:
            if length != 4:
                return f"a {_pdu_name(pdu_type)} is 4 bytes long, not {length}"
        elif pdu_type == PDUType.P_DATA_TF:
            if length < _PDV_HEADER:
                return f"a P-DATA-TF of {length} bytes holds no PDV"
        elif not _ASSOCIATE_FIXED <= length <= self.max_control_length:
            return (
                f"an {_pdu_name(pdu_type)} of {length} bytes: not {_ASSOCIATE_FIXED} to "
                f"{self.max_control_length}"
            )
        return None

    def _associate_problem(self, side: _Side) -> str | None:
        """Why the A-ASSOCIATE header heading an in-step side cannot be one:
        no protocol version 1 (bytes 7-8), or no Application Context Item
        (10H) first (byte 75; PS3.8 Tables 9-11, 9-17)."""
        head = side.buffer
        if head[6:8] != b"\x00\x01":
            return f"protocol version 0x{head[6]:02X}{head[7]:02X}, not 1"
        if head[74] != ItemType.APPLICATION_CONTEXT:
            return f"item 0x{head[74]:02X} where the Application Context Item (10H) must be"
        return None

    def _pdata_problem(self, side: _Side, length: int) -> str | None:
        """Why the P-DATA-TF header heading an in-step side cannot be one: its
        first PDV item cannot be (PS3.8 9.3.5, E.2); None if it can be."""
        (item_length,) = U32.unpack_from(side.buffer, PDU_HEADER.size)
        context_id, control = side.buffer[10], side.buffer[11]
        if not 2 <= item_length <= length - 4:
            return f"a P-DATA-TF of {length} bytes whose first PDV item claims {item_length}"
        if context_id % 2 == 0 or control & _RESERVED_CONTROL_BITS:
            return (
                f"a P-DATA-TF whose first PDV has context ID {context_id} and "
                f"control header 0x{control:02X}"
            )
        return None

    def _long_piece(self, side: _Side, events: list[ConversationEvent]) -> bool:
        """Hand on what has arrived of a long P-DATA-TF; False until more comes."""
        long = side.long
        assert long is not None
        take = min(long.left, len(side.buffer))
        if take:
            long.pieces.feed(side.take(take))
            long.left -= take
        try:
            while (piece := long.pieces.next_pdu()) is not None:
                assert isinstance(piece, PDataTF)
                for pdv in piece.pdvs:
                    self._pdv(side, pdv, long.offset, events)
        except PDUDecodeError as exc:
            self._find(
                events,
                side,
                long.offset + exc.offset,
                f"the P-DATA-TF at byte {long.offset} breaks off: {exc}",
            )
            side.long = None
            self._give_up_message(side, events, long.offset, orphan=True)
            self._start_search(side, side.start, skip=0)
            return True
        if long.left:
            return False
        side.long = None
        return True

    def _search(
        self, side: _Side, events: list[ConversationEvent], *, final: bool = False
    ) -> bool:
        """Look for the next whole PDU; True once one heads the buffer.

        The earliest position where a whole PDU decodes strictly wins, even
        past a position still waiting for the rest of a PDU it might start:
        bytes that look like a header with a plausible length are far more
        common inside data than a whole sound PDU is.  ``final``: no more
        bytes will come, so nothing waits.
        """
        buffer = side.buffer
        waiting: list[int] = []
        found: int | None = None
        for at in side.waiting:
            verdict = self._candidate(buffer, at)
            if verdict:
                found = at
                break
            if verdict is None and not final:
                waiting.append(at)
        if found is None:
            for match in _HEADER_START.finditer(buffer, side.search_from):
                verdict = self._candidate(buffer, match.start())
                if verdict:
                    found = match.start()
                    break
                if verdict is None and not final:
                    waiting.append(match.start())
        if found is None:
            # Keep what may yet start a PDU: the first waiting position, or
            # the last byte (a header's first byte).
            keep_from = waiting[0] if waiting else max(len(buffer) - 1, 0)
            if final:
                keep_from = len(buffer)
            self._skip(side, keep_from)
            side.waiting = [at - keep_from for at in waiting]
            side.search_from = max(len(buffer) - 1, 0)
            return False
        self._skip(side, found)
        if side.lost_at is not None and side.lost_at < side.start:
            self._find(
                events,
                side,
                side.lost_at,
                self._skipped_message(side, side.start, f"a {_pdu_name(buffer[0])} follows"),
            )
        side.in_step = True
        side.vetted = True  # whole, and decodes strictly: taken as it is
        side.lost_at = None
        side.search_from = 0
        side.waiting = []
        return True

    def _candidate(self, buffer: bytearray, at: int) -> bool | None:
        """Whether a whole PDU that decodes strictly starts at ``at``; None
        until enough bytes are in to say."""
        if len(buffer) - at < PDU_HEADER.size:
            return None
        pdu_type, _, length = PDU_HEADER.unpack_from(buffer, at)
        if pdu_type in _FOUR_BYTE_PDUS:
            if length != 4:
                return False
        elif pdu_type == PDUType.P_DATA_TF:
            if not _PDV_HEADER <= length <= self.hold_pdata_up_to:
                return False
            if len(buffer) - at < PDU_HEADER.size + _PDV_HEADER:
                return None
            (item_length,) = U32.unpack_from(buffer, at + PDU_HEADER.size)
            context_id, control = buffer[at + 10], buffer[at + 11]
            if (
                item_length < 2
                or item_length + 4 > length
                or context_id % 2 == 0
                or control & _RESERVED_CONTROL_BITS
            ):
                return False
        else:
            if not _ASSOCIATE_FIXED <= length <= self.max_control_length:
                return False
            # Protocol-version 1, reserved bytes 9-10 zero, then the
            # Application Context Item (10H) and its reserved byte (PS3.8
            # Tables 9-11, 9-12): checked before waiting for the whole PDU.
            if len(buffer) - at < 76:
                return None
            if buffer[at + 6 : at + 10] != b"\x00\x01\x00\x00" or buffer[at + 74 : at + 76] != (
                b"\x10\x00"
            ):
                return False
        size = PDU_HEADER.size + length
        if len(buffer) - at < size:
            return None
        with memoryview(buffer) as view:
            frame = bytes(view[at : at + size])
        try:
            pdu = decode(frame, strict=True)
        except PDUDecodeError:
            return False
        if isinstance(pdu, PDataTF):
            return not any(pdv.control_header & _RESERVED_CONTROL_BITS for pdv in pdu.pdvs)
        if isinstance(pdu, ReleaseRQ | ReleaseRP):
            return pdu.reserved_7_10 == 0
        return True

    def _start_search(self, side: _Side, lost_at: int, *, skip: int) -> None:
        """Put a side to searching, from ``skip`` bytes into its buffer."""
        side.in_step = False
        if side.lost_at is None:
            side.lost_at = lost_at
        side.search_from = skip
        side.waiting = []

    def _skip(self, side: _Side, size: int) -> None:
        """Drop ``size`` bytes from the head of a searching side."""
        if size:
            if side.lost_at is None:
                side.lost_at = side.start
            del side.buffer[:size]
            side.start += size

    def _skipped_message(self, side: _Side, up_to: int, then: str) -> str:
        start = side.lost_at if side.lost_at is not None else side.start
        return f"bytes {start} to {up_to - 1} ({up_to - start} bytes) are no PDU: skipped; {then}"

    # ------------------------------------------------------------ PDUs

    def _take_pdu(
        self,
        side: _Side,
        pdu: PDU,
        offset: int,
        frame: bytes,
        events: list[ConversationEvent],
    ) -> None:
        sender = side.sender
        events.append(
            SeenPDU(
                sender=sender,
                offset=offset,
                time=side.time,
                pdu_type=frame[0],
                length=len(frame) - PDU_HEADER.size,
                pdu=pdu,
                head=frame[:HEX_DUMP_LIMIT],
            )
        )
        if isinstance(pdu, PDataTF):
            self._data(side, pdu, offset, len(frame) - PDU_HEADER.size, events)
        elif isinstance(pdu, AssociateRQ):
            if sender is not Role.REQUESTOR:
                self._find(events, side, offset, "an A-ASSOCIATE-RQ from the acceptor's side")
            if self.request is not None:
                self._find(events, side, offset, "a second A-ASSOCIATE-RQ on one connection")
            self.request, self._request_time = pdu, side.time
        elif isinstance(pdu, AssociateAC | AssociateRJ):
            if sender is not Role.ACCEPTOR:
                self._find(
                    events, side, offset, f"an {_pdu_name(frame[0])} from the requestor's side"
                )
            self._negotiated(side, pdu, offset, events)
        elif isinstance(pdu, ReleaseRQ):
            self._release_requested = True
        elif isinstance(pdu, ReleaseRP):
            if not self._release_requested:
                self._find(events, side, offset, "an A-RELEASE-RP with no A-RELEASE-RQ before it")
            self._end(events, side, offset, Ending.RELEASED)
        elif isinstance(pdu, AbortRQ):
            source = {0: "service-user", 2: "service-provider"}.get(
                pdu.source, f"reserved source {pdu.source}"
            )
            detail = source
            if pdu.source == AbortSource.SERVICE_PROVIDER:
                # Named from the value: compiled by mypyc, an int field holds
                # a plain int, never the enum member the decoder gave it.
                named = AbortReason._value2member_map_.get(pdu.reason)
                reason = str(pdu.reason) if named is None else named.name
                detail += f", {reason.lower().replace('_', '-')}"
            for each in self._sides.values():
                self._give_up_message(each, events, each.end, orphan=False)
            self._end(events, side, offset, Ending.ABORTED, detail)

    def _end(
        self,
        events: list[ConversationEvent],
        side: _Side,
        offset: int,
        how: Ending,
        detail: str | None = None,
    ) -> None:
        if self.ending is None:
            self.ending = how
            events.append(
                SeenEnd(sender=side.sender, offset=offset, time=side.time, how=how, detail=detail)
            )

    def _negotiated(
        self,
        side: _Side,
        answer: AssociateAC | AssociateRJ,
        offset: int,
        events: list[ConversationEvent],
    ) -> None:
        proposed = {
            pc.context_id: (pc.abstract_syntax_uid, tuple(pc.transfer_syntax_uids))
            for pc in (self.request.presentation_contexts if self.request else ())
        }
        contexts: dict[int, SeenContext] = {}
        if isinstance(answer, AssociateAC):
            for ac in answer.presentation_contexts:
                abstract, syntaxes = proposed.get(ac.context_id, (None, ()))
                accepted = ac.result == ContextResult.ACCEPTANCE
                contexts[ac.context_id] = SeenContext(
                    context_id=ac.context_id,
                    abstract_syntax=abstract,
                    proposed_transfer_syntaxes=syntaxes,
                    result=ac.result,
                    transfer_syntax=ac.transfer_syntax_uid if accepted else None,
                )
            self.contexts = contexts
            self._acceptance = answer
        events.append(
            SeenNegotiation(
                sender=side.sender,
                offset=offset,
                time=side.time,
                request=self.request,
                request_time=self._request_time,
                answer=answer,
                contexts=tuple(contexts[key] for key in sorted(contexts)),
            )
        )
        if isinstance(answer, AssociateRJ):
            self._end(events, side, offset, Ending.REJECTED)

    def _max_length(self, receiver: Role) -> int | None:
        """The maximum length ``receiver`` announced (PS3.8 D.1), if captured."""
        pdu = self.request if receiver is Role.REQUESTOR else self._acceptance
        info = pdu.user_information if pdu is not None else None
        return info.maximum_length if info is not None else None

    def _check_length(
        self, side: _Side, length: int, offset: int, events: list[ConversationEvent]
    ) -> None:
        receiver = _other(side.sender)
        limit = self._max_length(receiver)
        if limit and length > limit and not side.too_long_noted:
            side.too_long_noted = True
            self._find(
                events,
                side,
                offset,
                f"a P-DATA-TF of {length} bytes, longer than the maximum length {limit} "
                f"the {receiver.value} announced (PS3.8 D.1)",
            )

    def _data(
        self,
        side: _Side,
        pdu: PDataTF,
        offset: int,
        length: int,
        events: list[ConversationEvent],
    ) -> None:
        if self.contexts is None and not self._unknown_noted:
            self._unknown_noted = True
            self._find(
                events,
                side,
                offset,
                "no A-ASSOCIATE-AC before this P-DATA-TF (the capture starts mid-association): "
                "the presentation contexts, their transfer syntaxes and the maximum PDU "
                "lengths are unknown",
            )
        if self.ending is not None:
            self._find(
                events, side, offset, f"a P-DATA-TF after the association was {self.ending.value}"
            )
        self._check_length(side, length, offset, events)
        at = offset + PDU_HEADER.size
        for pdv in pdu.pdvs:
            self._pdv(side, pdv, at, events)
            at += _PDV_HEADER + len(pdv.data)

    # ------------------------------------------------------------ DIMSE

    def _pdv(
        self,
        side: _Side,
        pdv: PresentationDataValue,
        offset: int,
        events: list[ConversationEvent],
    ) -> None:
        context_id = pdv.context_id
        contexts = self.contexts
        if contexts is not None and context_id not in side.unaccepted_noted:
            context = contexts.get(context_id)
            if context is None or not context.accepted:
                side.unaccepted_noted.add(context_id)
                self._find(
                    events,
                    side,
                    offset,
                    f"a PDV on presentation context {context_id}, which the A-ASSOCIATE-AC "
                    "did not accept (PS3.8 9.3.5)",
                )
        if side.orphaned:
            if not pdv.is_command:
                side.orphaned = not pdv.is_last
                return
            side.orphaned = False
        fresh = side.reassembler.idle
        if fresh:
            side.command_offset, side.command_started = offset, side.time
        try:
            result = side.reassembler.feed(pdv)
        except RemoteProtocolError as exc:
            self._find(events, side, offset, f"{exc} (PDV at byte {offset})")
            self._give_up_message(side, events, offset, orphan=False)
            if pdv.is_command and not fresh:
                self._pdv(side, pdv, offset, events)  # it may start the next message
            else:
                side.orphaned = not pdv.is_last
            return
        if result is None:
            return
        if isinstance(result, CommandReceived):
            self._command(side, result, events)
            return
        message = side.message
        assert message is not None
        data = result.data
        if message.size == 0 and message.transfer_syntax is None:
            message.transfer_syntax = guess_transfer_syntax(data)
            message.guessed = message.transfer_syntax is not None
        message.size += len(data)
        events.append(
            SeenDataSetBytes(
                sender=side.sender,
                offset=offset + _PDV_HEADER,
                time=side.time,
                context_id=context_id,
                data=data,
                is_last=result.is_last,
            )
        )
        if result.is_last:
            side.message = None
            self._message(side, message.command, message, complete=True, events=events)

    def _command(
        self, side: _Side, received: CommandReceived, events: list[ConversationEvent]
    ) -> None:
        context = (self.contexts or {}).get(received.context_id)
        seen = SeenCommand(
            sender=side.sender,
            offset=side.command_offset,
            time=side.time,
            context_id=received.context_id,
            command=received.command,
            abstract_syntax=context.abstract_syntax if context else None,
            transfer_syntax=context.transfer_syntax if context else None,
        )
        events.append(seen)
        if received.command.has_data_set:
            side.message = _Message(
                command=seen, started=side.command_started, transfer_syntax=seen.transfer_syntax
            )
        else:
            self._message(side, seen, None, complete=True, events=events)

    def _message(
        self,
        side: _Side,
        seen: SeenCommand,
        data: _Message | None,
        *,
        complete: bool,
        events: list[ConversationEvent],
    ) -> None:
        command = seen.command
        request: SeenMessage | None = None
        other = self._sides[_other(side.sender)]
        responded = command.message_id_being_responded_to
        if command.is_response and responded is not None:
            request = other.outstanding.get(responded)
            if request is not None and is_final_response(command):
                del other.outstanding[responded]
        message = SeenMessage(
            sender=side.sender,
            offset=seen.offset,
            time=side.time,
            started=data.started if data is not None else side.command_started,
            context_id=seen.context_id,
            command=command,
            data_set_size=data.size if data is not None else None,
            transfer_syntax=data.transfer_syntax if data is not None else None,
            transfer_syntax_guessed=data.guessed if data is not None else False,
            complete=complete,
            request=request,
        )
        events.append(message)
        if (
            complete
            and not command.is_response
            and command.command_field != CommandField.C_CANCEL_RQ
            and command.message_id is not None
        ):
            side.outstanding[command.message_id] = message

    def _give_up_message(
        self, side: _Side, events: list[ConversationEvent], offset: int, *, orphan: bool
    ) -> None:
        """The message a side was sending can no longer be whole: report it
        incomplete, and start joining afresh."""
        message = side.message
        if message is not None:
            side.message = None
            self._find(
                events,
                side,
                offset,
                f"{message.command.name} (MsgID {_message_id(message.command.command)}) "
                f"is incomplete: {message.size} bytes of its data set came",
            )
            self._message(side, message.command, message, complete=False, events=events)
            side.orphaned = orphan
        side.reassembler = Reassembler(_EVERY_CONTEXT)

    # ------------------------------------------------------------ findings

    def _find(
        self,
        events: list[ConversationEvent],
        side: _Side,
        offset: int | None,
        message: str,
        head: bytes = b"",
    ) -> None:
        events.append(
            Finding(sender=side.sender, offset=offset, time=side.time, message=message, head=head)
        )


def _other(role: Role) -> Role:
    return Role.ACCEPTOR if role is Role.REQUESTOR else Role.REQUESTOR


def _message_id(command: Command) -> int | None:
    return (
        command.message_id
        if command.message_id is not None
        else (command.message_id_being_responded_to)
    )


def _pdu_name(pdu_type: int) -> str:
    try:
        return PDUType(pdu_type).name.replace("_", "-")
    except ValueError:
        return f"PDU 0x{pdu_type:02X}"
