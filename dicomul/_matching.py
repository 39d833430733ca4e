"""Attribute matching of the Query/Retrieve service class (PS3.4 C.2.2.2).

Theory of operation
-------------------
A C-FIND, C-GET or C-MOVE key comes from the peer, so matching it must cost
time in proportion to what is matched, whatever the key.  A key is compiled
once per request (:func:`compile_key`), which also checks it (a date, time or
date-time key must have the format of its VR, PS3.5 6.2: ``20200101-garbage``
is no range), and the compiled :class:`KeyMatcher` is then applied to each
stored value.

The kinds of matching (PS3.4 C.2.2.2): universal (an empty key, or ``*``),
single value, list of values (backslash-separated; list of UID matching,
C.2.2.2.2), range (``A-B``, ``A-``, ``-B``, for DA, TM and DT, C.2.2.2.5) and
wild card (``*`` and ``?``, C.2.2.2.4, for the VRs that allow it).

Wild cards are matched without regular-expression backtracking
(:class:`WildcardPattern`): the key is cut at each ``*`` into segments of
fixed length (literal characters and ``?``).  The first segment must match
at the start of the value, the last at its end, and each middle one is
placed at its leftmost match after the previous one.  Leftmost placement is
exact: a segment ending as early as possible leaves the most room for the
rest, so if any placement matches, this one does.  Each segment is searched
once, so a value costs at most ``O(len(key) * len(value))`` character
comparisons, and nothing at all when the key needs more characters than the
value has.

Person names (PN), whose single value and wild card matching PS3.4 C.2.2.2.1
and C.2.2.2.4 leave to the implementation, match ignoring case and trailing
empty components (``DOE^JOHN^^`` is ``DOE^JOHN``), component group by
component group: a key without ``=`` matches the alphabetic group alone, so
``DOE^JOHN`` and ``DOE*`` find ``Doe^John=山田^太郎=やまだ^たろう``; a key
with groups matches each group it gives (an empty group matches any).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ._record import dataclass

__all__ = [
    "RANGE_VRS",
    "WILDCARD_VRS",
    "InvalidKeyError",
    "KeyMatcher",
    "WildcardPattern",
    "compile_key",
    "match_attribute",
]

#: The VRs whose keys may hold ``*`` and ``?`` as wild cards (PS3.4 C.2.2.2.4
#: lists those that may not: dates, times, numbers, binary VRs, AT, AS, UI).
WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
#: The VRs with range matching (PS3.4 C.2.2.2.5).
RANGE_VRS = frozenset({"DA", "TM", "DT"})
_NUMBER_VRS = frozenset({"IS", "DS"})
_PADDING = " \0"


class InvalidKeyError(ValueError):
    """A key that is not a valid value of its VR (PS3.5 6.2), nor a range of
    them: the identifier does not match the SOP class (PS3.4 C.4.1.1.4)."""


# ------------------------------------------------------------- wild cards


def _collapse_stars(key: str) -> str:
    """``key`` with each run of ``*`` made one (same meaning, shorter)."""
    return re.sub(r"\*+", "*", key)


def _segment(text: str, flags: int) -> tuple[re.Pattern[str], int]:
    """A fixed-length segment (literals and ``?``) as a pattern without any
    quantifier, so searching it never backtracks; and its length."""
    body = "".join("." if c == "?" else re.escape(c) for c in text)
    return re.compile(body, flags), len(text)


class WildcardPattern:
    """A wild card key (PS3.4 C.2.2.2.4): ``*`` matches any sequence of
    characters, including none; ``?`` any single character.

    Matching never backtracks: see the module's theory of operation.

    >>> WildcardPattern("D*JO?N").matches("DOE^JOHN")
    True
    >>> WildcardPattern("*?*?*?*?*?*?*?*?*?*?!").matches("A" * 30)
    False
    """

    __slots__ = ("_flags", "_key", "_needed", "_segments")

    def __init__(self, key: str, *, ignore_case: bool = False) -> None:
        self._key = _collapse_stars(key)
        #: Each character but ``*`` takes exactly one character of the value.
        self._needed = len(self._key) - self._key.count("*")
        self._flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
        # Compiled at the first value long enough to match: a huge key that
        # no value can satisfy is never cut up.
        self._segments: list[tuple[re.Pattern[str], int]] | None = None

    def matches(self, value: str) -> bool:
        """Whether the whole of ``value`` matches the key."""
        if len(value) < self._needed:
            return False
        if self._segments is None:
            self._segments = [_segment(s, self._flags) for s in self._key.split("*")]
        segments = self._segments
        if len(segments) == 1:
            return segments[0][0].fullmatch(value) is not None
        (first, first_len), *middle, (last, last_len) = segments
        if first.match(value) is None:
            return False
        position, end = first_len, len(value) - last_len
        for pattern, _ in middle:
            found = pattern.search(value, position, end)
            if found is None:
                return False
            position = found.end()
        return last.fullmatch(value, end) is not None


# ------------------------------------------------------- dates and times


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _valid_date(year: str, month: str | None, day: str | None) -> bool:
    if month is None:
        return True
    if not 1 <= int(month) <= 12:
        return False
    return day is None or 1 <= int(day) <= _days_in_month(int(year), int(month))


def _valid_time(hour: str | None, minute: str | None, second: str | None) -> bool:
    """PS3.5 6.2: hours 00-23, minutes 00-59, seconds 00-60 (a leap second)."""
    return (
        (hour is None or int(hour) <= 23)
        and (minute is None or int(minute) <= 59)
        and (second is None or int(second) <= 60)
    )


_DA = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_TM = re.compile(r"([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.[0-9]{1,6})?)?)?")
_DT = re.compile(
    r"([0-9]{4})(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})"
    r"(?:([0-9]{2})(?:\.[0-9]{1,6})?)?)?)?)?)?(?:[+-]([0-9]{2})([0-9]{2}))?"
)


def _is_da(text: str) -> bool:
    """YYYYMMDD (PS3.5 6.2, DA)."""
    found = _DA.fullmatch(text)
    return found is not None and _valid_date(*found.groups())


def _is_tm(text: str) -> bool:
    """HH, HHMM, HHMMSS or HHMMSS.F to FFFFFF (PS3.5 6.2, TM)."""
    found = _TM.fullmatch(text)
    return found is not None and _valid_time(*found.groups())


def _is_dt(text: str) -> bool:
    """YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]] and an optional &ZZXX offset from
    UTC, -1200 to +1400 (PS3.5 6.2, DT)."""
    found = _DT.fullmatch(text)
    if found is None:
        return False
    year, month, day, hour, minute, second, zone_hours, zone_minutes = found.groups()
    if zone_hours is not None and (int(zone_hours) > 14 or int(zone_minutes) > 59):
        return False
    return _valid_date(year, month, day) and _valid_time(hour, minute, second)


_FORMATS: dict[str, Callable[[str], bool]] = {"DA": _is_da, "TM": _is_tm, "DT": _is_dt}
#: The longest value of each (a TM with the colons of HH:MM:SS.FFFFFF).
_LONGEST = {"DA": 8, "TM": 15, "DT": 26}


def _normalized(text: str, vr: str) -> str:
    """A TM without the colons of the retired ACR-NEMA form HH:MM:SS."""
    return text.replace(":", "") if vr == "TM" else text


def _range(key: str, vr: str) -> tuple[str, str]:
    """The bounds of a range key (PS3.4 C.2.2.2.5), each empty or a valid
    value of ``vr``; at least one given.  A DT's offset from UTC may hold a
    ``-`` too: the range's is the one whose sides are both valid."""
    valid = _FORMATS[vr]
    for at in (i for i, c in enumerate(key) if c == "-"):
        low, high = _normalized(key[:at], vr), _normalized(key[at + 1 :], vr)
        if (low or high) and (not low or valid(low)) and (not high or valid(high)):
            return low, high
    raise InvalidKeyError(f"{key!r} is no range of {vr} values (PS3.4 C.2.2.2.5)")


# -------------------------------------------------------------- matchers

#: One element of a key (no backslash) against one stored value.
_Element = Callable[[str], bool]


def _range_element(key: str, vr: str) -> _Element:
    low, high = _range(key, vr)

    def in_range(value: str) -> bool:
        value = _normalized(value, vr)
        # The upper bound compares to its own precision: "1030-12" includes 12:59:59.
        above = not low or value >= low
        return bool(value) and above and (not high or value[: len(high)] <= high)

    return in_range


def _name_groups(name: str) -> list[str]:
    """A person name's component groups (alphabetic, ideographic, phonetic;
    PS3.5 6.2.1), each without trailing empty components."""
    return [group.rstrip("^ ") for group in name.split("=", 2)]


def _same_name(group: str) -> _Element:
    wanted = group.casefold()
    return lambda stored: stored.casefold() == wanted


def _name_element(key: str) -> _Element:
    """PN matching, case-insensitive, component group by component group."""
    groups: list[tuple[int, _Element]] = []
    for n, group in enumerate(_name_groups(key)):
        if group in ("", "*"):
            continue  # nothing asked of this group
        if "*" in group or "?" in group:
            groups.append((n, WildcardPattern(group, ignore_case=True).matches))
        else:
            groups.append((n, _same_name(group)))

    def matches(value: str) -> bool:
        stored = _name_groups(value)
        return all(test(stored[n] if n < len(stored) else "") for n, test in groups)

    return matches


def _number_element(key: str) -> _Element:
    """IS and DS single values compare as numbers (``03`` is ``3``)."""
    try:
        number = float(key)
    except ValueError:
        return key.__eq__

    def matches(value: str) -> bool:
        try:
            return float(value) == number
        except ValueError:
            return value == key

    return matches


def _element(key: str, vr: str) -> _Element | str:
    """A matcher for one key element, or the element itself when matching
    is plain equality (collected into one set)."""
    if vr in _FORMATS:
        if _FORMATS[vr](_normalized(key, vr)):
            return _normalized(key, vr)  # a DT with a negative UTC offset is no range
        if "-" in key and len(key) <= 2 * _LONGEST[vr] + 1:
            return _range_element(key, vr)
        raise InvalidKeyError(f"{key!r} is not a {vr} value (PS3.5 6.2)")
    if vr == "PN":
        return _name_element(key)
    if vr in WILDCARD_VRS and ("*" in key or "?" in key):
        return WildcardPattern(key).matches
    if vr in _NUMBER_VRS:
        return _number_element(key)
    return _normalized(key, vr)


@dataclass(frozen=True, slots=True)
class KeyMatcher:
    """A compiled key: :meth:`matches` tells whether a stored value matches it.

    ``exact`` holds the key's elements matched by equality (a UID list: one
    set lookup per value); ``others`` the rest.  A universal key has neither.
    """

    vr: str
    universal: bool
    exact: frozenset[str]
    others: tuple[_Element, ...]

    def matches(self, value: str | None) -> bool:
        """Whether ``value`` (backslash-separated if multi-valued) matches:
        any of its values matches any element of the key.  An empty value
        matches only a universal key."""
        if self.universal:
            return True
        for each in (value or "").split("\\"):
            stored = _normalized(each.strip(_PADDING), self.vr)
            if stored in self.exact or any(test(stored) for test in self.others):
                return True
        return False

    @property
    def exact_only(self) -> bool:
        """True if every element of the key is a value matched by equality
        (so a database may narrow candidates with ``IN``)."""
        return not self.universal and not self.others


def compile_key(key: str | None, vr: str) -> KeyMatcher:
    """Compile the key of an attribute of ``vr`` (PS3.4 C.2.2.2).

    Raises :class:`InvalidKeyError` for a date, time or date-time key that
    is neither a value of its VR nor a range of them (PS3.5 6.2).

    >>> compile_key("20200101-20201231", "DA").matches("20200615")
    True
    >>> compile_key("2020-01-01", "DA")
    Traceback (most recent call last):
    ...
    dicomul._matching.InvalidKeyError: '2020-01-01' is no range of DA values (PS3.4 C.2.2.2.5)
    """
    key = (key or "").strip(_PADDING)
    if key.strip("*") == "":  # universal matching, or "*" alone (any VR)
        return KeyMatcher(vr, universal=True, exact=frozenset(), others=())
    exact: set[str] = set()
    others: list[_Element] = []
    universal = False
    for each in key.split("\\"):
        element = each.strip(_PADDING)
        if element == "":
            continue  # an empty element of a list names nothing
        if element.strip("*") == "" and vr in WILDCARD_VRS:
            universal = True  # "*" in a list matches any value
            continue
        compiled = _element(element, vr)
        if isinstance(compiled, str):
            exact.add(compiled)
        else:
            others.append(compiled)
    return KeyMatcher(vr, universal=universal, exact=frozenset(exact), others=tuple(others))


def match_attribute(value: str | None, key: str | None, vr: str) -> bool:
    """Whether a stored ``value`` matches ``key`` (PS3.4 C.2.2.2); an invalid
    key matches nothing.  To match many values, :func:`compile_key` once.

    >>> match_attribute("Doe^John=山田^太郎", "doe*", "PN")
    True
    >>> match_attribute("20200615", "20200101-garbage", "DA")
    False
    """
    try:
        return compile_key(key, vr).matches(value)
    except InvalidKeyError:
        return False
