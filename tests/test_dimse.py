"""DIMSE fragmentation and reassembly (dicomul._dimse): PS3.7 6.3, PS3.8 Annex E."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomul import LocalProtocolError, RemoteProtocolError, pdu
from dicomul._command import Command, CommandField
from dicomul._dimse import (
    UNLIMITED_PDU_CAP,
    CommandReceived,
    DataSetFragment,
    Reassembler,
    fragment,
    fragment_size,
)
from dicomul.pdu import PDataTF, PresentationDataValue
from dicomul.testing.strategies import commands

ECHO = Command(
    command_field=CommandField.C_ECHO_RQ, message_id=7, affected_sop_class_uid="1.2.840.10008.1.1"
)
STORE = Command(
    command_field=CommandField.C_STORE_RQ,
    message_id=8,
    affected_sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
    affected_sop_instance_uid="1.2.3.4",
    priority=0,
    command_data_set_type=0,
)


def reassemble(
    pdus: list[PDataTF], contexts: dict[int, object] | None = None
) -> tuple[list[Command], bytes]:
    reassembler = Reassembler(contexts or {1: None, 3: None})
    got_commands, data = [], b""
    for p in pdus:
        for pdv in p.pdvs:
            event = reassembler.feed(pdv)
            if isinstance(event, CommandReceived):
                got_commands.append(event.command)
            elif isinstance(event, DataSetFragment):
                data += bytes(event.data)
    assert reassembler.idle
    return got_commands, data


def test_echo_is_one_command_pdv_marked_last() -> None:
    (only,) = fragment(1, ECHO, max_pdu_length=16382)
    (pdv,) = only.pdvs
    assert pdv.is_command
    assert pdv.is_last
    assert reassemble([only]) == ([ECHO], b"")


def test_store_fragments_respect_the_maximum_and_mark_the_last() -> None:
    data = bytes(range(256)) * 200  # 51,200 bytes
    pdus = list(fragment(1, STORE, data, max_pdu_length=16384))
    assert all(len(pdu.encode(p)) - 6 <= 16384 for p in pdus)
    flags = [(p.pdvs[0].is_command, p.pdvs[0].is_last) for p in pdus]
    assert flags == [(True, True), (False, False), (False, False), (False, False), (False, True)]
    assert reassemble(pdus) == ([STORE], data)


def test_fragments_are_views_of_the_data_set_not_copies() -> None:
    data = bytes(100_000)
    pdus = list(fragment(1, STORE, data, max_pdu_length=16384))
    assert all(p.pdvs[0].data.obj is data for p in pdus[1:])  # type: ignore[union-attr]


def test_empty_data_set_is_one_empty_last_fragment() -> None:
    pdus = list(fragment(1, STORE, b"", max_pdu_length=16384))
    assert [(len(p.pdvs[0].data), p.pdvs[0].is_last) for p in pdus[1:]] == [(0, True)]


def test_unlimited_peer_is_still_capped() -> None:
    assert fragment_size(0) == UNLIMITED_PDU_CAP - 6
    assert fragment_size(2**32 - 1) == UNLIMITED_PDU_CAP - 6
    pdus = list(fragment(1, STORE, bytes(3 * UNLIMITED_PDU_CAP), max_pdu_length=0))
    assert max(len(p.pdvs[0].data) for p in pdus) == UNLIMITED_PDU_CAP - 6


@pytest.mark.parametrize(
    ("command", "data", "match"),
    [(ECHO, b"x", "one was given"), (STORE, None, "none was given")],
)
def test_command_and_data_set_must_agree(command: Command, data: bytes | None, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        list(fragment(1, command, data, max_pdu_length=16384))


def test_tiny_maximum_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="no room"):
        fragment_size(6)


@given(
    st.lists(st.binary(max_size=300), max_size=8),
    st.integers(7, 200),
)
def test_chunked_data_set_arrives_intact(chunks: list[bytes], max_pdu_length: int) -> None:
    pdus = list(fragment(3, STORE, iter(chunks), max_pdu_length=max_pdu_length))
    assert all(len(pdu.encode(p)) - 6 <= max_pdu_length for p in pdus)
    # every data fragment but the last is full: no tiny PDUs at chunk seams
    sizes = [len(p.pdvs[0].data) for p in pdus if not p.pdvs[0].is_command]
    assert all(size == max_pdu_length - 6 for size in sizes[:-1])
    assert reassemble(pdus) == ([STORE], b"".join(chunks))


@given(commands(), st.integers(7, 300), st.binary(max_size=500))
def test_any_command_roundtrips_through_fragments(
    command: Command, max_pdu_length: int, data: bytes
) -> None:
    body = data if command.has_data_set else None
    pdus = [
        pdu.decode(pdu.encode(p))
        for p in fragment(1, command, body, max_pdu_length=max_pdu_length)
    ]
    assert reassemble(pdus) == ([command], data if body is not None else b"")  # type: ignore[arg-type]


def test_streaming_a_large_data_set_keeps_memory_bounded() -> None:
    """50 MiB from a chunk generator, fragmented at 16 KiB and reassembled
    fragment by fragment: peak memory stays a small multiple of one chunk."""
    chunk = bytes(range(256)) * 256  # 64 KiB

    def source() -> Iterator[bytes]:
        for _ in range(800):  # 50 MiB
            yield chunk

    reassembler = Reassembler({1: None})
    received = 0
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        for p in fragment(1, STORE, source(), max_pdu_length=16384):
            wire = pdu.encode(p)
            for pdv in pdu.decode(wire).pdvs:  # type: ignore[union-attr]
                event = reassembler.feed(pdv)
                if isinstance(event, DataSetFragment):
                    digest.update(event.data)
                    received += len(event.data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == 800 * len(chunk)
    assert digest.digest() == hashlib.sha256(chunk * 800).digest()
    assert peak < 1024 * 1024


def _pdv(context_id: int, control: int, data: bytes = b"") -> PresentationDataValue:
    return PresentationDataValue(context_id=context_id, control_header=control, data=data)


def _command_pdvs(command: Command, context_id: int = 1) -> list[PresentationDataValue]:
    return [
        pdv
        for p in fragment(
            context_id, command, b"" if command.has_data_set else None, max_pdu_length=16384
        )
        for pdv in p.pdvs
        if pdv.is_command
    ]


@pytest.mark.parametrize(
    ("pdvs", "match", "reason"),
    [
        ([_pdv(5, 3)], "context 5, which was not accepted", 6),
        ([_pdv(1, 0)], "no command announcing", 5),
        ([_pdv(1, 2, b"x")], "no command announcing", 5),
        ([*_command_pdvs(ECHO), _pdv(1, 2)], "no command announcing", 5),
        ([_pdv(1, 1, b"\x00\x00"), _pdv(1, 2)], "before the command was complete", 5),
        ([*_command_pdvs(STORE), _pdv(3, 2)], "middle of a message on context 1", 5),
        ([*_command_pdvs(STORE), *_command_pdvs(ECHO)], "where the announced data set", 5),
        ([_pdv(1, 1, bytes(40000)), _pdv(1, 1, bytes(40000))], "longer than", 6),
        ([_pdv(1, 3, b"garbage")], "malformed DIMSE command set", 6),
    ],
)
def test_rule_breaking_pdvs_abort(
    pdvs: list[PresentationDataValue], match: str, reason: int
) -> None:
    reassembler = Reassembler({1: None, 3: None})

    def feed_all() -> None:
        for pdv in pdvs:
            reassembler.feed(pdv)

    with pytest.raises(RemoteProtocolError, match=match) as info:
        feed_all()
    assert info.value.abort_reason == reason
