"""RLE Lossless decoding (PS3.5 Annex G), so that a compressed data set can
still be sent to a peer that accepts only native transfer syntaxes.

DCMTK's storescu and C-GET/C-MOVE SCPs decompress lossless data in that
case; so does dicomul: :func:`decompress_rle` turns a data set in RLE
Lossless (1.2.840.10008.1.2.5) into the same data set with native pixel
data, which :func:`dicomul.encode_dataset` then writes in any native syntax.
Lossless: the pixel values are exactly those that were compressed.

Each frame is one encapsulated fragment set: a 64-byte header (the number
of segments, then the offset of each, PS3.5 G.5) and the segments, one
per byte of each sample, most significant byte first (G.2); a segment is
a PackBits byte stream (G.3.1).  The decoded frame is interleaved, sample
by sample (Planar Configuration 0), each sample little endian.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["RLE_LOSSLESS", "RLEDecodeError", "decode_rle_frame", "decompress_rle"]

RLE_LOSSLESS = "1.2.840.10008.1.2.5"
_HEADER = struct.Struct("<16L")


class RLEDecodeError(ValueError):
    """RLE data that do not decode to the frame the data set describes."""


def decode_rle_frame(
    frame: bytes, *, rows: int, columns: int, samples_per_pixel: int, bits_allocated: int
) -> bytes:
    """One RLE frame decoded to native, interleaved, little-endian pixel bytes.

    Raises :class:`RLEDecodeError` for a frame that does not match the
    image it belongs to (segment count, offsets, lengths).

    >>> header = struct.pack("<16L", 1, 64, *[0] * 14)
    >>> decode_rle_frame(header + bytes([0xFD, 7]), rows=1, columns=4,
    ...                  samples_per_pixel=1, bits_allocated=8)
    b'\\x07\\x07\\x07\\x07'
    """
    if bits_allocated % 8 or not 8 <= bits_allocated <= 64:
        raise RLEDecodeError(f"RLE of {bits_allocated}-bit samples is not defined")
    size = bits_allocated // 8
    expected = samples_per_pixel * size
    if len(frame) < _HEADER.size:
        raise RLEDecodeError(f"an RLE frame of {len(frame)} bytes has no 64-byte header")
    count, *offsets = _HEADER.unpack_from(frame)
    if count != expected:
        raise RLEDecodeError(f"{count} RLE segments where the image needs {expected}")
    starts = offsets[:count]
    ends = [*starts[1:], len(frame)]
    if starts[0] != _HEADER.size or any(a > b for a, b in zip(starts, ends, strict=True)):
        raise RLEDecodeError(f"RLE segment offsets {starts} do not fit a {len(frame)}-byte frame")
    pixels = rows * columns
    planes = [_unpack_bits(frame[a:b], pixels) for a, b in zip(starts, ends, strict=True)]
    native = bytearray(pixels * expected)
    for sample in range(samples_per_pixel):
        for significance in range(size):  # segment 0 of a sample: its most significant byte
            plane = planes[sample * size + significance]
            position = sample * size + (size - 1 - significance)  # little endian
            native[position::expected] = plane
    return bytes(native)


def _unpack_bits(segment: bytes, length: int) -> bytes:
    """A PackBits segment (PS3.5 G.3.1) decoded to exactly ``length`` bytes;
    a segment may end with one padding byte past them."""
    out = bytearray()
    n, end = 0, len(segment)
    while n < end and len(out) < length:
        header = segment[n]
        n += 1
        if header < 128:  # a literal run of header + 1 bytes
            run = segment[n : n + header + 1]
            if len(run) != header + 1:
                raise RLEDecodeError("an RLE literal run goes past its segment")
            out += run
            n += header + 1
        elif header > 128:  # one byte repeated 257 - header times
            if n >= end:
                raise RLEDecodeError("an RLE replicate run goes past its segment")
            out += segment[n : n + 1] * (257 - header)
            n += 1
        # 128: no operation
    if len(out) < length:
        raise RLEDecodeError(f"an RLE segment decodes to {len(out)} bytes, not {length}")
    return bytes(out[:length])


def decompress_rle(dataset: Dataset) -> Dataset:
    """A copy of ``dataset`` (RLE Lossless) with its frames decoded into
    native Pixel Data (OW for samples over 8 bits, else OB) and Planar
    Configuration 0; every other element is shared with ``dataset``."""
    from pydicom.dataelem import DataElement  # noqa: PLC0415
    from pydicom.dataset import Dataset  # noqa: PLC0415
    from pydicom.encaps import generate_frames  # noqa: PLC0415

    try:
        rows, columns = int(dataset.Rows), int(dataset.Columns)
        samples = int(dataset.get("SamplesPerPixel", 1))
        bits = int(dataset.BitsAllocated)
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
        encapsulated = dataset.PixelData
    except (AttributeError, TypeError, ValueError) as exc:
        raise RLEDecodeError(f"the data set does not describe its RLE image: {exc}") from exc
    try:
        fragments = list(generate_frames(encapsulated, number_of_frames=frames))
    except Exception as exc:  # pydicom's errors for broken encapsulation vary
        raise RLEDecodeError(
            f"the RLE Pixel Data is not encapsulated as PS3.5 A.4: {exc}"
        ) from exc
    if len(fragments) != frames:
        raise RLEDecodeError(f"{len(fragments)} RLE frames where Number of Frames is {frames}")
    native = b"".join(
        decode_rle_frame(
            frame, rows=rows, columns=columns, samples_per_pixel=samples, bits_allocated=bits
        )
        for frame in fragments
    )
    if len(native) % 2:
        native += b"\0"  # PS3.5 8.1.1: an even length
    decoded = Dataset()
    for element in dataset:
        if element.tag == 0x7FE00010:
            decoded.add(DataElement(0x7FE00010, "OW" if bits > 8 else "OB", native))
        elif element.tag not in _ENCAPSULATION_ONLY:
            decoded.add(element)
    # New elements, never the caller's: its data set is left as it was.
    if samples > 1:
        decoded.add(DataElement(0x00280006, "US", 0))  # Planar Configuration: interleaved
    if str(dataset.get("PhotometricInterpretation", "")) == "YBR_FULL_422":
        # Decoded planes are full (a value per pixel), which YBR_FULL names;
        # YBR_FULL_422 means subsampled chroma (PS3.3 C.7.6.3.1.2).
        decoded.add(DataElement(0x00280004, "CS", "YBR_FULL"))
    decoded.set_original_encoding(False, True, dataset.original_character_set)
    return decoded


#: Extended Offset Table and its Lengths (PS3.3 C.7.6.3.1): for
#: encapsulated Pixel Data only, dropped with the encapsulation.
_ENCAPSULATION_ONLY = frozenset({0x7FE00001, 0x7FE00002})
