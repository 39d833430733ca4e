"""DIMSE command sets (dicomul._command): PS3.7 group 0000 in Implicit VR LE."""

from __future__ import annotations

import json
import pathlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomul import LocalProtocolError, ProtocolError, RemoteProtocolError, pdu
from dicomul._command import (
    NO_DATA_SET,
    REQUIRED_FIELDS,
    Command,
    CommandField,
    decode_command,
    encode_command,
)
from dicomul.testing.strategies import commands

# C-ECHO-RQ, message ID 1, element by element (tag group/element LE, length LE, value).
C_ECHO_RQ = bytes.fromhex(
    "".join(
        [
            "0000 0000 04000000 38000000",  # (0000,0000) Command Group Length = 56
            # (0000,0002) Affected SOP Class UID, padded with a NUL to even length
            "0000 0200 12000000 312e322e3834302e31303030382e312e3100",
            "0000 0001 02000000 3000",  # (0000,0100) Command Field = 0x0030 C-ECHO-RQ
            "0000 1001 02000000 0100",  # (0000,0110) Message ID = 1
            "0000 0008 02000000 0101",  # (0000,0800) Command Data Set Type = 0x0101 (none)
        ]
    ).replace(" ", "")
)


def test_c_echo_rq_bytes() -> None:
    command = Command(
        command_field=CommandField.C_ECHO_RQ,
        message_id=1,
        affected_sop_class_uid="1.2.840.10008.1.1",
    )
    assert encode_command(command) == C_ECHO_RQ
    assert decode_command(C_ECHO_RQ) == command
    assert not command.has_data_set
    assert not command.is_response


def _captured_commands() -> list[tuple[str, bytes]]:
    """Every command set DCMTK and pynetdicom sent in the recorded sessions."""
    records = json.loads(
        (pathlib.Path(__file__).parent / "data" / "captured_pdus.json").read_text()
    )
    found: dict[bytes, str] = {}
    for record in sorted(records, key=lambda r: (r["scenario"], r["direction"], r["index"])):
        data = bytes.fromhex(record["hex"])
        if data[0] != 4:
            continue
        fragments = b""
        for pdv in pdu.decode(data).pdvs:  # type: ignore[union-attr]
            if pdv.is_command:
                fragments += bytes(pdv.data)
                if pdv.is_last:
                    found.setdefault(fragments, record["peer"])
                    fragments = b""
    return [(peer, raw) for raw, peer in found.items()]


CAPTURED = _captured_commands()


def test_peers_sent_echo_and_store_commands_both_ways() -> None:
    fields = {decode_command(raw).command_field for _, raw in CAPTURED}
    assert fields >= {0x0030, 0x8030, 0x0001, 0x8001}


@pytest.mark.parametrize(("peer", "raw"), CAPTURED, ids=[p for p, _ in CAPTURED])
def test_real_peers_commands_reencode_byte_for_byte(peer: str, raw: bytes) -> None:
    assert encode_command(decode_command(raw)) == raw


def test_c_store_rq_carries_a_data_set() -> None:
    command = next(
        decode_command(raw) for _, raw in CAPTURED if decode_command(raw).command_field == 0x0001
    )
    assert command.has_data_set
    assert command.priority == 0
    assert command.affected_sop_instance_uid


@pytest.mark.parametrize("field", sorted(REQUIRED_FIELDS), ids=lambda f: CommandField(f).name)
def test_each_required_field_is_enforced(field: int) -> None:
    for name in REQUIRED_FIELDS[field]:
        with pytest.raises(LocalProtocolError, match=name):
            Command(command_field=field, command_data_set_type=0)


def test_data_set_is_required_where_ps37_says_m() -> None:
    with pytest.raises(LocalProtocolError, match="command_data_set_type"):
        Command(
            command_field=CommandField.C_FIND_RQ,
            message_id=1,
            affected_sop_class_uid="1.2.840.10008.5.1.4.1.2.1.1",
            priority=0,
            command_data_set_type=NO_DATA_SET,
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"command_field": 0x1234}, "not a DIMSE command field"),
        (
            {
                "command_field": CommandField.C_ECHO_RSP,
                "message_id_being_responded_to": 1,
                "status": 70000,
            },
            "status",
        ),
        (
            {
                "command_field": CommandField.C_ECHO_RSP,
                "message_id_being_responded_to": 1,
                "status": 0,
                "extra_elements": ((0x0110, b"\x01\x00"),),
            },
            "extra element",
        ),
    ],
)
def test_bad_values_are_local_misuse(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        Command(**kwargs)  # type: ignore[arg-type]


def test_unknown_elements_are_kept_in_order() -> None:
    extra = (
        C_ECHO_RQ[:8]
        + struct.pack("<L", 56 + 10)
        + C_ECHO_RQ[12:]
        + bytes.fromhex("0000 0099 02000000 abcd".replace(" ", ""))
    )
    command = decode_command(extra)
    assert command.extra_elements == ((0x9900, b"\xab\xcd"),)
    assert encode_command(command) == extra


def _element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHL", 0, element, len(value)) + value


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (C_ECHO_RQ[:-1], "overruns"),
        (C_ECHO_RQ + b"\x00\x00", "stray bytes"),
        (C_ECHO_RQ + struct.pack("<HHL", 8, 0x10, 0), "not in group 0000"),
        (_element(0x0100, b"\x30"), "not 2"),
        (_element(0x0800, b"\x01\x01"), "no Command Field"),
        (_element(0x0100, b"\x30\x00"), "no Command Data Set Type"),
        (_element(0x0100, b"\x30\x00") + _element(0x0800, b"\x01\x01"), "message_id"),
    ],
)
def test_malformed_commands_from_a_peer(data: bytes, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match) as info:
        decode_command(data)
    assert info.value.abort_reason == 6


@given(commands())
def test_roundtrip(command: Command) -> None:
    assert decode_command(encode_command(command)) == command


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_protocol_error(data: bytes) -> None:
    try:
        command = decode_command(data)
    except ProtocolError:
        return
    assert decode_command(encode_command(command)) == command
