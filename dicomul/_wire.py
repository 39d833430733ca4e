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
    "AE_TITLE_RULE",
    "ae_title",
    "ae_title_problem",
    "check_ae_title",
    "check_implementation_class_uid",
    "check_implementation_version_name",
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
#: PS3.5 6.2, VR AE: the characters an AE title may hold, the Default
#: Character Repertoire's graphic characters and space (ISO 646, 20H to 7EH)
#: less the backslash (5CH); no control character.
_AE_CHARACTERS: Final = frozenset(map(chr, range(0x20, 0x7F))) - {"\\"}
#: The maximum length of an AE title (PS3.5 6.2: 16 bytes, one per character).
AE_TITLE_LENGTH: Final = 16
#: The rule, as error messages state it.
AE_TITLE_RULE: Final = (
    "an AE title is 1 to 16 characters of the DICOM default character repertoire "
    "(ISO 646: letters, digits, space and punctuation) without backslash or "
    "control characters, and not only spaces (PS3.5 6.2, VR AE)"
)


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


def ae_title_problem(title: str) -> str | None:
    """What makes ``title`` no AE title, or None if it is one (PS3.5 6.2, VR AE).

    Leading and trailing spaces are not significant but count towards the
    16 characters, as they take bytes of the PDU field (PS3.8 Table 9-11).

    >>> ae_title_problem("STORESCP") is None
    True
    >>> ae_title_problem("ÄÖÜ")
    "holds 'Ä', which is not allowed"
    """
    if len(title) > AE_TITLE_LENGTH:
        return f"is longer than {AE_TITLE_LENGTH} characters ({len(title)})"
    if not title.strip(" "):
        return "is empty or only spaces"
    for character in title:
        if character not in _AE_CHARACTERS:
            return f"holds {character!r}, which is not allowed"
    return None


def check_ae_title(title: str) -> str:
    """Return ``title`` if it is a valid AE title; else raise ValueError
    naming what is wrong and the rule (PS3.5 6.2, VR AE).

    For values a local user gives (an AE's own title, the title it calls,
    the titles it requires); a peer's titles are read leniently instead.

    >>> check_ae_title("MUCH-TOO-LONG-AE-TITLE")
    Traceback (most recent call last):
    ...
    ValueError: AE title 'MUCH-TOO-LONG-AE-TITLE' is longer than 16 characters (22): ...
    """
    if not isinstance(title, str):
        raise TypeError(f"an AE title is a str, not {type(title).__name__} ({title!r})")
    problem = ae_title_problem(title)
    if problem is not None:
        raise ValueError(f"AE title {title!r} {problem}: {AE_TITLE_RULE}")
    return title


def check_implementation_class_uid(value: str) -> str:
    """Return ``value`` if it can be sent as an Implementation Class UID
    (PS3.7 D.3.3.2: a UID, PS3.5 9.1, at most 64 characters of digits and
    dots); else raise ValueError (TypeError for a non-str) saying why.

    >>> check_implementation_class_uid("1.2.3.4")
    '1.2.3.4'
    """
    if not isinstance(value, str):
        raise TypeError(f"an implementation class UID is a str, not {type(value).__name__}")
    if not is_valid_uid(value.encode("ascii", "replace")):
        raise ValueError(
            f"implementation class UID {value!r} is not a UID: 1 to 64 characters, "
            "digit components without leading zeros separated by dots (PS3.5 9.1)"
        )
    return value


def check_implementation_version_name(value: str | None) -> str | None:
    """Return ``value`` if it can be sent as an Implementation Version Name
    (PS3.7 D.3.3.2: 1 to 16 characters of the default repertoire, no
    backslash or control character), or None (no version name sent); else
    raise ValueError (TypeError for a non-str) saying why.

    >>> check_implementation_version_name("MYAPP_1.0")
    'MYAPP_1.0'
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"an implementation version name is a str, not {type(value).__name__}")
    if not 1 <= len(value) <= 16 or any(c not in _AE_CHARACTERS for c in value):
        raise ValueError(
            f"implementation version name {value!r} is not 1 to 16 characters of the "
            "default repertoire without backslash or control characters (PS3.7 D.3.3.2)"
        )
    return value


def is_valid_ae_title(raw: bytes) -> bool:
    """True if ``raw`` is a 16-byte AE title field as PS3.8 Table 9-11 requires:
    the rule of :func:`ae_title_problem`, space padded."""
    return len(raw) == AE_TITLE_LENGTH and ae_title_problem(raw.decode("latin-1")) is None


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

    Pads with trailing spaces (PS3.8 Table 9-11); raises LocalProtocolError
    if the title breaks the rule of :func:`check_ae_title` (never replaces a
    character it cannot encode).
    """
    try:
        check_ae_title(value)
    except (TypeError, ValueError) as exc:
        raise LocalProtocolError(str(exc)) from None
    return value.encode("ascii").ljust(AE_TITLE_LENGTH, b" ")
