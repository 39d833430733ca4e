"""The qrscp index: a directory of DICOM files in an in-memory SQLite table.

One row per file (its path, and the PATIENT, STUDY, SERIES and IMAGE
attributes qrscp matches and returns); ModalitiesInStudy is derived from the
series of each study.  Matching follows PS3.4 C.2.2.2: single value,
wildcard (``*`` and ``?``), range (``A-B``, ``A-``, ``-B``, for DA, TM and
DT), list of values (backslash-separated; list of UID matching), universal
(an empty value).

Person names (PN), whose single value and wild card matching PS3.4
C.2.2.2.1 and C.2.2.2.4 leave to the implementation: matching ignores case
and trailing empty components (``DOE^JOHN^^`` is ``DOE^JOHN``), and goes
component group by component group: a key without ``=`` matches the
alphabetic group alone, so ``DOE^JOHN`` and ``DOE*`` find
``Doe^John=山田^太郎=やまだ^たろう``; a key with groups matches each group it
gives (an empty group matches any).

The index is rebuilt at each start (it lives in memory, nothing is written to
the archive directory besides the received files); it is thread-safe (one
lock around the connection), for associations served in parallel.
"""

from __future__ import annotations

import os
import pathlib
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["LEVELS", "Index", "match", "matches_value"]

#: Each level's attributes (keyword -> VR), its unique key first.
LEVELS: dict[str, dict[str, str]] = {
    "PATIENT": {
        "PatientID": "LO",
        "PatientName": "PN",
        "PatientBirthDate": "DA",
        "PatientSex": "CS",
    },
    "STUDY": {
        "StudyInstanceUID": "UI",
        "StudyDate": "DA",
        "StudyTime": "TM",
        "AccessionNumber": "SH",
        "StudyID": "SH",
        "StudyDescription": "LO",
        "ModalitiesInStudy": "CS",  # derived: not a column
    },
    "SERIES": {"SeriesInstanceUID": "UI", "Modality": "CS", "SeriesNumber": "IS"},
    "IMAGE": {"SOPInstanceUID": "UI", "SOPClassUID": "UI", "InstanceNumber": "IS"},
}
ORDER = ("PATIENT", "STUDY", "SERIES", "IMAGE")
DERIVED = {"ModalitiesInStudy"}
VRS: dict[str, str] = {kw: vr for level in LEVELS.values() for kw, vr in level.items()}
COLUMNS = [kw for kw in VRS if kw not in DERIVED]
UNIQUE = {level: next(iter(attrs)) for level, attrs in LEVELS.items()}
INDEX_NAME = ".dicomul-index.sqlite"  # reserved: never indexed as a DICOM file
_NO_WILDCARD = {"DA", "TM", "DT", "UI", "IS", "DS", "SQ"}


# ----------------------------------------------------------------- matching


def _wildcard(pattern: str, flags: int) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts) + r"\Z", flags | re.DOTALL)


def _in_range(value: str, pattern: str, vr: str) -> bool:
    low, _, high = pattern.partition("-")
    low, high = low.strip().replace(":", ""), high.strip().replace(":", "")
    value = value.replace(":", "")
    if not value:
        return False
    # The upper bound compares to its own precision: "1030-12" includes 12:59:59.
    return (not low or value >= low) and (not high or value[: len(high)] <= high)


def _name_groups(name: str) -> list[str]:
    """A person name's component groups (alphabetic, ideographic, phonetic;
    PS3.5 6.2.1), each without trailing empty components."""
    return [group.rstrip("^ ") for group in name.split("=")]


def _matches_name(value: str, pattern: str) -> bool:
    """PN matching, case-insensitive, component group by component group."""
    values = _name_groups(value)
    for n, key in enumerate(_name_groups(pattern)):
        if key in ("", "*"):
            continue  # nothing asked of this group
        stored = values[n] if n < len(values) else ""
        if "*" in key or "?" in key:
            if _wildcard(key, re.IGNORECASE).match(stored) is None:
                return False
        elif stored.casefold() != key.casefold():
            return False
    return True


def matches_value(value: str, pattern: str, vr: str) -> bool:
    """Whether one stored ``value`` matches one ``pattern`` element (no backslash)."""
    value, pattern = value.strip(" \0"), pattern.strip(" \0")
    if pattern in ("", "*"):
        return True
    if vr in ("DA", "TM", "DT") and "-" in pattern:
        return _in_range(value, pattern, vr)
    if vr == "PN":
        return _matches_name(value, pattern)
    if vr not in _NO_WILDCARD and ("*" in pattern or "?" in pattern):
        return _wildcard(pattern, 0).match(value) is not None
    if vr in ("IS", "DS"):
        try:
            return float(value) == float(pattern)
        except ValueError:
            return value == pattern
    return value == pattern


def match(value: str | None, pattern: str | None, vr: str) -> bool:
    """PS3.4 C.2.2.2 matching of a stored (possibly multi-valued) value.

    An empty pattern is universal matching; a backslash-separated pattern is
    a list (of UIDs, C.2.2.2.2, or of values): any element may match any
    value.  A value that is empty matches only universal matching (and a
    wildcard of ``*`` alone).
    """
    pattern = (pattern or "").strip(" \0")
    if pattern == "" or (pattern.strip("*") == "" and vr not in _NO_WILDCARD):
        return True
    values = (value or "").split("\\")
    return any(matches_value(v, p, vr) for p in pattern.split("\\") for v in values)


# -------------------------------------------------------------------- index


def _text(ds: Dataset, keyword: str) -> str:
    from pydicom.multival import MultiValue  # noqa: PLC0415

    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value).strip(" \0")


class Index:
    """An in-memory index of the DICOM files under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = pathlib.Path(root)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.create_function("dicom_match", 3, match, deterministic=True)
        columns = ", ".join(f'"{c}" TEXT' for c in COLUMNS)
        self._db.execute(f"CREATE TABLE instances (path TEXT PRIMARY KEY, {columns})")
        # One row per instance: a file holding an instance already indexed
        # (a C-STORE of it again, or a copy under another name) replaces it.
        self._db.execute('CREATE UNIQUE INDEX one_per_instance ON instances ("SOPInstanceUID")')

    def scan(self) -> int:
        """Index every DICOM file under ``root`` (recursively); the number indexed."""
        count = 0
        for dirpath, _dirs, files in os.walk(self.root):
            for name in sorted(files):
                if name == INDEX_NAME or name.startswith(".incoming-"):
                    continue
                count += self.add(pathlib.Path(dirpath) / name)
        return count

    def add(self, path: str | os.PathLike[str]) -> bool:
        """Index one file (replacing what was indexed for that path, or for
        its SOP Instance UID unless that file is newer: of several files of
        one instance, the last written is the one served); False if it is
        not a DICOM Part 10 file (PS3.10 7.1: what C-GET and C-MOVE can send
        as it is) with a SOP Instance UID."""
        from dicomul_sync.storage import read_attributes  # noqa: PLC0415

        try:  # (as a stream, no large value read: a deflate bomb costs nothing)
            ds = read_attributes(path, COLUMNS)
        except Exception:  # not DICOM, no file meta, unreadable: not indexed
            return False
        row = {kw: _text(ds, kw) for kw in COLUMNS}
        if not row["SOPInstanceUID"]:
            return False
        names = ", ".join(f'"{c}"' for c in COLUMNS)
        marks = ", ".join("?" for _ in range(len(COLUMNS) + 1))
        with self._lock:
            known = self._db.execute(
                'SELECT path FROM instances WHERE "SOPInstanceUID" = ?', [row["SOPInstanceUID"]]
            ).fetchone()
            if known and known[0] != os.fspath(path) and _newer(known[0], path):
                return True  # indexed already, from a file written later
            self._db.execute(
                f"INSERT OR REPLACE INTO instances (path, {names}) VALUES ({marks})",
                [os.fspath(path), *(row[c] for c in COLUMNS)],
            )
            self._db.commit()
        return True

    def __len__(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM instances").fetchone()
        return int(n)

    def _rows(self, keys: dict[str, str]) -> list[dict[str, str]]:
        """The rows (instances) whose columns match ``keys``, with
        ModalitiesInStudy added and matched."""
        where, params = [], []
        for kw, pattern in keys.items():
            if kw in COLUMNS and pattern.strip(" \0"):
                where.append(f'dicom_match("{kw}", ?, ?)')
                params += [pattern, VRS[kw]]
        sql = "SELECT path, " + ", ".join(f'"{c}"' for c in COLUMNS) + " FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY path"
        with self._lock:
            rows = [
                dict(zip(["path", *COLUMNS], r, strict=True))
                for r in self._db.execute(sql, params)
            ]
            modalities = {
                study: "\\".join(sorted(filter(None, (m or "").split(","))))
                for study, m in self._db.execute(
                    'SELECT "StudyInstanceUID", group_concat(DISTINCT "Modality") '
                    'FROM instances GROUP BY "StudyInstanceUID"'
                )
            }
        for row in rows:
            row["ModalitiesInStudy"] = modalities.get(row["StudyInstanceUID"], "")
        pattern = keys.get("ModalitiesInStudy", "")
        return [r for r in rows if match(r["ModalitiesInStudy"], pattern, "CS")]

    def find(self, level: str, keys: dict[str, str]) -> Iterator[dict[str, str]]:
        """One value dict per distinct entity at ``level`` matching ``keys``
        (keyword -> pattern), with the attributes of that level and above."""
        depth = ORDER.index(level)
        seen: set[tuple[str, ...]] = set()
        uniques = [UNIQUE[lv] for lv in ORDER[: depth + 1]]
        for row in self._rows(keys):
            key = tuple(row[u] for u in uniques)
            if key in seen:
                continue
            seen.add(key)
            yield {kw: row[kw] for lv in ORDER[: depth + 1] for kw in LEVELS[lv]}

    def paths(self, keys: dict[str, str]) -> list[str]:
        """The files of the instances matching ``keys``."""
        return list(dict.fromkeys(row["path"] for row in self._rows(keys)))


def _newer(first: str | os.PathLike[str], second: str | os.PathLike[str]) -> bool:
    """Whether file ``first`` was modified after ``second`` (gone: not newer)."""
    try:
        return os.stat(first).st_mtime_ns > os.stat(second).st_mtime_ns
    except OSError:
        return False


def identifier_keys(identifier: Dataset) -> dict[str, str]:
    """keyword -> pattern of the identifier's indexed keys."""
    return {kw: _text(identifier, kw) for kw in VRS if kw in identifier}


def unique_keys_above(level: str) -> Iterable[str]:
    """The unique keys of the levels above and at ``level`` (PATIENT -> PatientID...)."""
    return [UNIQUE[lv] for lv in ORDER[: ORDER.index(level) + 1]]
