"""A retrieve SCP's sub-operation books (PS3.4 C.4.2.1.5, C.4.3.1.4)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dicomul import SubOperations


def test_cancelled_final_response_carries_the_remaining_count() -> None:
    books = SubOperations(remaining=5)
    books.record("1.1", 0x0000)
    books.record("1.2", 0xB000)  # a warning status (coercion)
    books.cancel()
    status, counts = books.final()
    assert status == 0xFE00
    assert counts == {
        "number_of_remaining_suboperations": 3,
        "number_of_completed_suboperations": 1,
        "number_of_failed_suboperations": 0,
        "number_of_warning_suboperations": 1,
    }


def test_all_failed_is_refused_and_lists_every_uid() -> None:
    books = SubOperations(remaining=2)
    books.record("1.1", None)  # could not be sent
    books.record("1.2", 0xA700)
    status, counts = books.final()
    assert status == 0xA702
    assert "number_of_remaining_suboperations" not in counts
    assert books.failed_uids == ["1.1", "1.2"]


@given(st.lists(st.sampled_from([0x0000, 0x0001, 0xB000, 0xA700, 0xC000, None])))
def test_counts_always_add_up(statuses: list[int | None]) -> None:
    books = SubOperations(remaining=len(statuses) + 3)
    for n, status in enumerate(statuses):
        books.record(f"1.{n}", status)
        pending = books.pending_counts()
        assert sum(pending.values()) == len(statuses) + 3
    assert books.failed == len(books.failed_uids)
    assert books.completed == statuses.count(0x0000)
