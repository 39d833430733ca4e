"""RLE Lossless decoding (PS3.5 Annex G): against an encoder written here
from the standard's text, and arbitrary bytes never crash it."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomul import RLEDecodeError, decode_rle_frame


def pack_bits(data: bytes, choices: list[int]) -> bytes:
    """PackBits (G.3.1): runs of equal bytes as replicate runs, the rest as
    literal runs of at most 128; ``choices`` varies where runs are cut."""
    out = bytearray()
    n = 0
    k = 0
    while n < len(data):
        run = 1
        while n + run < len(data) and data[n + run] == data[n] and run < 128:
            run += 1
        if run > 1:
            out += bytes([257 - run, data[n]])
            n += run
            continue
        length = min(1 + (choices[k % len(choices)] if choices else 0), 128, len(data) - n)
        k += 1
        out += bytes([length - 1]) + data[n : n + length]
        n += length
    if len(out) % 2:
        out += b"\x80"  # G.3.1: a no-op byte pads a segment to even length
    return bytes(out)


def encode_frame(native: bytes, samples: int, size: int, choices: list[int]) -> bytes:
    """Native interleaved little-endian samples to an RLE frame (G.2, G.5)."""
    step = samples * size
    segments = []
    for sample in range(samples):
        for significance in range(size):  # most significant byte first
            plane = native[sample * size + (size - 1 - significance) :: step]
            segments.append(pack_bits(plane, choices))
    offsets, position = [], 64
    for segment in segments:
        offsets.append(position)
        position += len(segment)
    header = struct.pack("<16L", len(segments), *offsets, *[0] * (15 - len(offsets)))
    return header + b"".join(segments)


@given(
    st.integers(1, 9),
    st.integers(1, 9),
    st.sampled_from([(1, 1), (1, 2), (3, 1), (3, 2), (1, 4)]),
    st.data(),
    st.lists(st.integers(0, 127), max_size=8),
)
def test_frames_decode_to_what_was_encoded(
    rows: int, columns: int, layout: tuple[int, int], data: st.DataObject, choices: list[int]
) -> None:
    samples, size = layout
    length = rows * columns * samples * size
    native = data.draw(
        st.one_of(st.binary(min_size=length, max_size=length), st.just(bytes(length)))
    )
    frame = encode_frame(native, samples, size, choices)
    decoded = decode_rle_frame(
        frame, rows=rows, columns=columns, samples_per_pixel=samples, bits_allocated=8 * size
    )
    assert decoded == native


@given(st.binary(max_size=200), st.integers(1, 4), st.integers(1, 4))
def test_arbitrary_bytes_decode_or_raise_rle_decode_error(
    data: bytes, rows: int, columns: int
) -> None:
    header = struct.pack("<16L", 2, 64, 64 + len(data) // 2, *[0] * 13)
    for frame in (data, header + data):
        try:
            decoded = decode_rle_frame(
                frame, rows=rows, columns=columns, samples_per_pixel=1, bits_allocated=16
            )
        except RLEDecodeError:
            continue
        assert len(decoded) == rows * columns * 2


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\x01\x00", "no 64-byte header"),
        (struct.pack("<16L", 3, 64, 64, 64, *[0] * 12), "3 RLE segments where the image needs 2"),
        (struct.pack("<16L", 2, 64, 90, *[0] * 13) + b"\x00" * 4, "do not fit"),
        (struct.pack("<16L", 2, 64, 66, *[0] * 13) + b"\x05\x01\xff", "goes past its segment"),
        (struct.pack("<16L", 2, 64, 66, *[0] * 13) + b"\xff\x01\xff\x02", "decodes to 2 bytes"),
    ],
)
def test_malformed_frames_name_what_is_wrong(frame: bytes, message: str) -> None:
    with pytest.raises(RLEDecodeError, match=message):
        decode_rle_frame(frame, rows=2, columns=2, samples_per_pixel=1, bits_allocated=16)


def test_decompress_rle_gives_a_native_data_set_and_leaves_the_callers() -> None:
    from pydicom.dataset import Dataset
    from pydicom.encaps import encapsulate

    from dicomul import decompress_rle

    rows, columns = 2, 3
    red, green, blue = bytes(range(6)), bytes(range(10, 16)), bytes(range(20, 26))
    interleaved = bytes(b for pixel in zip(red, green, blue, strict=True) for b in pixel)
    ds = Dataset()
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, columns, 3
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PlanarConfiguration = 1  # as RLE data sets often say
    ds.PixelData = encapsulate([encode_frame(interleaved, 3, 1, [])])
    ds["PixelData"].VR = "OB"
    ds.ExtendedOffsetTable = b"\0" * 8
    ds.ExtendedOffsetTableLengths = b"\0" * 8

    decoded = decompress_rle(ds)
    assert decoded.PixelData == interleaved
    assert decoded["PixelData"].VR == "OB"
    assert decoded.PlanarConfiguration == 0
    assert decoded.PhotometricInterpretation == "YBR_FULL"  # full planes, not 4:2:2
    assert "ExtendedOffsetTable" not in decoded
    assert "ExtendedOffsetTableLengths" not in decoded
    # The caller's data set is as it was.
    assert (ds.PlanarConfiguration, ds.PhotometricInterpretation) == (1, "YBR_FULL_422")
    assert "ExtendedOffsetTable" in ds
