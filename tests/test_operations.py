"""The query/retrieve SCP operations of the core: what an adapter sends for
each handler outcome (PS3.4 C.4.1.2, C.4.2.2, C.4.3.2; PS3.7 9.1.2-9.1.4)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from dicomul import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    CommandField,
    FindOperation,
    GeneralStatus,
    QueryRetrieveStatus,
    Reply,
    RetrieveOperation,
    Status,
    decode_dataset,
    handler_refusal,
)

TS = EXPLICIT_VR_LITTLE_ENDIAN
PENDING = GeneralStatus.PENDING
SUCCESS = GeneralStatus.SUCCESS
CANCEL = GeneralStatus.CANCEL
UNABLE = QueryRetrieveStatus.UNABLE_TO_PROCESS


class HandlerError(Exception):
    """What a test's handler raises."""


def match(name: str) -> Dataset:
    identifier = Dataset()
    identifier.PatientName = name
    identifier.QueryRetrieveLevel = "PATIENT"
    return identifier


def drive_find(
    items: Sequence[object], *, cancel_at: int | None = None, fail_at: int | None = None
) -> list[Reply]:
    """What an adapter does with a FindOperation: iterate the handler (which
    raises at item ``fail_at``), the peer's C-CANCEL seen from item
    ``cancel_at`` on; the replies it sends."""

    def handler() -> Iterator[object]:
        for n, item in enumerate(items):
            if n == fail_at:
                raise HandlerError
            yield item
        if fail_at is not None and fail_at >= len(items):
            raise HandlerError

    query = FindOperation(TS)
    sent: list[Reply] = []
    try:
        for n, item in enumerate(handler()):
            cancelled = cancel_at is not None and n >= cancel_at
            sent.append(query.match(item, cancelled=cancelled))
            if query.done:
                return sent
        sent.append(query.exhausted())
    except HandlerError:
        sent.append(query.failed())
    return sent


def summary(replies: list[Reply]) -> list[tuple[int, str | None]]:
    """Each reply's status and the PatientName of its identifier."""
    return [
        (r.status, None if r.data_set is None else str(decode_dataset(r.data_set, TS).PatientName))
        for r in replies
    ]


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], [(SUCCESS, None)]),
        ([match("A"), match("B")], [(PENDING, "A"), (PENDING, "B"), (SUCCESS, None)]),
        # PS3.4 C.4.1.1.4: 0xFF01, optional keys not supported, is pending too.
        ([(0xFF01, match("A"))], [(0xFF01, "A"), (SUCCESS, None)]),
        ([(PENDING, match("A"))], [(PENDING, "A"), (SUCCESS, None)]),
        # A non-pending status ends the query with it, identifier-less.
        ([match("A"), (0xA700, None), match("B")], [(PENDING, "A"), (0xA700, None)]),
        ([(QueryRetrieveStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, None)], [(0xA900, None)]),
        ([(SUCCESS, None), match("B")], [(SUCCESS, None)]),
    ],
)
def test_find_replies_to_each_handler_item(
    items: list[object], expected: list[tuple[int, str | None]]
) -> None:
    assert summary(drive_find(items)) == expected


@pytest.mark.parametrize("cancel_at", [0, 1, 2])
def test_find_cancelled_before_a_match_ends_with_cancel(cancel_at: int) -> None:
    """PS3.4 C.4.1.2.3 / PS3.7 9.1.2.1.5: the matches before the C-CANCEL
    were sent; the one after it is not, and the final status is Cancel."""
    replies = drive_find([match("A"), match("B"), match("C")], cancel_at=cancel_at)
    names = ["A", "B", "C"][:cancel_at]
    assert summary(replies) == [(PENDING, n) for n in names] + [(CANCEL, None)]


@pytest.mark.parametrize("fail_at", [0, 1, 2])
def test_find_with_a_failing_handler_ends_unable_to_process(fail_at: int) -> None:
    replies = drive_find([match("A"), match("B")], fail_at=fail_at)
    names = ["A", "B"][:fail_at]
    assert summary(replies) == [(PENDING, n) for n in names] + [(UNABLE, None)]


def test_find_gives_nothing_after_its_final_reply() -> None:
    query = FindOperation(TS)
    assert query.exhausted().is_final
    with pytest.raises(RuntimeError):
        query.match(match("A"), cancelled=False)
    with pytest.raises(RuntimeError):
        query.failed()


def test_find_match_that_cannot_be_encoded_raises_and_leaves_the_query_open() -> None:
    query = FindOperation(TS)
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever pydicom raises
        query.match(object(), cancelled=False)
    assert not query.done
    assert query.failed().status == UNABLE


ITEMS = st.one_of(
    st.builds(match, st.sampled_from(["A", "B"])),
    st.tuples(st.sampled_from([0xFF00, 0xFF01]), st.builds(match, st.just("C"))),
    st.tuples(st.sampled_from([0x0000, 0xA700, 0xA900, 0xC001, 0xFE00]), st.none()),
)


@given(
    st.lists(ITEMS, max_size=6),
    st.none() | st.integers(0, 7),
    st.none() | st.integers(0, 7),
)
def test_find_ends_with_exactly_one_final_reply(
    items: list[object], cancel_at: int | None, fail_at: int | None
) -> None:
    replies = drive_find(items, cancel_at=cancel_at, fail_at=fail_at)
    *pending, final = replies
    assert final.is_final
    assert final.data_set is None
    assert all(not r.is_final and r.data_set is not None for r in pending)
    # The first item that is no match (or the cancel, or the failure) ends it.
    stops = [n for n, i in enumerate(items) if isinstance(i, tuple) and Status(i[0]) != "Pending"]
    ends = [n for n in (cancel_at, fail_at, *stops[:1]) if n is not None and n < len(items)]
    assert len(pending) == (min(ends) if ends else len(items))


# ------------------------------------------------------------- retrieve


def drive_retrieve(
    statuses: Sequence[int | None], *, cancel_at: int | None = None, field: int = 0x0010
) -> tuple[RetrieveOperation, list[Reply]]:
    """What an adapter does with a RetrieveOperation: before sub-operation n
    the peer has cancelled if n >= ``cancel_at``; each C-STORE answers its
    status in ``statuses``."""
    uids = [f"1.2.{n}" for n in range(len(statuses))]
    retrieve = RetrieveOperation(field, TS, uids)
    sent: list[Reply] = []
    for n, status in enumerate(statuses):
        if not retrieve.proceed(cancelled=cancel_at is not None and n >= cancel_at):
            break
        pending = retrieve.performed(status)
        if pending is not None:
            sent.append(pending)
    sent.append(retrieve.final())
    return retrieve, sent


def counts(reply: Reply) -> tuple[int | None, ...]:
    names = ("remaining", "completed", "failed", "warning")
    return tuple(reply.counts.get(f"number_of_{n}_suboperations") for n in names)


def failed_list(reply: Reply) -> list[str] | None:
    if reply.data_set is None:
        return None
    uids = decode_dataset(reply.data_set, TS).FailedSOPInstanceUIDList
    return [uids] if isinstance(uids, str) else list(uids)


@pytest.mark.parametrize("field", [CommandField.C_GET_RQ, CommandField.C_MOVE_RQ])
def test_retrieve_without_matches_is_success_with_no_suboperation(field: int) -> None:
    retrieve, replies = drive_retrieve([], field=field)
    assert retrieve.remaining == 0  # a C-MOVE opens no association
    assert [(r.status, counts(r), r.data_set) for r in replies] == [
        (SUCCESS, (None, 0, 0, 0), None)
    ]


@given(st.lists(st.sampled_from([0x0000, 0xA700, None]), max_size=4), st.booleans())
def test_has_suboperations_is_whether_anything_matched(
    statuses: list[int | None], cancel_first: bool
) -> None:
    """The adapter's question before a C-MOVE opens an association: the
    answer depends on the matches only, not on what was done since (unlike
    :attr:`RetrieveOperation.remaining`, 0 after the last sub-operation too)."""
    uids = [f"1.2.{n}" for n in range(len(statuses))]
    retrieve = RetrieveOperation(CommandField.C_MOVE_RQ, TS, uids)
    assert retrieve.has_suboperations is bool(statuses)
    drive = drive_retrieve(statuses, cancel_at=0 if cancel_first else None)[0]
    assert drive.has_suboperations is bool(statuses)
    assert drive.remaining == (len(statuses) if cancel_first else 0)


@pytest.mark.parametrize(
    ("statuses", "pending_counts", "final_status", "final_counts", "failed"),
    [
        ([0x0000], [], SUCCESS, (None, 1, 0, 0), None),
        ([0x0000, 0x0000], [(1, 1, 0, 0)], SUCCESS, (None, 2, 0, 0), None),
        ([0x0000, 0xB000], [(1, 1, 0, 0)], 0xB000, (None, 1, 0, 1), None),
        ([0xA700, 0x0000], [(1, 0, 1, 0)], 0xB000, (None, 1, 1, 0), ["1.2.0"]),
        ([None, 0xC000], [(1, 0, 1, 0)], 0xA702, (None, 0, 2, 0), ["1.2.0", "1.2.1"]),
        ([0xB007, None, 0x0000], [(2, 0, 0, 1), (1, 0, 1, 1)], 0xB000, (None, 1, 1, 1), ["1.2.1"]),
    ],
)
def test_retrieve_replies_to_each_suboperation(
    statuses: list[int | None],
    pending_counts: list[tuple[int, ...]],
    final_status: int,
    final_counts: tuple[int | None, ...],
    failed: list[str] | None,
) -> None:
    """PS3.4 C.4.2.1.5: a pending response after each sub-operation but the
    last; the final one with the counts and the Failed SOP Instance UID List."""
    _, replies = drive_retrieve(statuses)
    *pending, final = replies
    assert [(r.status, counts(r), r.data_set) for r in pending] == [
        (PENDING, c, None) for c in pending_counts
    ]
    assert (final.status, counts(final), failed_list(final)) == (
        final_status,
        final_counts,
        failed,
    )


@pytest.mark.parametrize("cancel_at", [0, 1, 2])
def test_retrieve_cancelled_before_a_suboperation(cancel_at: int) -> None:
    """PS3.4 C.4.2.3.1: the sub-operations not started are not performed;
    the final response is Cancel with the remaining count."""
    _, replies = drive_retrieve([0x0000, 0x0000, 0x0000], cancel_at=cancel_at)
    *pending, final = replies
    assert [counts(r) for r in pending] == [(3 - n, n, 0, 0) for n in range(1, cancel_at + 1)]
    assert (final.status, counts(final)) == (CANCEL, (3 - cancel_at, cancel_at, 0, 0))


def test_a_cancel_after_the_last_suboperation_changes_nothing() -> None:
    _, replies = drive_retrieve([0x0000], cancel_at=1)
    assert [(r.status, counts(r)) for r in replies] == [(SUCCESS, (None, 1, 0, 0))]


def test_retrieve_refusals() -> None:
    assert RetrieveOperation.destination_unknown().status == 0xA801
    assert RetrieveOperation.failed(CommandField.C_MOVE_RQ).status == UNABLE
    assert RetrieveOperation.failed(CommandField.C_GET_RQ).status == UNABLE
    assert RetrieveOperation.refused(0xA900) == Reply(0xA900)
    assert all(
        r.is_final
        for r in (RetrieveOperation.destination_unknown(), RetrieveOperation.refused(0xA900))
    )


@pytest.mark.parametrize(
    ("items", "refusal"),
    [
        ([], None),
        ([match("A"), "/path/to/file"], None),
        ([match("A"), (0xA900, None)], 0xA900),
        ([(0xC000, None), (0xA700, None)], 0xC000),
    ],
)
def test_handler_refusal(items: list[object], refusal: int | None) -> None:
    assert handler_refusal(items) == refusal


def test_retrieve_performs_no_more_than_its_matches() -> None:
    retrieve, _ = drive_retrieve([0x0000])
    with pytest.raises(RuntimeError):
        retrieve.performed(0x0000)


STORE_STATUSES = st.sampled_from([0x0000, 0xB000, 0xB007, 0xA700, 0xC000, 0x0122, None])


@given(st.lists(STORE_STATUSES, max_size=8), st.none() | st.integers(0, 9))
def test_retrieve_counts_add_up(statuses: list[int | None], cancel_at: int | None) -> None:
    _, replies = drive_retrieve(statuses, cancel_at=cancel_at)
    *pending, final = replies
    assert final.is_final
    assert all(not r.is_final for r in pending)
    total = len(statuses)
    for n, reply in enumerate(pending, start=1):
        remaining, completed, failed, warning = counts(reply)
        assert remaining == total - n
        assert completed + failed + warning == n  # type: ignore[operator]
    performed = total if cancel_at is None else min(cancel_at, total)
    cancelled = performed < total
    assert (final.status == CANCEL) == cancelled
    remaining, completed, failed, warning = counts(final)
    assert remaining == (total - performed if cancelled else None)
    assert completed + failed + warning == performed  # type: ignore[operator]
    expected_failed = [
        f"1.2.{n}"
        for n, s in enumerate(statuses[:performed])
        if s is None or Status(s) not in ("Success", "Warning")
    ]
    assert failed_list(final) == (expected_failed or None)
