"""DIMSE statuses (dicomul._status): PS3.7 Annex C categories, PS3.4 meanings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomul._status import Status, StatusCategory, status_category, status_meaning


@pytest.mark.parametrize(
    ("code", "category"),
    [
        (0x0000, "Success"),
        (0x0001, "Warning"),
        (0x0107, "Warning"),
        (0x0116, "Warning"),
        (0xB000, "Warning"),
        (0xB007, "Warning"),
        (0xFE00, "Cancel"),
        (0xFF00, "Pending"),
        (0xFF01, "Pending"),
        (0xA700, "Failure"),
        (0xA801, "Failure"),
        (0xC123, "Failure"),
        (0x0110, "Failure"),
        (0x0122, "Failure"),
        (0x0211, "Failure"),
    ],
)
def test_categories(code: int, category: str) -> None:
    assert status_category(code).value == category
    assert Status(code) == category
    assert Status(code) == code
    assert all(Status(code) != other.value for other in StatusCategory if other.value != category)


@pytest.mark.parametrize(
    ("code", "service", "text"),
    [
        (0xA7FE, "store", "out of resources"),
        (0xA900, "store", "does not match SOP Class"),
        (0xC001, "store", "cannot understand"),
        (0xA801, "move", "move destination unknown"),
        (0xC001, "find", "Unable to process"),
        (0x0122, None, "SOP Class not supported"),
        (0xFF01, "find", "optional keys not supported"),
        (0xA123, None, "Failure (0xA123)"),
    ],
)
def test_meanings(code: int, service: str | None, text: str) -> None:
    assert text in status_meaning(code, service)
    assert text in Status(code).meaning(service)


def test_status_is_an_int_and_hashable() -> None:
    assert {Status(0): "ok"}[0] == "ok"
    assert Status(0xFF00) + 1 == 0xFF01
    assert repr(Status(0xFF00)) == "Status(0xFF00 Pending)"
    with pytest.raises(ValueError, match="16-bit"):
        Status(0x10000)


@given(st.integers(0, 0xFFFF))
def test_every_code_has_exactly_one_category(code: int) -> None:
    matches = [c for c in StatusCategory if Status(code) == c.value]
    assert matches == [status_category(code)]
