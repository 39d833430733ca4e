"""Incremental PDU framer: split a byte stream into whole PDUs, however chunked.

Theory of operation
-------------------
The transport hands over bytes as they arrive; :class:`ReceiveBuffer` keeps
them as a queue of read-only chunks (no copy on :meth:`ReceiveBuffer.feed`
for ``bytes``) and, once the six-byte PDU header of PS3.8 9.3.1 is in, knows
how long the PDU is.  It checks that length against its limits at once, so a
header announcing 4 GiB is refused before one more byte is buffered.  When
the whole PDU is in, :meth:`ReceiveBuffer.next_frame` hands it out: a
zero-copy ``memoryview`` if it sits inside one chunk, else one join of the
chunks.  The Python work per PDU is proportional to the number of reads that
brought it, never to its number of bytes.

A P-DATA-TF may be as long as the maximum length the receiver announced,
and "no maximum" (0, PS3.8 D.1) lets a peer send one of 4 GiB.  Above
``stream_pdata_above`` bytes, :meth:`ReceiveBuffer.next_pdu` does not wait
for such a PDU to be whole: it hands out what has arrived of it as a
P-DATA-TF of its own, each PDV cut where the bytes end (the pieces of a PDV
but its last have the "last fragment" bit cleared, so a reassembler sees the
same command or data set).  For a state machine this is what the peer would
have caused with several smaller P-DATA-TFs (PS3.8 Table 9-10, Evt10), and
memory stays bounded by what one read brings, whatever the PDU's length.
"""

from __future__ import annotations

from collections import deque

from ._enums import MessageControlHeader, PDUType
from ._errors import PDUTooLargeError
from ._wire import PDU_HEADER, U32, BytesLike, fail
from .pdu import PDU, PDataTF, PresentationDataValue, decode, decode_pdata

__all__ = [
    "DEFAULT_MAX_CONTROL_PDU_LENGTH",
    "DEFAULT_MAX_PDATA_LENGTH",
    "READ_INTO_PDU_ABOVE",
    "STREAM_PDATA_ABOVE",
    "ReceiveBuffer",
]

#: Largest P-DATA-TF PDU-length a framer accepts unless told otherwise. The
#: protocol engine sets it from the maximum length it announced (PS3.8 D.1).
DEFAULT_MAX_PDATA_LENGTH = 4 * 1024 * 1024
#: Largest PDU-length accepted for every other PDU type.  An A-ASSOCIATE-RQ
#: with all 128 presentation contexts, each proposing a dozen transfer
#: syntaxes, is about 120 KiB; 1 MiB leaves room for user identity tokens.
DEFAULT_MAX_CONTROL_PDU_LENGTH = 1024 * 1024
#: P-DATA-TFs longer than this are handed out as they arrive by the protocol
#: engine's framer (:class:`dicomul.Connection`), not held until whole: the
#: default maximum, so that a PDU up to it is one event (each piece is an
#: event through the state machine: streaming 1 MiB PDUs in 64 KiB pieces
#: cost a tenth of the C-STORE throughput) and none longer is held.
STREAM_PDATA_ABOVE = DEFAULT_MAX_PDATA_LENGTH
#: A PDU with more than this many bytes still to come is read straight into
#: a buffer of its own size (:meth:`ReceiveBuffer.pdu_buffer`), so that its
#: bytes are never copied out of reads and joined.
READ_INTO_PDU_ABOVE = 64 * 1024
#: The PDV item header: Item-length (4 bytes), context ID, control header.
_PDV_HEADER = 6
_NOT_LAST = ~int(MessageControlHeader.LAST) & 0xFF


class ReceiveBuffer:
    """Frame a DICOM UL byte stream into PDUs.

    Parameters
    ----------
    max_pdata_length : int or None
        Largest PDU-length accepted for a P-DATA-TF; None accepts any (up to
        the 4 GiB the header can express).
    max_control_length : int or None
        Largest PDU-length accepted for any other PDU type.
    strict : bool
        Passed to :func:`dicomul.pdu.decode` by :meth:`next_pdu`.
    stream_pdata_above : int or None
        A P-DATA-TF longer than this is handed out by :meth:`next_pdu` in
        pieces as it arrives (see the module's notes); None waits for every
        PDU to be whole.

    Examples
    --------
    >>> buf = ReceiveBuffer()
    >>> buf.feed(bytes.fromhex("0500000000"))
    >>> buf.next_pdu() is None
    True
    >>> buf.feed(bytes.fromhex("0400000000"))
    >>> buf.next_pdu()
    ReleaseRQ(header_reserved=0, reserved_7_10=0)
    """

    def __init__(
        self,
        *,
        max_pdata_length: int | None = DEFAULT_MAX_PDATA_LENGTH,
        max_control_length: int | None = DEFAULT_MAX_CONTROL_PDU_LENGTH,
        strict: bool = False,
        stream_pdata_above: int | None = None,
    ) -> None:
        self.max_pdata_length = max_pdata_length
        self.max_control_length = max_control_length
        self.strict = strict
        self.stream_pdata_above = stream_pdata_above
        # A long P-DATA-TF being handed out in pieces: the bytes of it still
        # to come (its PDU offset follows from it), and the PDV being cut:
        # its bytes still to come, context ID and control header.
        self._stream_left = 0
        self._stream_length = 0
        self._pdv_left = 0
        self._pdv_context = 0
        self._pdv_control = 0
        self._chunks: deque[memoryview] = deque()
        self._size = 0
        # Whole length (header included) and type of the PDU being received,
        # once known.
        self._frame_size: int | None = None
        self._frame_type = 0
        # Set once a header was refused: the stream cannot be resynchronised.
        self._broken = False
        # pdu_buffer: the PDU being read into a buffer of its own size, and
        # how much of it is in (the PDU's first bytes, moved there once).
        self._pdu: bytearray | None = None
        self._filled = 0

    def __len__(self) -> int:
        """Number of bytes buffered and not yet handed out."""
        return self._size

    def feed(self, data: BytesLike | bytearray) -> None:
        """Append received bytes.

        ``bytes`` are kept without a copy; a ``bytearray`` or ``memoryview``
        (which the caller may reuse for the next read) is copied first.
        """
        if not data or self._broken:
            return
        if self._pdu is not None:  # a PDU being read in place (pdu_buffer) comes first
            view = memoryview(data).cast("B")
            taken = min(len(self._pdu) - self._filled, len(view))
            self._pdu[self._filled : self._filled + taken] = view[:taken]
            self._pdu_filled(taken)
            data = view[taken:]
            if not data:
                return
        view = memoryview(data if isinstance(data, bytes) else bytes(data))
        self._chunks.append(view)
        self._size += len(view)

    def pdu_buffer(self, max_size: int = 65536) -> memoryview | None:
        """Where the next bytes of the PDU being received go, to read them
        into (``socket.recv_into``) instead of feeding them; or None: read
        and :meth:`feed` as usual.

        Once a PDU's header is in (:meth:`next_pdu` returned None for it)
        and more than :data:`READ_INTO_PDU_ABOVE` bytes of it are still to
        come, its bytes go to a buffer of its own size (what had come of it
        moved there once), the PDU is decoded where it lies, and its bytes
        are never copied out of reads and joined.  The view is of at most
        ``max_size`` bytes (reads of a usual size: one of a whole MiB was
        measured slower, bench/README.md); say how many were read into it
        with :meth:`buffer_updated` before anything else.  For smaller PDUs
        ``recv()`` is better: its ``bytes`` are kept as they are, while a
        reused buffer would have to be copied.
        """
        if (
            self._pdu is None
            and self._frame_size is not None
            and self._frame_size - self._size > READ_INTO_PDU_ABOVE
        ):
            # Every byte buffered is the PDU's (it starts the buffer, and is
            # not whole): move them into a buffer of its size.
            pdu = bytearray(self._frame_size)
            filled = 0
            for chunk in self._chunks:
                pdu[filled : filled + len(chunk)] = chunk
                filled += len(chunk)
            self._chunks.clear()
            self._pdu, self._filled = pdu, filled
        if self._pdu is None:
            return None
        return memoryview(self._pdu)[self._filled : self._filled + max_size]

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` bytes were read into the view :meth:`pdu_buffer` gave."""
        if self._pdu is None:
            raise ValueError("no PDU buffer was given to read into (pdu_buffer)")
        if nbytes > 0:
            self._pdu_filled(nbytes)

    def _pdu_filled(self, nbytes: int) -> None:
        pdu = self._pdu
        assert pdu is not None
        self._filled += nbytes
        self._size += nbytes
        if self._filled == len(pdu):  # whole: framed from here as if fed
            self._pdu = None
            self._chunks.append(memoryview(pdu).toreadonly())

    def next_frame(self) -> BytesLike | None:
        """Return the bytes of the next whole PDU, or None until they are all in.

        Raises
        ------
        PDUTooLargeError
            As soon as a header announces more than the limit for its type.
            The stream cannot be resynchronised after that, so the buffer
            drops what it holds and everything fed to it later.
        """
        if self._frame_size is None:
            header = self._header()
            if header is None:
                return None
            self._frame_type = header[0]
            self._frame_size = PDU_HEADER.size + header[1]
        if self._size < self._frame_size:
            return None
        frame = self._take(self._frame_size)
        self._frame_size = None
        return frame

    def _header(self) -> tuple[int, int] | None:
        """The next PDU's type and length once its header is in (not consumed);
        PDUTooLargeError if the length passes the limit for its type."""
        if self._size < PDU_HEADER.size:
            return None
        first = self._chunks[0]
        header = first if len(first) >= PDU_HEADER.size else self._peek_header()
        pdu_type, _, length = PDU_HEADER.unpack_from(header)
        limit = self.max_pdata_length if pdu_type == PDUType.P_DATA_TF else self.max_control_length
        if limit is not None and length > limit:
            self._broken = True
            self._chunks.clear()
            self._size = 0
            raise PDUTooLargeError(pdu_type, length, limit)
        return pdu_type, length

    def next_pdu(self) -> PDU | None:
        """Return the next whole PDU decoded, or None until it is all in.

        A PDU that fails to decode is consumed, then its PDUDecodeError raised,
        so that an analyser can go on with the next one.  A P-DATA-TF longer
        than ``stream_pdata_above`` comes out in pieces as it arrives.
        """
        if self._stream_left:
            return self._next_piece()
        if self._frame_size is None:
            header = self._header()
            if header is None:
                return None
            pdu_type, length = header
            above = self.stream_pdata_above
            if pdu_type == PDUType.P_DATA_TF and above is not None and length > above:
                self._take(PDU_HEADER.size)
                self._stream_left = self._stream_length = length
                return self._next_piece()
            self._frame_size = PDU_HEADER.size + length
            self._frame_type = pdu_type
        if self._size < self._frame_size:
            return None
        frame = self._take(self._frame_size)
        self._frame_size = None
        if self._frame_type == PDUType.P_DATA_TF:
            # The header, read and checked above, need not be read again.
            view = frame if isinstance(frame, memoryview) else memoryview(frame)
            return decode_pdata(view, len(view) - PDU_HEADER.size, self.strict)
        return decode(frame, strict=self.strict)

    def _next_piece(self) -> PDataTF | None:
        """What has arrived of the long P-DATA-TF being received, as one
        P-DATA-TF of the PDVs (or PDV pieces) in it; None if nothing has.

        Its PDV items are checked as :func:`dicomul.pdu.decode` checks them
        (PS3.8 9.3.5, Table 9-23), with offsets from the start of the PDU."""
        pdvs: list[PresentationDataValue] = []
        while self._stream_left:
            if not self._pdv_left:
                offset = PDU_HEADER.size + self._stream_length - self._stream_left
                if self._stream_left < _PDV_HEADER:
                    self._end_stream()
                    raise fail(
                        f"{self._stream_left} bytes left, too few for a PDV item header", offset
                    )
                if self._size < _PDV_HEADER:
                    break
                header = bytes(self._take(_PDV_HEADER))
                (item_length,) = U32.unpack_from(header)
                context_id, control = header[4], header[5]
                problem = None
                if item_length < 2:
                    problem = f"PDV item-length {item_length} is less than 2"
                elif item_length + 4 > self._stream_left:
                    problem = f"PDV item-length {item_length} overruns the PDU"
                elif self.strict and context_id % 2 == 0:
                    problem, offset = (
                        f"PDV presentation context ID {context_id} is even",
                        offset + 4,
                    )
                if problem is not None:
                    self._end_stream()
                    raise fail(problem, offset)
                self._stream_left -= _PDV_HEADER
                self._pdv_left = item_length - 2
                self._pdv_context, self._pdv_control = context_id, control
                if not self._pdv_left:
                    pdvs.append(_pdv(context_id, control, b""))
                continue
            if not self._size:
                break
            first = self._chunks[0]
            size = min(self._pdv_left, len(first))
            data = self._take(size)
            self._pdv_left -= size
            self._stream_left -= size
            control = self._pdv_control
            if self._pdv_left:
                control &= _NOT_LAST
            pdvs.append(_pdv(self._pdv_context, control, data))
        if not pdvs:
            return None
        return PDataTF(pdvs=tuple(pdvs))

    def _end_stream(self) -> None:
        """A long P-DATA-TF that broke the rules: like a refused header, the
        stream cannot be followed any further."""
        self._stream_left = self._pdv_left = 0
        self._broken = True
        self._chunks.clear()
        self._size = 0

    def _peek_header(self) -> bytes:
        """The first six bytes when they span several chunks."""
        header = bytearray()
        for chunk in self._chunks:
            header += chunk[: PDU_HEADER.size - len(header)]
            if len(header) == PDU_HEADER.size:
                break
        return bytes(header)

    def _take(self, size: int) -> BytesLike:
        self._size -= size
        first = self._chunks[0]
        if len(first) >= size:
            if len(first) == size:
                self._chunks.popleft()
            else:
                self._chunks[0] = first[size:]
            return first[:size]
        parts = []
        while size:
            chunk = self._chunks.popleft()
            if len(chunk) > size:
                self._chunks.appendleft(chunk[size:])
                chunk = chunk[:size]
            parts.append(chunk)
            size -= len(chunk)
        return b"".join(parts)


def _pdv(context_id: int, control: int, data: BytesLike) -> PresentationDataValue:
    return PresentationDataValue(context_id=context_id, control_header=control, data=data)
