"""Following a data set as it arrives: inflate, check that it is whole, keep
a few attributes, and decide whether a C-STORE may be answered Success.

Theory of operation
-------------------
A storage SCP writes the data set of a C-STORE as it comes off the wire and
never decodes it.  Before it answers Success it must still know that what it
kept is the instance the request names, whole (PS3.4 B.2.2: Success means
the SOP Instance was stored).  :class:`DataSetScanner` follows the bytes in
the pieces they arrive in: a Deflated Explicit VR Little Endian data set
(PS3.5 A.5) is inflated in bounded steps and refused as soon as it inflates
past a limit, so that a deflate bomb (1 MB that inflates to 1 GB) costs CPU
in proportion to what was inflated and no memory; the (inflated) encoding
goes through a :class:`~dicomul.StructureWalker`, which keeps the handful of
top-level elements asked for.  :class:`StoreCheck` puts that to the C-STORE
rule: a data set that is not whole, or has no SOP Class/Instance UID, is
"Error: Cannot understand" (0xC000); one whose UIDs are not the request's is
"Error: Data Set does not match SOP Class" (0xA900) (PS3.4 B.2.3, Table
B.2-1; DCMTK's storescp answers these two cases with these two codes).

The same scanner reads the attributes an archive indexes from a stored file
(feed it the file in pieces, stop once :attr:`DataSetScanner.passed_kept`):
large values are skipped, never read into memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from ._command import Command
from ._record import dataclass
from ._status import StoreStatus
from ._structure import LONG_VRS, DataSetStructureError, StructureWalker
from ._syntax import EXPLICIT_VR_LITTLE_ENDIAN, transfer_syntax_encoding
from ._wire import BytesLike

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = [
    "MAX_INFLATED_SIZE",
    "SOP_CLASS_UID",
    "SOP_INSTANCE_UID",
    "DataSetScanner",
    "Inflater",
    "StoreCheck",
    "StoreRefusal",
]

#: Largest size a deflated data set may inflate to before it is refused.
MAX_INFLATED_SIZE = 1 << 30
#: Bytes of output per inflate step, and of input handed to zlib at once
#: (which bounds the copies zlib makes of input it has not used yet).
_INFLATE_STEP = 256 * 1024
_INPUT_STEP = 64 * 1024

#: (0008,0016) SOP Class UID and (0008,0018) SOP Instance UID.
SOP_CLASS_UID = 0x00080016
SOP_INSTANCE_UID = 0x00080018


class Inflater:
    """Inflate a deflated data set (PS3.5 A.5: raw deflate, RFC 1951) piece
    by piece, in steps of bounded size, refusing it past ``max_size`` bytes.

    Raises DataSetStructureError for bytes that are not a deflate stream,
    for a stream that inflates past ``max_size``, for data after the end of
    the stream other than NULL padding, and (in :meth:`finish`) for a stream
    cut short.

    >>> import zlib
    >>> packer = zlib.compressobj(wbits=-15)
    >>> packed = packer.compress(b"x" * 1000) + packer.flush()
    >>> inflater = Inflater(max_size=2000)
    >>> len(b"".join(inflater.inflate(packed))); inflater.finish()
    1000
    >>> list(Inflater(max_size=999).inflate(packed))
    Traceback (most recent call last):
    ...
    dicomul._structure.DataSetStructureError: the deflated data set inflates past 999 bytes
    """

    def __init__(self, max_size: int = MAX_INFLATED_SIZE) -> None:
        self.max_size = max_size
        #: Bytes inflated so far.
        self.size = 0
        self._zlib = zlib.decompressobj(wbits=-zlib.MAX_WBITS)

    def inflate(self, data: BytesLike | bytearray) -> Iterator[bytes]:
        """The inflated bytes of the next piece, in steps of at most 256 KiB."""
        view = memoryview(data).cast("B")
        for start in range(0, len(view), _INPUT_STEP):
            pending: BytesLike = view[start : start + _INPUT_STEP]
            while pending:
                if self._zlib.eof:
                    _padding_only(pending)
                    break
                try:
                    out = self._zlib.decompress(pending, _INFLATE_STEP)
                except zlib.error as exc:
                    raise DataSetStructureError(
                        f"the deflated data set does not inflate ({exc})"
                    ) from None
                self.size += len(out)
                if self.size > self.max_size:
                    raise DataSetStructureError(
                        f"the deflated data set inflates past {self.max_size} bytes"
                    )
                if out:
                    yield out
                pending = self._zlib.unconsumed_tail
                if self._zlib.eof:
                    _padding_only(self._zlib.unused_data)
                    break

    def finish(self) -> None:
        """Raise DataSetStructureError unless the deflate stream has ended."""
        if not self._zlib.eof:
            raise DataSetStructureError(
                "the deflated data set is cut short (its deflate stream never ends)"
            )


def _padding_only(data: BytesLike) -> None:
    """Bytes after the end of a deflate stream: PS3.5 A.5 allows one NULL
    to make the length even; anything else is not part of the data set."""
    if bytes(data).strip(b"\0"):
        raise DataSetStructureError("bytes after the end of the deflated data set")


class DataSetScanner:
    """Follow a data set in its transfer syntax, as it arrives, without holding it.

    Parameters
    ----------
    transfer_syntax : str
        The transfer syntax UID it is encoded in (a deflated one is inflated).
    keep : iterable of int
        Tags of top-level elements to keep (see :attr:`kept`).
    max_inflated_size : int
        A deflated data set inflating past this is refused.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> from dicomul import encode_dataset
    >>> ds = Dataset(); ds.SOPInstanceUID = "1.2.3"; ds.PatientName = "DOE^J"
    >>> scanner = DataSetScanner("1.2.840.10008.1.2.1.99", keep=[SOP_INSTANCE_UID])
    >>> scanner.feed(encode_dataset(ds, "1.2.840.10008.1.2.1.99")); scanner.finish()
    >>> scanner.text(SOP_INSTANCE_UID)
    '1.2.3'
    """

    def __init__(
        self,
        transfer_syntax: str,
        *,
        keep: Iterable[int] = (),
        max_inflated_size: int = MAX_INFLATED_SIZE,
        max_kept_value: int = 64 * 1024,
    ) -> None:
        implicit, little, deflated = transfer_syntax_encoding(transfer_syntax)
        self._implicit = implicit
        self._walker = StructureWalker(
            implicit_vr=implicit, little_endian=little, keep=keep, max_kept_value=max_kept_value
        )
        self._inflater = Inflater(max_inflated_size) if deflated else None
        #: The syntax of the bytes the walker sees (a deflated one, inflated).
        self.encoding = EXPLICIT_VR_LITTLE_ENDIAN if deflated else transfer_syntax

    @property
    def kept(self) -> dict[int, bytes]:
        """The encoding (header and value) of each kept element, by tag, in
        the (inflated) syntax :attr:`encoding`."""
        return self._walker.kept

    @property
    def passed_kept(self) -> bool:
        """True once every kept element has gone by (see StructureWalker)."""
        return self._walker.passed_kept

    def feed(self, data: BytesLike | bytearray) -> None:
        """Follow the next piece; raises DataSetStructureError at once for
        bytes that cannot be part of a whole data set."""
        if self._inflater is None:
            self._walker.feed(data)
            return
        for piece in self._inflater.inflate(data):
            self._walker.feed(piece)

    def finish(self) -> None:
        """Raise DataSetStructureError unless what was fed is a whole data set."""
        if self._inflater is not None:
            self._inflater.finish()
        self._walker.finish()

    def value(self, tag: int) -> bytes | None:
        """The value bytes of a kept element (None if it was not met or kept)."""
        element = self._walker.kept.get(tag)
        if element is None:
            return None
        long_header = not self._implicit and element[4:6] in LONG_VRS
        return element[12 if long_header else 8 :]

    def text(self, tag: int) -> str | None:
        """A kept element's value as text without its padding (for UIDs, codes)."""
        value = self.value(tag)
        return None if value is None else value.decode("latin-1").rstrip("\0 ")

    def kept_dataset(self) -> Dataset:
        """The kept elements decoded as a pydicom Dataset (with the data
        set's own Specific Character Set, if it was kept too)."""
        from ._dataset import decode_dataset  # noqa: PLC0415 - pydicom only when asked

        return decode_dataset(b"".join(self._walker.kept.values()), self.encoding)


@dataclass(frozen=True, slots=True)
class StoreRefusal:
    """Why a C-STORE's data set is not stored: the status to answer (PS3.4
    Table B.2-1) and a reason for the log and the Error Comment."""

    status: StoreStatus
    reason: str


class StoreCheck:
    """Whether a C-STORE's data set may be answered Success, as it arrives.

    Feed it every piece of the data set (:meth:`feed`), then ask
    :meth:`finish`: None when the data set is whole and names the instance
    the request names; else the :class:`StoreRefusal` to answer.  A refusal
    found midway is kept in :attr:`refusal` (the rest need not be stored).
    """

    def __init__(
        self, request: Command, transfer_syntax: str, *, max_inflated_size: int = MAX_INFLATED_SIZE
    ) -> None:
        self._request = request
        self._scanner = DataSetScanner(
            transfer_syntax,
            keep=(SOP_CLASS_UID, SOP_INSTANCE_UID),
            max_inflated_size=max_inflated_size,
            max_kept_value=256,
        )
        #: The refusal found so far, if any.
        self.refusal: StoreRefusal | None = None

    def feed(self, data: BytesLike | bytearray) -> StoreRefusal | None:
        """Follow the next piece; the refusal, once there is one."""
        if self.refusal is None:
            try:
                self._scanner.feed(data)
            except DataSetStructureError as exc:
                self.refusal = StoreRefusal(StoreStatus.CANNOT_UNDERSTAND, str(exc))
        return self.refusal

    def finish(self) -> StoreRefusal | None:
        """None if Success may be answered; else why not."""
        if self.refusal is None:
            try:
                self._scanner.finish()
            except DataSetStructureError as exc:
                self.refusal = StoreRefusal(StoreStatus.CANNOT_UNDERSTAND, str(exc))
            else:
                self.refusal = self._identity()
        return self.refusal

    def _identity(self) -> StoreRefusal | None:
        """PS3.4 B.2.3 (and DCMTK's storescp): the data set's SOP Class and
        Instance UIDs must be there and be the request's Affected ones."""
        found_class = self._scanner.text(SOP_CLASS_UID)
        found_instance = self._scanner.text(SOP_INSTANCE_UID)
        if not found_class or not found_instance:
            missing = "SOP Class UID" if not found_class else "SOP Instance UID"
            return StoreRefusal(
                StoreStatus.CANNOT_UNDERSTAND, f"the data set has no {missing} (0008,001x)"
            )
        for what, found, asked in (
            ("SOP Class UID", found_class, self._request.affected_sop_class_uid),
            ("SOP Instance UID", found_instance, self._request.affected_sop_instance_uid),
        ):
            if found != (asked or "").rstrip("\0 "):
                return StoreRefusal(
                    StoreStatus.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
                    f"the data set's {what} {found} is not the request's {asked}",
                )
        return None
