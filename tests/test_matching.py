"""PS3.4 C.2.2.2 attribute matching (dicomul._matching): wild cards against a
reference matcher and in bounded time, date and time keys checked against
the formats of PS3.5 6.2, lists and ranges."""

from __future__ import annotations

import datetime
import functools
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomul import InvalidKeyError, WildcardPattern, compile_key, match_attribute


def reference(key: str, value: str) -> bool:
    """Wild card matching by its definition (PS3.4 C.2.2.2.4), character by
    character with every choice tried: exponential without the cache, and
    obviously right."""

    @functools.cache
    def at(i: int, j: int) -> bool:
        if i == len(key):
            return j == len(value)
        if key[i] == "*":
            return at(i + 1, j) or (j < len(value) and at(i, j + 1))
        return j < len(value) and key[i] in ("?", value[j]) and at(i + 1, j + 1)

    return at(0, 0)


@given(st.text(alphabet="ab*?", max_size=12), st.text(alphabet="ab", max_size=12))
def test_wild_cards_match_as_the_definition_says(key: str, value: str) -> None:
    assert WildcardPattern(key).matches(value) is reference(key, value)


@given(st.text(alphabet="aAbB*?.^", max_size=10), st.text(alphabet="aAbB.^\n", max_size=10))
def test_ignoring_case_is_matching_the_lower_case(key: str, value: str) -> None:
    """PN matching ignores case; "." and a new line are characters like any
    (no regular expression leaks through)."""
    got = WildcardPattern(key, ignore_case=True).matches(value)
    assert got is reference(key.lower(), value.lower())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("*?*?*?*?*?*?*?*?*?*?!", "A" * 64),  # the key: C(64, 10) for a backtracker
        ("*?" * 2000 + "!", "a" * 5000),
        ("*a" * 2000 + "b", "a" * 5000),
        ("*" + "?a" * 1000 + "*b", "a" * 5000),
        ("?*" * 500_000, "short"),  # needs more characters than the value has
        ("*" * 1_000_000 + "x", "y" * 1000),
    ],
)
def test_hostile_keys_take_bounded_time(key: str, value: str) -> None:
    """Each of these takes a backtracking matcher longer than the age of
    the universe; here well under a second each (the bound is generous)."""
    started = time.monotonic()
    assert not WildcardPattern(key).matches(value)
    assert WildcardPattern(key).matches(value + "!") is key.endswith("!")
    assert time.monotonic() - started < 5


# --------------------------------------------------------- dates and times


@pytest.mark.parametrize(
    ("key", "vr"),
    [
        ("20240229", "DA"),  # a leap day
        ("20240101-20241231", "DA"),
        ("20240101-", "DA"),
        ("-20241231", "DA"),
        ("08", "TM"),
        ("0830", "TM"),
        ("083059.123456", "TM"),
        ("235960", "TM"),  # a leap second
        ("08:30:00", "TM"),  # the retired ACR-NEMA form
        ("0800-1200", "TM"),
        ("2024", "DT"),
        ("20240101120000.5+0100", "DT"),
        ("20240101-0500", "DT"),  # a negative offset from UTC, no range
        ("2020-2021", "DT"),
        ("20240101120000-0500-20240102", "DT"),
    ],
)
def test_valid_date_and_time_keys(key: str, vr: str) -> None:
    compile_key(key, vr)


@pytest.mark.parametrize(
    ("key", "vr"),
    [
        ("20200101-garbage", "DA"),
        ("garbage-", "DA"),
        ("2020-01-01-", "DA"),
        ("2020-01-01", "DA"),
        ("-", "DA"),
        ("--", "DA"),
        ("2024", "DA"),
        ("20230229", "DA"),  # not a leap year
        ("20241301", "DA"),
        ("20240100", "DA"),
        ("2024010１", "DA"),  # noqa: RUF001 - a full-width digit
        ("2024*", "DA"),  # no wild card for dates
        ("20240101\\garbage", "DA"),
        ("2400", "TM"),
        ("0860", "TM"),
        ("083", "TM"),
        ("083000.1234567", "TM"),
        ("0800-12:00:99", "TM"),
        ("20241", "DT"),
        ("20240101+1500", "DT"),
        ("2024" + "-" * 100_000, "DT"),
    ],
)
def test_invalid_date_and_time_keys_are_refused(key: str, vr: str) -> None:
    """PS3.5 6.2: a key that is not a value of its VR, nor a range of them
    (PS3.4 C.2.2.2.5), is refused rather than matched as a prefix."""
    with pytest.raises(InvalidKeyError):
        compile_key(key, vr)
    assert match_attribute("20240101", key, vr) is False


def as_da(day: datetime.date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


@given(st.dates(), st.dates(), st.dates())
def test_a_date_range_is_the_dates_between(
    low: datetime.date, high: datetime.date, day: datetime.date
) -> None:
    key = f"{as_da(low)}-{as_da(high)}"
    assert compile_key(key, "DA").matches(as_da(day)) is (low <= day <= high)
    assert compile_key(f"{as_da(low)}-", "DA").matches(as_da(day)) is (low <= day)
    assert compile_key(f"-{as_da(high)}", "DA").matches(as_da(day)) is (day <= high)


@given(st.dates(), st.text(min_size=1, max_size=10).filter(lambda t: t.strip(" \0")))
def test_a_range_with_garbage_is_refused(day: datetime.date, garbage: str) -> None:
    """ "20200101-garbage" is no range "from 20200101 on"."""
    stripped = garbage.strip(" \0")
    if "\\" in stripped or compile_key_is_valid(stripped):
        return  # a list, or garbage that happens to be a date
    with pytest.raises(InvalidKeyError):
        compile_key(f"{as_da(day)}-{stripped}", "DA")


def compile_key_is_valid(key: str) -> bool:
    try:
        compile_key(key, "DA")
    except InvalidKeyError:
        return False
    return True


def test_time_ranges_compare_to_the_precision_given() -> None:
    """The upper bound covers its whole last unit: 1030-12 is up to 12:59:59."""
    key = compile_key("1030-12", "TM")
    assert key.matches("125959.999")
    assert not key.matches("130000")
    assert not key.matches("102959")
    assert key.matches("10:30:00")  # a stored value in the ACR-NEMA form


# ------------------------------------------------------- lists and others


def test_lists_universal_and_exact() -> None:
    uids = compile_key("1.2.3\\1.2.4\\", "UI")
    assert uids.exact == {"1.2.3", "1.2.4"}  # the empty element names nothing
    assert uids.exact_only
    assert uids.matches("1.2.4")
    assert not uids.matches("1.2.5")
    assert not uids.matches("")
    assert not compile_key("\\", "UI").matches("1.2.3")
    assert compile_key("", "UI").universal
    assert compile_key("*", "DA").universal  # "*" alone, whatever the VR
    assert compile_key("CT\\*", "CS").matches("")  # "*" in a list: any value
    assert not compile_key("1.2.*", "UI").matches("1.2.3")  # no wild card for UIDs
    assert compile_key("MR", "CS").matches("CT\\MR")  # any of the stored values
    assert compile_key("03", "IS").matches("3")
    assert not compile_key("x", "IS").matches("3")


@given(
    st.text(alphabet="ABC^=*?-\\.0123: ", max_size=20),
    st.text(max_size=20),
    st.sampled_from(["PN", "LO", "CS", "SH", "DA", "TM", "DT", "UI", "IS", "DS", "AE"]),
)
def test_any_key_against_any_value_is_yes_no_or_refused(key: str, value: str, vr: str) -> None:
    """Keys come from the peer: compiling one either works or raises
    InvalidKeyError, and matching is a yes or a no."""
    try:
        matcher = compile_key(key, vr)
    except InvalidKeyError:
        assert vr in ("DA", "TM", "DT")
        return
    assert matcher.matches(value) in (True, False)
    assert match_attribute(value, key, vr) is matcher.matches(value)
