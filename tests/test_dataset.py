"""Data sets in each native transfer syntax (dicomul._dataset), via pydicom."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from dicomul import LocalProtocolError, RemoteProtocolError
from dicomul._dataset import decode_dataset, encode_dataset, transfer_syntax_encoding

SYNTAXES = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
]


def sample() -> Dataset:
    ds = Dataset()
    ds.PatientName = "Müller^Jürgen"
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientID = "12345"
    ds.Rows = 2
    ds.Columns = 2
    ds.BitsAllocated = 16
    ds.PixelData = b"\x01\x00\x02\x00\x03\x00\x04\x00"
    ds.add_new(0x00091001, "LO", "private value")
    seq_item = Dataset()
    seq_item.CodeValue = "T-A0100"
    ds.AnatomicRegionSequence = [seq_item]
    return ds


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_roundtrip(syntax: str) -> None:
    data = encode_dataset(sample(), syntax)
    back = decode_dataset(data, syntax)
    assert back.PatientName == "Müller^Jürgen"
    assert back.Rows == 2
    assert back.AnatomicRegionSequence[0].CodeValue == "T-A0100"
    assert 0x00091001 in back  # kept (as UN bytes in implicit VR, having no creator)
    assert encode_dataset(back, syntax) == data


def test_encodings_differ_as_the_standard_says() -> None:
    implicit, explicit, big, deflated = (encode_dataset(sample(), s) for s in SYNTAXES)
    assert implicit != explicit
    assert explicit[4:6] == b"CS"  # explicit VR: the VR follows the tag
    assert big[:4] == b"\x00\x08\x00\x05"  # (0008,0005) big endian
    assert len(deflated) < len(explicit)
    assert transfer_syntax_encoding("1.2.840.10008.1.2.4.50") == (False, True, False)


def test_garbage_is_a_remote_error() -> None:
    # an undefined-length pixel data element with no item that pydicom can read
    with pytest.raises(RemoteProtocolError, match="not valid"):
        decode_dataset(b"\xe0\x7f\x10\x00\xff\xff\xff\xff\x00\x00", "1.2.840.10008.1.2")
    with pytest.raises(RemoteProtocolError):
        decode_dataset(b"not deflate", "1.2.840.10008.1.2.1.99")


@pytest.mark.filterwarnings("ignore:Invalid value")
def test_unencodable_value_is_a_local_error() -> None:
    ds = Dataset()
    ds.Rows = 70000  # US holds 0..65535
    with pytest.raises(LocalProtocolError):
        encode_dataset(ds, "1.2.840.10008.1.2")


@given(st.text(alphabet="ABCDEFGHIJ", max_size=80))
def test_deflated_data_sets_are_even_and_round_trip(name: str) -> None:
    """PS3.5 A.5: an odd deflated stream is padded with one NULL byte, which
    the reader ignores (the deflate stream ends before it)."""
    dataset = Dataset()
    dataset.PatientName = name
    data = encode_dataset(dataset, "1.2.840.10008.1.2.1.99")
    assert len(data) % 2 == 0
    assert decode_dataset(data, "1.2.840.10008.1.2.1.99").PatientName == name


def test_deflate_bomb_is_refused() -> None:
    import zlib

    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    bomb = compressor.compress(bytes(10_000_000)) + compressor.flush()
    assert len(bomb) < 20_000
    with pytest.raises(RemoteProtocolError, match="inflates past 1000000"):
        decode_dataset(bomb, "1.2.840.10008.1.2.1.99", max_inflated_size=1_000_000)


#: (VR, word size, a standard tag of that VR: implicit VR needs the dictionary's).
_WORD_VRS = st.sampled_from(
    [("OW", 2, 0x00281201), ("OL", 4, 0x00660040), ("OF", 4, 0x00660016), ("OD", 8, 0x00660022)]
)


@given(
    _WORD_VRS.flatmap(
        lambda kind: st.tuples(
            st.just((kind[0], kind[2])),
            st.binary(min_size=8, max_size=64).map(lambda b, n=kind[1]: b[: len(b) - len(b) % n]),
        )
    ),
    st.sampled_from(SYNTAXES),
    st.sampled_from(SYNTAXES),
)
def test_word_values_survive_any_chain_of_byte_orders(
    vr_and_value: tuple[tuple[str, int], bytes], first: str, second: str
) -> None:
    """PS3.5 7.3: OW/OL/OF/OD values are words in the syntax's byte order.
    A data set received in one syntax and sent on in another keeps its
    values: the bytes come back in the first syntax as they went."""
    (vr, tag), value = vr_and_value
    ds = Dataset()
    ds.add_new(tag, vr, value)
    item = Dataset()
    item.add_new(tag, vr, value)
    ds.add_new(0x00081140, "SQ", [item])  # nested: swapped too
    received = decode_dataset(encode_dataset(ds, first), first)
    size = {"OW": 2, "OL": 4, "OF": 4, "OD": 8}[vr]
    words = [value[n : n + size] for n in range(0, len(value), size)]
    in_big_endian = b"".join(word[::-1] for word in words)
    big = "1.2.840.10008.1.2.2"
    assert received[tag].value == (in_big_endian if first == big else value)
    forwarded = decode_dataset(encode_dataset(received, second), second)
    assert forwarded[tag].value == (in_big_endian if second == big else value)
    back = decode_dataset(encode_dataset(forwarded, first), first)
    assert back[tag].value == received[tag].value
    assert back[0x00081140].value[0][tag].value == received[tag].value


def test_big_endian_words_are_swapped_into_little_endian() -> None:
    """Pixel Data set in memory keeps pydicom's ambiguous VR "OB or OW",
    resolved (OW for 16 bits) before its words are swapped."""
    ds = Dataset()
    ds.BitsAllocated = 16
    ds.PixelRepresentation = 0
    ds.PixelData = b"\x01\x02\x03\x04"  # built in memory: little endian words 0x0201, 0x0403
    assert ds["PixelData"].VR == "OB or OW"
    big = encode_dataset(ds, "1.2.840.10008.1.2.2")
    assert big.endswith(b"\x02\x01\x04\x03")  # the same words, big endian
    received = decode_dataset(big, "1.2.840.10008.1.2.2")
    assert received.PixelData == b"\x02\x01\x04\x03"  # as pydicom keeps it: file order
    assert encode_dataset(received, "1.2.840.10008.1.2.1").endswith(b"\x01\x02\x03\x04")
    assert ds["PixelData"].VR == "OB or OW"  # the caller's data set is left as it was


def test_lut_data_of_ambiguous_vr_in_a_sequence_is_swapped() -> None:
    """LUT Data ("US or OW") inside a sequence item: resolved against its
    item's LUT Descriptor, then swapped like any OW value."""
    item = Dataset()
    item.LUTDescriptor = [2, 0, 16]
    item.LUTData = b"\x01\x02\x03\x04"
    item["LUTData"].VR = "US or OW"
    ds = Dataset()
    ds.VOILUTSequence = [item]
    big = decode_dataset(encode_dataset(ds, "1.2.840.10008.1.2.2"), "1.2.840.10008.1.2.2")
    value = big.VOILUTSequence[0].LUTData
    # Read as OW bytes in file order, or as US numbers: the words 0x0201, 0x0403 either way.
    assert value in (b"\x02\x01\x04\x03", [0x0201, 0x0403])
