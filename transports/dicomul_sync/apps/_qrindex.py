"""The qrscp index: a directory of DICOM files in an in-memory SQLite table.

One row per file (its path, and the PATIENT, STUDY, SERIES and IMAGE
attributes qrscp matches and returns); ModalitiesInStudy is derived from the
series of each study.  Keys are matched by :func:`dicomul.compile_key` (PS3.4
C.2.2.2: universal, single value, list, range, wild card; person names
ignoring case, group by group).

The index is rebuilt at each start (it lives in memory, nothing is written to
the archive directory besides the received files); it is thread-safe, for
associations served in parallel.  Its lock is held only to write a row, or
to copy out the candidate rows of a query (narrowed in SQL by the UIDs the
query names, if any): the keys are matched after, in the querying thread,
so no key, however costly, stops the other associations, their queries or
their C-STOREs.
"""

from __future__ import annotations

import os
import pathlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from dicomul import KeyMatcher, compile_key

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["LEVELS", "Index", "identifier_keys"]

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
#: Rows copied out of the index at a time for a query.
_BATCH = 500
_STUDY = COLUMNS.index("StudyInstanceUID")
_SELECT = "SELECT path, " + ", ".join(f'"{c}"' for c in COLUMNS) + " FROM instances"
#: At most this many UIDs of list keys go into the SQL that narrows the
#: candidates (SQLite's limit on parameters is 32766, 999 before 3.32).
_MAX_SQL_UIDS = 900


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
        from dicomul_common.storage import read_attributes  # noqa: PLC0415

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

    def _candidates(self, matchers: dict[str, KeyMatcher]) -> Iterator[dict[str, str]]:
        """The rows that may match, ModalitiesInStudy added, in path order:
        all of them, or those with the UIDs a list key names (exact matching,
        so SQL may narrow by it).  Copied out :data:`_BATCH` rows at a time,
        the only work done under the lock; a query holds one batch in memory
        however large the archive."""
        where = ["path > ?"]
        params: list[str] = []
        for kw, matcher in matchers.items():
            narrows = VRS[kw] == "UI" and matcher.exact_only
            if narrows and len(params) + len(matcher.exact) <= _MAX_SQL_UIDS:
                where.append(f'"{kw}" IN ({", ".join("?" for _ in matcher.exact)})')
                params += sorted(matcher.exact)
        sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY path LIMIT {_BATCH}"
        modalities: dict[str, str] | None = None
        after = ""
        while True:
            with self._lock:
                rows = self._db.execute(sql, [after, *params]).fetchall()
                if modalities is None:  # once per query: studies are fewer than rows
                    modalities = self._modalities()
            for row in rows:
                candidate = dict(zip(["path", *COLUMNS], row, strict=True))
                candidate["ModalitiesInStudy"] = modalities.get(row[1 + _STUDY], "")
                yield candidate
            if len(rows) < _BATCH:
                return
            after = rows[-1][0]

    def _modalities(self) -> dict[str, str]:
        """ModalitiesInStudy of each study: its series' modalities (the lock held)."""
        found = self._db.execute(
            'SELECT "StudyInstanceUID", group_concat(DISTINCT "Modality") '
            'FROM instances GROUP BY "StudyInstanceUID"'
        )
        return {
            study: "\\".join(sorted(filter(None, (names or "").split(","))))
            for study, names in found
        }

    def _rows(self, keys: dict[str, str]) -> Iterator[dict[str, str]]:
        """The rows (instances) whose values match ``keys`` (keyword ->
        pattern; other keywords are ignored).  The keys are checked now
        (:class:`dicomul.InvalidKeyError`), the rows matched as iterated,
        outside the lock."""
        matchers = {
            kw: matcher
            for kw, pattern in keys.items()
            if kw in VRS and not (matcher := compile_key(pattern, VRS[kw])).universal
        }
        return (
            row
            for row in self._candidates(matchers)
            if all(matcher.matches(row[kw]) for kw, matcher in matchers.items())
        )

    def find(self, level: str, keys: dict[str, str]) -> Iterator[dict[str, str]]:
        """One value dict per distinct entity at ``level`` matching ``keys``
        (keyword -> pattern), with the attributes of that level and above.
        Raises :class:`dicomul.InvalidKeyError` at once for an invalid key."""
        rows = self._rows(keys)
        depth = ORDER.index(level)
        uniques = [UNIQUE[lv] for lv in ORDER[: depth + 1]]
        attributes = [kw for lv in ORDER[: depth + 1] for kw in LEVELS[lv]]

        def entities() -> Iterator[dict[str, str]]:
            seen: set[tuple[str, ...]] = set()
            for row in rows:
                key = tuple(row[u] for u in uniques)
                if key not in seen:
                    seen.add(key)
                    yield {kw: row[kw] for kw in attributes}

        return entities()

    def paths(self, keys: dict[str, str]) -> list[str]:
        """The files of the instances matching ``keys``."""
        return list(dict.fromkeys(row["path"] for row in self._rows(keys)))


def _newer(first: str | os.PathLike[str], second: str | os.PathLike[str]) -> bool:
    """Whether file ``first`` was modified after ``second`` (gone: not newer)."""
    try:
        return os.stat(first).st_mtime_ns > os.stat(second).st_mtime_ns
    except OSError:
        return False


def identifier_keys(identifier: Dataset, keywords: Iterable[str] = tuple(VRS)) -> dict[str, str]:
    """keyword -> key (backslash-separated if multi-valued) of the
    identifier's elements among ``keywords`` (the indexed ones unless told)."""
    return {kw: _text(identifier, kw) for kw in keywords if kw in identifier}
