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
"""

from __future__ import annotations

from collections import deque

from ._enums import PDUType
from ._errors import PDUTooLargeError
from ._wire import PDU_HEADER, BytesLike
from .pdu import PDU, decode

__all__ = [
    "DEFAULT_MAX_CONTROL_PDU_LENGTH",
    "DEFAULT_MAX_PDATA_LENGTH",
    "ReceiveBuffer",
]

#: Largest P-DATA-TF PDU-length a framer accepts unless told otherwise. The
#: protocol engine sets it from the maximum length it announced (PS3.8 D.1).
DEFAULT_MAX_PDATA_LENGTH = 4 * 1024 * 1024
#: Largest PDU-length accepted for every other PDU type.  An A-ASSOCIATE-RQ
#: with all 128 presentation contexts, each proposing a dozen transfer
#: syntaxes, is about 120 KiB; 1 MiB leaves room for user identity tokens.
DEFAULT_MAX_CONTROL_PDU_LENGTH = 1024 * 1024


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
    ) -> None:
        self.max_pdata_length = max_pdata_length
        self.max_control_length = max_control_length
        self.strict = strict
        self._chunks: deque[memoryview] = deque()
        self._size = 0
        # Whole length (header included) of the PDU being received, once known.
        self._frame_size: int | None = None
        # Set once a header was refused: the stream cannot be resynchronised.
        self._broken = False

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
        view = memoryview(data if isinstance(data, bytes) else bytes(data))
        self._chunks.append(view)
        self._size += len(view)

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
            if self._size < PDU_HEADER.size:
                return None
            first = self._chunks[0]
            header = first if len(first) >= PDU_HEADER.size else self._peek_header()
            pdu_type, _, length = PDU_HEADER.unpack_from(header)
            limit = (
                self.max_pdata_length if pdu_type == PDUType.P_DATA_TF else self.max_control_length
            )
            if limit is not None and length > limit:
                self._broken = True
                self._chunks.clear()
                self._size = 0
                raise PDUTooLargeError(pdu_type, length, limit)
            self._frame_size = PDU_HEADER.size + length
        if self._size < self._frame_size:
            return None
        frame = self._take(self._frame_size)
        self._frame_size = None
        return frame

    def next_pdu(self) -> PDU | None:
        """Return the next whole PDU decoded, or None until it is all in.

        A PDU that fails to decode is consumed, then its PDUDecodeError raised,
        so that an analyser can go on with the next one.
        """
        frame = self.next_frame()
        return None if frame is None else decode(frame, strict=self.strict)

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
