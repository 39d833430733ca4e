"""Transfer syntaxes as the codec sees them: VR form, byte order, deflate.

PS3.5 10 and Annex A: Implicit VR Little Endian (A.1), Explicit VR Little
Endian (A.2), Explicit VR Big Endian (A.3, retired), Deflated Explicit VR
Little Endian (A.5), and the encapsulated syntaxes (A.4), which encode the
data set in Explicit VR Little Endian around compressed pixel data.
"""

from __future__ import annotations

__all__ = [
    "DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN",
    "EXPLICIT_VR_BIG_ENDIAN",
    "EXPLICIT_VR_LITTLE_ENDIAN",
    "IMPLICIT_VR_LITTLE_ENDIAN",
    "transfer_syntax_encoding",
]

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
#: The syntaxes whose whole data set is deflated: Deflated Explicit VR Little
#: Endian (PS3.5 A.5) and the JPIP Referenced Deflate ones (A.6, A.7).
#: Deflated Image Frame Compression (1.2.840.10008.1.2.8.1, A.4.13) deflates
#: only the frames, inside an Explicit VR Little Endian data set.
_DEFLATED = frozenset(
    {DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, "1.2.840.10008.1.2.4.95", "1.2.840.10008.1.2.4.205"}
)


def transfer_syntax_encoding(transfer_syntax: str) -> tuple[bool, bool, bool]:
    """(implicit VR, little endian, deflated) for a transfer syntax UID (PS3.5 10).

    Every transfer syntax but the first three native ones is explicit VR
    little endian (encapsulated pixel data, PS3.5 A.4), deflated or not.

    >>> transfer_syntax_encoding("1.2.840.10008.1.2.1.99")
    (False, True, True)
    """
    if transfer_syntax == IMPLICIT_VR_LITTLE_ENDIAN:
        return True, True, False
    if transfer_syntax == EXPLICIT_VR_BIG_ENDIAN:
        return False, False, False
    return False, True, transfer_syntax in _DEFLATED
