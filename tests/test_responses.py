"""Responses gathered on the SCU side (dicomul._responses)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomul import (
    CommandField,
    CommandReceived,
    DataSetFragment,
    RemoteProtocolError,
    Response,
    ResponseCollector,
    c_find_rq,
    c_store_rq,
    response_for,
)

FIND = "1.2.840.10008.5.1.4.1.2.1.1"


def received(command: object) -> CommandReceived:
    return CommandReceived(context_id=1, command=command)  # type: ignore[arg-type]


def fragments(data: bytes, cuts: list[int]) -> list[DataSetFragment]:
    cuts = sorted({min(c, len(data)) for c in cuts} - {0, len(data)})
    edges = [0, *cuts, len(data)]
    return [
        DataSetFragment(context_id=1, data=data[a:b], is_last=b == len(data))
        for a, b in itertools.pairwise(edges)
    ]


def drain(collector: ResponseCollector) -> list[Response]:
    out = []
    while (response := collector.next_response()) is not None:
        out.append(response)
    return out


@given(st.lists(st.binary(min_size=1, max_size=200), max_size=5), st.data())
def test_pending_matches_then_the_final_response_in_any_fragmenting(
    matches: list[bytes], data: st.DataObject
) -> None:
    """Each Pending response comes out whole with its identifier however the
    identifier was fragmented; the final one ends the query."""
    request = c_find_rq(3, FIND)
    collector = ResponseCollector()
    for match in matches:
        assert collector.take(received(response_for(request, 0xFF00, with_data_set=True)))
        for piece in fragments(match, data.draw(st.lists(st.integers(0, len(match))))):
            assert collector.take(piece)
    assert collector.take(received(response_for(request, 0x0000)))
    out = drain(collector)
    assert [r.data_set for r in out] == [*matches, None]
    assert [r.is_final for r in out] == [False] * len(matches) + [True]
    assert {r.message_id for r in out} == {3}


def test_requests_of_the_peer_are_left_to_the_caller() -> None:
    collector = ResponseCollector()
    store = c_store_rq(1, "1.2.840.10008.5.1.4.1.1.2", "1.2.3")
    assert not collector.take(received(store))
    assert not collector.take(DataSetFragment(context_id=1, data=b"x", is_last=True))
    assert collector.next_response() is None


def test_a_response_data_set_past_the_cap_is_a_protocol_error() -> None:
    request = c_find_rq(3, FIND)
    collector = ResponseCollector(max_data_set=100)
    collector.take(received(response_for(request, 0xFF00, with_data_set=True)))
    collector.take(DataSetFragment(context_id=1, data=bytes(60), is_last=False))
    with pytest.raises(RemoteProtocolError, match="over 100 bytes"):
        collector.take(DataSetFragment(context_id=1, data=bytes(60), is_last=False))
    assert collector.next_response() is None


def test_a_response_without_status_or_with_a_failure_is_final() -> None:
    request = c_find_rq(3, FIND)
    collector = ResponseCollector()
    collector.take(received(response_for(request, 0xC000)))
    collector.take(received(response_for(request, 0xFF01)))
    failure, pending_warning = drain(collector)
    assert failure.is_final
    assert not pending_warning.is_final
    assert CommandField(failure.command.command_field) == CommandField.C_FIND_RSP
