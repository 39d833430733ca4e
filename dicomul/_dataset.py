"""Data sets in a negotiated transfer syntax, encoded and decoded with pydicom.

A DIMSE data set travels in the transfer syntax of its presentation context
(PS3.7 6.3.1, PS3.5 Annex A): Implicit VR Little Endian, Explicit VR Little
or Big Endian, Deflated Explicit VR Little Endian, or an encapsulated
(compressed) syntax, which is Explicit VR Little Endian around compressed
pixel data.  These helpers do the conversion only when a user asks for a
pydicom Dataset; a C-STORE passes the bytes through untouched otherwise.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO, cast

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset

from ._errors import LocalProtocolError, RemoteProtocolError

__all__ = ["decode_dataset", "encode_dataset", "transfer_syntax_encoding"]

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
_DEFLATED = frozenset({DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, "1.2.840.10008.1.2.8.1"})


def transfer_syntax_encoding(transfer_syntax: str) -> tuple[bool, bool, bool]:
    """(implicit VR, little endian, deflated) for a transfer syntax UID (PS3.5 10).

    Every transfer syntax but the first three native ones is explicit VR
    little endian (encapsulated pixel data, PS3.5 A.4), deflated or not.
    """
    if transfer_syntax == IMPLICIT_VR_LITTLE_ENDIAN:
        return True, True, False
    if transfer_syntax == EXPLICIT_VR_BIG_ENDIAN:
        return False, False, False
    return False, True, transfer_syntax in _DEFLATED


def encode_dataset(dataset: Dataset, transfer_syntax: str) -> bytes:
    """Encode ``dataset`` (without file meta information) in ``transfer_syntax``."""
    implicit, little, deflated = transfer_syntax_encoding(transfer_syntax)
    fp = DicomBytesIO()
    fp.is_implicit_VR = implicit
    fp.is_little_endian = little
    try:
        write_dataset(fp, dataset)
    except (ValueError, TypeError, OverflowError, OSError) as exc:
        message = f"cannot encode the data set in {transfer_syntax}: {exc}"
        raise LocalProtocolError(message) from exc
    data = fp.getvalue()
    if deflated:
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        data = compressor.compress(data) + compressor.flush()
        if len(data) % 2:
            data += b"\0"  # PS3.5 A.5: an odd deflated stream gets one trailing NULL
    return data


#: Largest size a deflated data set may inflate to before it is refused.
MAX_INFLATED_SIZE = 1 << 30


def decode_dataset(
    data: bytes | memoryview, transfer_syntax: str, *, max_inflated_size: int = MAX_INFLATED_SIZE
) -> Dataset:
    """Decode data-set bytes received in ``transfer_syntax`` into a pydicom Dataset.

    Raises RemoteProtocolError where pydicom cannot read the bytes as a data
    set in that syntax.  pydicom is lenient: a value cut short is read as far
    as it goes rather than refused.
    """
    implicit, little, deflated = transfer_syntax_encoding(transfer_syntax)
    raw = bytes(data)
    try:
        if deflated:
            inflater = zlib.decompressobj(wbits=-zlib.MAX_WBITS)
            raw = inflater.decompress(raw, max_inflated_size)
            if inflater.unconsumed_tail:
                raise RemoteProtocolError(
                    f"the deflated data set inflates past {max_inflated_size} bytes"
                )
        dataset = read_dataset(cast(BinaryIO, DicomBytesIO(raw)), implicit, little)
        # Touch every element once so that a malformed value fails here, not later.
        for _ in dataset.iterall():
            pass
    except RemoteProtocolError:
        raise
    except Exception as exc:  # pydicom raises many exception types for bad input
        raise RemoteProtocolError(
            f"the data set is not valid {transfer_syntax} encoding: {exc}"
        ) from exc
    return dataset
