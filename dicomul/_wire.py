"""Low-level helpers shared by the PDU and item codecs: structs, checks, text.

Theory of operation
-------------------
Decoders work on a ``memoryview`` of one whole PDU and absolute offsets into
it, so that an error can name the byte at which the PDU is wrong and so that
P-DATA-TF payloads are sliced out without a copy.  Encoders build ``bytes``.

Construction-time checks (``check_*``) raise :class:`LocalProtocolError`: a
value that cannot be put on the wire is the local caller's mistake.  Decoding
checks raise :class:`PDUDecodeError`: the bytes came from the peer.
"""

from __future__ import annotations

import re
import struct
from typing import Final

from ._enums import AbortReason
from ._errors import LocalProtocolError, PDUDecodeError

__all__ = [
    "PDU_HEADER",
    "ITEM_HEADER",
    "U16",
    "U32",
    "BytesLike",
    "check_bytes",
    "check_uint",
    "check_uints",
    "fail",
    "ae_title",
    "is_valid_ae_title",
    "is_valid_uid",
    "text",
    "uid",
]

#: A PDU header: PDU-type, reserved, PDU-length (PS3.8 section 9.3.1).
PDU_HEADER: Final = struct.Struct(">BBL")
#: An item or sub-item header: item-type, reserved, item-length.
ITEM_HEADER: Final = struct.Struct(">BBH")
U16: Final = struct.Struct(">H")
U32: Final = struct.Struct(">L")

#: Payload bytes of a PDV: ``bytes`` or a read-only ``memoryview`` slice of a
#: received PDU (no copy).
BytesLike = bytes | memoryview

_UID_RE: Final = re.compile(rb"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*\Z")
_AE_RE: Final = re.compile(rb"[\x20-\x5b\x5d-\x7e]{16}\Z")


def check_uint(name: str, value: int, bits: int) -> None:
    """Raise LocalProtocolError unless ``value`` fits an unsigned field of ``bits``."""
    if not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise LocalProtocolError(
            f"{name} must be an integer from 0 to {(1 << bits) - 1}, not {value!r}"
        )


def check_uints(obj: object, **bits: int) -> None:
    """check_uint for several attributes of ``obj``, given as ``name=bits``."""
    for name, width in bits.items():
        check_uint(name, getattr(obj, name), width)


def check_bytes(name: str, value: object, *, maximum: int, exact: int | None = None) -> None:
    """Raise LocalProtocolError unless ``value`` is bytes of an allowed length."""
    if not isinstance(value, bytes | memoryview):
        raise LocalProtocolError(f"{name} must be bytes, not {type(value).__name__}")
    if exact is not None and len(value) != exact:
        raise LocalProtocolError(f"{name} must be exactly {exact} bytes, not {len(value)}")
    if len(value) > maximum:
        raise LocalProtocolError(f"{name} is {len(value)} bytes, more than the field's {maximum}")


def fail(
    message: str,
    offset: int,
    reason: AbortReason = AbortReason.INVALID_PDU_PARAMETER_VALUE,
) -> PDUDecodeError:
    """Return the decode error for ``message`` at ``offset`` (the caller raises it)."""
    return PDUDecodeError(message, offset=offset, abort_reason=reason)


def text(raw: bytes) -> str:
    """Normalise a wire string: strip the padding peers add (spaces and NULs).

    Decoding uses latin-1 so that no byte value can make it fail; a value that
    is not ISO 646 text stays visible rather than raising.
    """
    return raw.decode("latin-1").strip(" \x00")


def is_valid_uid(raw: bytes) -> bool:
    """True if ``raw`` is a UID encoded as PS3.8 Annex F requires (no padding)."""
    return 0 < len(raw) <= 64 and _UID_RE.match(raw) is not None


def is_valid_ae_title(raw: bytes) -> bool:
    """True if ``raw`` is a 16-byte AE title field as PS3.8 Table 9-11 requires.

    ISO 646 G0 characters without backslash or control characters, and not
    sixteen spaces (which would mean "no name").
    """
    return _AE_RE.match(raw) is not None and raw.strip(b" ") != b""


def uid(value: str) -> bytes:
    """Encode a UID string for a PDU item (PS3.8 Annex F: no padding).

    Raises LocalProtocolError if it is not a valid UID.
    """
    raw = value.encode("ascii", "replace")
    if not is_valid_uid(raw):
        raise LocalProtocolError(f"{value!r} is not a valid UID (PS3.8 Annex F)")
    return raw


def ae_title(value: str) -> bytes:
    """Encode an AE title for the 16-byte field of an A-ASSOCIATE PDU.

    Pads with trailing spaces (PS3.8 Table 9-11); raises LocalProtocolError if
    the title is empty, longer than 16 characters or not ISO 646 text.
    """
    raw = value.encode("ascii", "replace")
    if len(raw) > 16:
        raise LocalProtocolError(f"AE title {value!r} is longer than 16 characters")
    raw = raw.ljust(16, b" ")
    if not is_valid_ae_title(raw):
        raise LocalProtocolError(f"AE title {value!r} is empty or holds characters not allowed")
    return raw
