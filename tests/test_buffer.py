"""dicomul.ReceiveBuffer: framing a byte stream into PDUs, however it is chunked."""

from __future__ import annotations

import gc
import struct
import sys
import tracemalloc
from collections.abc import Callable
from types import FrameType
from unittest import mock

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dicomul import PDUDecodeError, PDUTooLargeError, ProtocolError, ReceiveBuffer, _buffer, pdu
from dicomul.pdu import AbortRQ, PDataTF, PresentationDataValue, ReleaseRQ
from dicomul.testing.strategies import pdu_streams


def drain(buf: ReceiveBuffer) -> list[pdu.PDU]:
    out = []
    while (item := buf.next_pdu()) is not None:
        out.append(item)
    return out


def feed_in_pieces(data: bytes, cuts: list[int], **limits: int | None) -> list[pdu.PDU]:
    buf = ReceiveBuffer(**limits)  # type: ignore[arg-type]
    out = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        buf.feed(data[start:cut])
        out += drain(buf)
        start = cut
    assert len(buf) == 0
    return out


@given(pdu_streams(), st.data())
def test_any_chunking_gives_the_same_pdus(
    stream: tuple[list[pdu.PDU], bytes], data: st.DataObject
) -> None:
    pdus, wire = stream
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=20))
    assert feed_in_pieces(wire, cuts) == pdus


@given(pdu_streams(max_size=3))
def test_one_byte_at_a_time(stream: tuple[list[pdu.PDU], bytes]) -> None:
    pdus, wire = stream
    assume(len(wire) <= 8192)  # a Python call per byte: keep the deep profile quick
    assert feed_in_pieces(wire, list(range(len(wire)))) == pdus


def test_many_pdus_in_one_read_and_a_header_split_across_reads() -> None:
    wire = pdu.encode(ReleaseRQ()) * 3 + pdu.encode(AbortRQ(source=2, reason=1))
    buf = ReceiveBuffer()
    buf.feed(wire[:33])  # three PDUs and 3 bytes of the fourth's header
    assert drain(buf) == [ReleaseRQ()] * 3
    buf.feed(wire[33:35])
    assert buf.next_pdu() is None
    buf.feed(wire[35:])
    assert drain(buf) == [AbortRQ(source=2, reason=1)]


def test_huge_length_is_refused_at_the_header_without_allocating() -> None:
    buf = ReceiveBuffer()
    tracemalloc.start()
    try:
        buf.feed(struct.pack(">BBL", 4, 0, 0xFFFFFFFF))
        with pytest.raises(PDUTooLargeError) as info:
            buf.next_frame()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024
    assert info.value.length == 0xFFFFFFFF
    assert info.value.abort_reason == 6  # invalid-PDU-parameter value, PS3.8 Table 9-26


def test_limits_apply_per_pdu_type() -> None:
    pdata = pdu.encode(
        PDataTF(pdvs=(PresentationDataValue(context_id=1, control_header=3, data=bytes(100)),))
    )
    release = pdu.encode(ReleaseRQ())
    buf = ReceiveBuffer(max_pdata_length=106, max_control_length=4)
    buf.feed(pdata + release)
    assert len(drain(buf)) == 2
    small = ReceiveBuffer(max_pdata_length=105)
    small.feed(pdata[:6])
    with pytest.raises(PDUTooLargeError, match="more than the maximum of 105"):
        small.next_frame()
    control = ReceiveBuffer(max_control_length=3)
    control.feed(release)
    with pytest.raises(PDUTooLargeError):
        control.next_frame()
    unlimited = ReceiveBuffer(max_pdata_length=None)
    unlimited.feed(struct.pack(">BBL", 4, 0, 0xFFFFFFFF))
    assert unlimited.next_frame() is None  # waits for the bytes; allocates nothing


def test_whole_pdu_in_one_read_is_handed_out_without_a_copy() -> None:
    wire = pdu.encode(
        PDataTF(pdvs=(PresentationDataValue(context_id=1, control_header=2, data=bytes(131072)),))
    )
    buf = ReceiveBuffer()
    buf.feed(wire)
    frame = buf.next_frame()
    assert isinstance(frame, memoryview)
    assert frame.obj is wire


def test_reused_read_buffer_is_copied_on_feed() -> None:
    scratch = bytearray(pdu.encode(ReleaseRQ()))
    buf = ReceiveBuffer()
    buf.feed(scratch)
    scratch[0] = 0x07  # the caller reuses its buffer for the next read
    assert buf.next_pdu() == ReleaseRQ()


def test_a_pdu_that_fails_to_decode_is_consumed() -> None:
    buf = ReceiveBuffer()
    buf.feed(bytes.fromhex("0800000000020000") + pdu.encode(ReleaseRQ()))
    with pytest.raises(PDUDecodeError, match="unrecognised PDU type 0x08"):
        buf.next_pdu()
    assert buf.next_pdu() == ReleaseRQ()


def count_steps(fn: Callable[[], object]) -> int:
    """Python lines executed and functions called while running ``fn``.

    A per-byte Python loop would show up as lines executed per byte.  The
    garbage collector is held off meanwhile: a collection falling inside
    ``fn`` (when depends on every test run before) would run finalizers
    and count their lines.
    """
    steps = 0

    def tracer(frame: FrameType, event: str, arg: object) -> Callable[..., object]:
        nonlocal steps
        steps += 1
        return tracer

    def profiler(frame: FrameType, event: str, arg: object) -> None:
        nonlocal steps
        if event == "c_call":
            steps += 1

    collecting = gc.isenabled()
    gc.disable()
    sys.settrace(tracer)
    sys.setprofile(profiler)
    try:
        fn()
    finally:
        sys.settrace(None)
        sys.setprofile(None)
        if collecting:
            gc.enable()
    return steps


@pytest.mark.parametrize("size", [16, 128 * 1024, 4 * 1024 * 1024 - 6])
def test_framing_and_decoding_cost_does_not_grow_with_pdu_size(size: int) -> None:
    """O(1) Python operations per PDU: a 4 MiB P-DATA-TF costs the same number
    of calls as a 16-byte one."""

    def frame_and_decode(wire: bytes) -> Callable[[], object]:
        def run() -> object:
            buf = ReceiveBuffer()
            buf.feed(wire)
            return buf.next_pdu()

        return run

    def wire(n: int) -> bytes:
        return pdu.encode(
            PDataTF(pdvs=(PresentationDataValue(context_id=1, control_header=2, data=bytes(n)),))
        )

    frame_and_decode(wire(size))()  # warm up: first-call work (caches) is not per-PDU cost
    baseline = count_steps(frame_and_decode(wire(16)))
    assert count_steps(frame_and_decode(wire(size))) == baseline


def test_after_a_refused_header_the_stream_is_dropped() -> None:
    """No resynchronisation is possible after a refused header: the buffer
    keeps refusing nothing new and holds nothing (an engine reading it in a
    loop must not see the same error again and again)."""
    buf = ReceiveBuffer(max_control_length=100)
    buf.feed(struct.pack(">BBL", 1, 0, 1000) + pdu.encode(ReleaseRQ()))
    with pytest.raises(PDUTooLargeError):
        buf.next_frame()
    assert len(buf) == 0
    buf.feed(pdu.encode(ReleaseRQ()))
    assert buf.next_frame() is None


# ------------------------------------------------- long P-DATA-TFs, streamed


pdv_lists = st.lists(
    st.builds(
        PresentationDataValue,
        context_id=st.sampled_from([1, 3, 5]),
        control_header=st.sampled_from([0, 1, 2, 3]),
        data=st.binary(max_size=300),
    ),
    min_size=1,
    max_size=6,
)


@given(pdv_lists, st.lists(st.integers(0, 2000), max_size=20), st.integers(0, 100))
def test_a_long_p_data_tf_comes_out_in_pieces_with_the_same_pdvs(
    pdvs: list[PresentationDataValue], cuts: list[int], threshold: int
) -> None:
    """Streamed (above ``stream_pdata_above``), a P-DATA-TF comes out as the
    bytes arrive; joining each PDV's pieces gives the PDU's PDVs, and only a
    PDV's final piece carries its "last" bit."""
    encoded = PDataTF(pdvs=tuple(pdvs)).encode() + ReleaseRQ().encode()
    cuts = [min(c, len(encoded)) for c in cuts]
    whole = feed_in_pieces(encoded, [])
    pieces = feed_in_pieces(encoded, cuts, stream_pdata_above=threshold)
    assert pieces[-1] == ReleaseRQ()
    assert isinstance(whole[0], PDataTF)
    expected = [(p.context_id, p.control_header, bytes(p.data)) for p in whole[0].pdvs]
    rebuilt: list[tuple[int, int, bytes]] = []
    want = iter(expected)
    current: tuple[int, int, bytes] | None = None
    for item in pieces[:-1]:
        assert isinstance(item, PDataTF)
        for piece in item.pdvs:
            if current is None:
                current = next(want)
                collected = b""
            collected += bytes(piece.data)
            assert piece.context_id == current[0]
            assert piece.is_command == bool(current[1] & 1)
            if len(collected) == len(current[2]):
                assert piece.control_header == current[1]  # the final piece: as sent
                rebuilt.append((piece.context_id, piece.control_header, collected))
                current = None
            else:
                assert not piece.is_last  # a piece with more to come
    assert rebuilt == expected


def test_a_streamed_p_data_tf_holds_no_more_than_one_read() -> None:
    """300 MiB announced, 64 KiB arriving at a time: each piece is handed out
    as it comes, and the buffer is empty between reads."""
    length = 300 << 20
    buf = ReceiveBuffer(max_pdata_length=None, stream_pdata_above=1 << 20)
    buf.feed(struct.pack(">BBL", 4, 0, length) + struct.pack(">LBB", length - 4, 1, 0x02))
    assert buf.next_pdu() is None
    chunk = bytes(65536)
    for _ in range(16):
        buf.feed(chunk)
        piece = buf.next_pdu()
        assert isinstance(piece, PDataTF)
        assert [len(p.data) for p in piece.pdvs] == [65536]
        assert not piece.pdvs[0].is_last
        assert len(buf) == 0
        assert buf.next_pdu() is None


def _drain_all(buf: ReceiveBuffer) -> None:
    while buf.next_pdu() is not None:
        pass


@pytest.mark.parametrize(
    ("body", "message", "offset"),
    [
        (struct.pack(">LBB", 1, 1, 0) + bytes(2000), "less than 2", 6),
        (struct.pack(">LBB", 5000, 1, 0) + bytes(2000), "overruns the PDU", 6),
        (struct.pack(">LBB", 1996, 1, 0) + bytes(1994) + bytes(3), "too few for a PDV", 2006),
    ],
)
def test_a_malformed_streamed_p_data_tf_is_refused_at_its_offset(
    body: bytes, message: str, offset: int
) -> None:
    encoded = struct.pack(">BBL", 4, 0, len(body)) + body
    buf = ReceiveBuffer(stream_pdata_above=100)
    buf.feed(encoded)
    with pytest.raises(PDUDecodeError, match=message) as raised:
        _drain_all(buf)
    assert raised.value.offset == offset
    buf.feed(ReleaseRQ().encode())  # the stream cannot be followed any more
    assert buf.next_pdu() is None


def _framed_or_refused(buf: ReceiveBuffer, data: bytes) -> list[object]:
    """What a framer makes of ``data``: each PDU, or the error it raised."""
    out: list[object] = []
    buf.feed(data)
    while True:
        try:
            item = buf.next_pdu()
        except ProtocolError as exc:
            out.append((type(exc), str(exc)))
            continue
        if item is None:
            return out
        out.append(item)


@given(
    st.lists(
        st.binary(max_size=40)
        | st.builds(
            lambda length, body: struct.pack(">BBL", 4, 0, length) + body,
            st.integers(0, 60),
            st.binary(max_size=60),
        ),
        max_size=8,
    ),
    st.lists(st.integers(0, 400), max_size=10),
    st.sampled_from([None, 0, 8]),
)
def test_arbitrary_bytes_frame_as_decode_reads_them(
    pieces: list[bytes], cuts: list[int], stream_above: int | None
) -> None:
    """The framer decodes a P-DATA-TF itself, without decode()'s header
    checks (issue 16): whatever the bytes and their chunking, it raises only
    protocol errors, and a stream it frames whole gives what decode() gives
    for each PDU it cuts."""
    wire = b"".join(pieces)
    buf = ReceiveBuffer(stream_pdata_above=stream_above)
    start = 0
    got: list[object] = []
    for cut in [*sorted(c for c in cuts if c <= len(wire)), len(wire)]:
        got += _framed_or_refused(buf, wire[start:cut])
        start = cut
    if stream_above is None:
        expected: list[object] = []
        pos = 0
        while len(wire) - pos >= 6:
            (length,) = struct.unpack_from(">L", wire, pos + 2)
            if len(wire) - pos - 6 < length:
                break
            frame = wire[pos : pos + 6 + length]
            try:
                expected.append(pdu.decode(frame))
            except ProtocolError as exc:
                expected.append((type(exc), str(exc)))
            pos += 6 + length
        assert [g for g in got if not isinstance(g, tuple) or g[0] is not PDUTooLargeError] == (
            expected[: len(got)]
        )


@given(
    pdu_streams(),
    st.lists(st.integers(1, 3000), min_size=1, max_size=30),
    st.lists(st.booleans(), max_size=30),
    st.integers(0, 200),
    st.sampled_from([None, 0, 100]),
)
def test_reading_into_pdu_buffer_gives_the_same_pdus_as_feed(
    stream: tuple[list[pdu.PDU], bytes],
    reads: list[int],
    fed: list[bool],
    read_into_above: int,
    stream_above: int | None,
) -> None:
    """Reads of any size, into the buffer pdu_buffer gives whenever it gives
    one (else fed, and fed bytes mixed in anyway), with PDUs read in place
    above any size: the PDUs that feeding the same reads gives (the same
    PDUs, unless long ones are streamed in pieces), none left over."""
    pdus, wire = stream
    buf = ReceiveBuffer(stream_pdata_above=stream_above)
    reference = ReceiveBuffer(stream_pdata_above=stream_above)
    out: list[pdu.PDU] = []
    expected: list[pdu.PDU] = []
    pos = 0
    turn = 0
    with mock.patch.object(_buffer, "READ_INTO_PDU_ABOVE", read_into_above):
        while pos < len(wire):
            size = reads[turn % len(reads)]
            target = buf.pdu_buffer(1024)
            if target is None or (fed and fed[turn % len(fed)]):
                n = min(size, len(wire) - pos)
                buf.feed(wire[pos : pos + n])
            else:
                n = min(size, len(target), len(wire) - pos)
                target[:n] = wire[pos : pos + n]
                buf.buffer_updated(n)
            reference.feed(wire[pos : pos + n])
            pos += n
            turn += 1
            out += drain(buf)
            expected += drain(reference)
    assert out == expected
    if stream_above is None:
        assert out == pdus
    assert len(buf) == 0


def test_a_large_pdu_is_read_into_a_buffer_of_its_size() -> None:
    """The rest of a 1 MiB P-DATA-TF, once its header is in, is read into the
    buffer it is decoded from: its PDV's data is a view of that buffer."""
    data = bytes(range(256)) * 4096
    wire = pdu.encode(
        PDataTF(pdvs=(PresentationDataValue(context_id=1, control_header=0, data=data),))
    )
    buf = ReceiveBuffer()
    assert buf.pdu_buffer() is None  # nothing known yet: read and feed
    buf.feed(wire[:65536])
    assert buf.next_pdu() is None
    pos = 65536
    target = None
    while pos < len(wire):
        target = buf.pdu_buffer(65536)
        assert target is not None
        assert len(target) == min(65536, len(wire) - pos)  # a read's worth at most
        target[:] = wire[pos : pos + len(target)]
        buf.buffer_updated(len(target))
        pos += len(target)
    assert target is not None
    (pdv,) = buf.next_pdu().pdvs  # type: ignore[union-attr]
    assert pdv.data == data
    assert isinstance(pdv.data, memoryview)
    assert pdv.data.obj is target.obj  # decoded where it was read, not joined
    assert pdv.data.readonly
    assert buf.pdu_buffer() is None
