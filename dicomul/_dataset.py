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

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset

from ._errors import LocalProtocolError, RemoteProtocolError
from ._scan import MAX_INFLATED_SIZE, Inflater
from ._structure import DataSetStructureError
from ._syntax import transfer_syntax_encoding

__all__ = ["decode_dataset", "encode_dataset", "swap_byte_order", "transfer_syntax_encoding"]


def encode_dataset(dataset: Dataset, transfer_syntax: str) -> bytes:
    """Encode ``dataset`` (without file meta information) in ``transfer_syntax``.

    Values pydicom keeps as bytes (OW, OL, OF, OD, OV: pixel data, LUTs,
    curves) are in the byte order the data set was read in (its
    ``original_encoding``; little endian for one built in memory), and
    pydicom writes them as they are: across byte orders each word is
    swapped here first (PS3.5 7.3), so that the values survive.
    """
    implicit, little, deflated = transfer_syntax_encoding(transfer_syntax)
    source_little = dataset.original_encoding[1]
    if (True if source_little is None else source_little) != little:
        dataset = swap_byte_order(dataset)
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


def decode_dataset(
    data: bytes | memoryview, transfer_syntax: str, *, max_inflated_size: int = MAX_INFLATED_SIZE
) -> Dataset:
    """Decode data-set bytes received in ``transfer_syntax`` into a pydicom Dataset.

    A deflated data set is inflated in bounded steps and refused once it
    passes ``max_inflated_size`` bytes (a deflate bomb costs no more).
    Raises RemoteProtocolError where pydicom cannot read the bytes as a data
    set in that syntax.  pydicom is lenient: a value cut short is read as far
    as it goes rather than refused.
    """
    implicit, little, deflated = transfer_syntax_encoding(transfer_syntax)
    try:
        if deflated:
            inflater = Inflater(max_inflated_size)
            raw = b"".join(inflater.inflate(data))
            inflater.finish()
        else:
            raw = bytes(data)
        dataset = read_dataset(cast(BinaryIO, DicomBytesIO(raw)), implicit, little)
        # Touch every element once so that a malformed value fails here, not later.
        for _ in dataset.iterall():
            pass
        dataset.set_original_encoding(implicit, little, dataset.original_character_set)
    except DataSetStructureError as exc:
        raise RemoteProtocolError(str(exc)) from exc
    # A name of its own: mypyc (the optional compiled build) gives a name one
    # type, the first except clause's, and would refuse any other exception.
    except Exception as error:  # pydicom raises many exception types for bad input
        raise RemoteProtocolError(
            f"the data set is not valid {transfer_syntax} encoding: {error}"
        ) from error
    return dataset


#: The VRs whose values pydicom keeps as bytes of words, and the word size.
_WORD_SIZES = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}


def swap_byte_order(dataset: Dataset, _ancestors: tuple[Dataset, ...] = ()) -> Dataset:
    """A copy of ``dataset`` whose OW, OL, OF, OD and OV values have each
    word's bytes reversed (in nested sequences too): the data set read in
    one byte order, ready to be written in the other.  An element of
    ambiguous VR ("OB or OW" Pixel Data set in memory, "US or OW" LUT Data)
    is resolved first, as pydicom would on writing (PS3.5 A.1 c).  Other
    values are numbers or text to pydicom, which writes them in any byte
    order; an encapsulated (compressed) Pixel Data is a byte stream and is
    kept."""
    from pydicom.filewriter import correct_ambiguous_vr_element  # noqa: PLC0415

    _, little = dataset.original_encoding
    swapped = Dataset()
    for original in dataset:
        element = original
        if " or " in element.VR:
            loose = DataElement(
                element.tag,
                element.VR,
                element.value,
                is_undefined_length=element.is_undefined_length,
            )  # resolved on a copy: the caller's data set is left as it is
            resolved = correct_ambiguous_vr_element(
                loose, dataset, little is not False, [dataset, *_ancestors]
            )
            element = cast(DataElement, resolved)
        size = _WORD_SIZES.get(element.VR)
        if element.VR == "SQ":
            value: object = [
                swap_byte_order(item, (dataset, *_ancestors)) for item in element.value
            ]
        elif size and isinstance(element.value, bytes) and not element.is_undefined_length:
            value = _swap_words(element.value, size)
        else:
            value = element.value
        swapped.add(
            DataElement(
                element.tag, element.VR, value, is_undefined_length=element.is_undefined_length
            )
        )
    implicit, little = dataset.original_encoding
    # Its words are now in the other byte order (little endian if unknown before).
    swapped.set_original_encoding(implicit, little is False, dataset.original_character_set)
    return swapped


def _swap_words(data: bytes, size: int) -> bytes:
    """``data`` with the bytes of each ``size``-byte word reversed (a
    trailing part word, which a valid value never has, is kept as it is).

    >>> _swap_words(bytes([1, 2, 3, 4, 5]), 2)
    b'\\x02\\x01\\x04\\x03\\x05'
    """
    whole = len(data) - len(data) % size
    swapped = bytearray(data)
    for n in range(size):
        swapped[n:whole:size] = data[size - 1 - n : whole : size]
    return bytes(swapped)
