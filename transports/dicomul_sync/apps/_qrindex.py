"""The qrscp index: a directory of DICOM files in an SQLite table.

One row per instance (its file's path, and the PATIENT, STUDY, SERIES and
IMAGE attributes qrscp matches and returns); ModalitiesInStudy is derived
from the series of each study.  Keys are matched by
:func:`dicomul.compile_key` (PS3.4 C.2.2.2: universal, single value, list,
range, wild card; person names ignoring case, group by group).

The index lives in memory, or in a file (by default
``<database>/.dicomul-index.sqlite``, like the index.dat dcmqrscp keeps in
each storage area).  A file is a cache of the directory, which stays the
truth: it also lists every file seen (path relative to the directory, size,
modification time in nanoseconds), so that a start reads only the files
added or changed since the last run, and forgets those removed: over a
large archive a start takes the time of a directory walk, not of reading
every file.  An index file that is damaged, or from another version of this
schema, is rebuilt (with a warning); an SQLite database of another program
at that path is left alone (:class:`ForeignIndexError`).  Commits are
atomic (SQLite's write-ahead log), so a crash leaves a consistent index,
at worst without the last files, which the next start finds again.

The index is thread-safe, for associations served in parallel.  Its lock is
held only to write a row, or to copy out the candidate rows of a query
(narrowed in SQL by the UIDs the query names, if any): the keys are matched
after, in the querying thread, so no key, however costly, stops the other
associations, their queries or their C-STOREs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from dicomul import KeyMatcher, compile_key

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["INDEX_NAME", "LEVELS", "ForeignIndexError", "Index", "identifier_keys"]

LOGGER = logging.getLogger("dicomul.app.qrscp")

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
#: The index file's default name in the database directory; it and its
#: SQLite companions (``-wal``, ``-shm``, ``-journal``) are never indexed.
INDEX_NAME = ".dicomul-index.sqlite"
#: PRAGMA application_id of an index file ("DCMU"), and the version of its
#: schema (PRAGMA user_version): another version is rebuilt.
APPLICATION_ID = 0x44434D55
SCHEMA_VERSION = 1
#: Files indexed between two commits while scanning.
_COMMIT_EVERY = 1000
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


class ForeignIndexError(RuntimeError):
    """The index path holds an SQLite database of another program: it is
    not ours to rebuild."""


def _skipped(name: str) -> bool:
    """Names under the database directory that are never indexed: the
    index file and its companions, and a storage SCP's temporary files."""
    return name.startswith((INDEX_NAME, ".incoming-"))


class Index:
    """The index of the DICOM files under ``root``: in memory, or kept in
    the SQLite file ``path`` between runs (see the module docstring)."""

    def __init__(
        self, root: str | os.PathLike[str], path: str | os.PathLike[str] | None = None
    ) -> None:
        self.root = pathlib.Path(root)
        self._prefix = os.path.join(os.fspath(root), "")
        self.path = None if path is None else pathlib.Path(path)
        self._lock = threading.Lock()
        self._db = self._open()

    # ------------------------------------------------------------ the file

    def _open(self) -> sqlite3.Connection:
        """The connection, its schema created or checked (rebuilt if damaged
        or of another version).  sqlite3.OperationalError if the file
        cannot be opened (a directory that is not writable)."""
        if self.path is None:
            memory = sqlite3.connect(":memory:", check_same_thread=False)
            self._create(memory)
            return memory
        db: sqlite3.Connection | None = None
        try:
            db = self._connect()
            problem = self._problem(db)
        except sqlite3.OperationalError:  # cannot open or lock it: the caller's to decide
            raise
        except sqlite3.DatabaseError as exc:  # not a database, or its header is damaged
            problem = f"unreadable ({exc})"
        if problem is None and db is not None:
            return self._settle(db)
        if problem:
            LOGGER.warning("Index %s is %s: rebuilding it from the files", self.path, problem)
        if db is not None:
            db.close()
        if problem:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(f"{self.path}{suffix}")
        db = self._settle(self._connect())
        self._create(db)
        return db

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        return sqlite3.connect(os.fspath(self.path), check_same_thread=False, timeout=30)

    @staticmethod
    def _settle(db: sqlite3.Connection) -> sqlite3.Connection:
        """Our settings, once the file is known to be ours: the write-ahead
        log (atomic commits, readers never wait for the writer), synced at
        checkpoints only (a crash may lose the last commits, never
        consistency: the next scan finds those files again)."""
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _problem(self, db: sqlite3.Connection) -> str | None:
        """None if ``db`` is a sound index of this version; '' if it is a new,
        empty database; else what is wrong with it (rebuilt).  Raises
        :class:`ForeignIndexError` for another program's database."""
        (application,) = db.execute("PRAGMA application_id").fetchone()
        (version,) = db.execute("PRAGMA user_version").fetchone()
        (tables,) = db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if application == 0 and version == 0 and tables == 0:
            return ""
        if application != APPLICATION_ID:
            raise ForeignIndexError(
                f"{self.path} is an SQLite database of another program "
                f"(application_id {application:#x}): not overwriting it"
            )
        if version != SCHEMA_VERSION:
            return f"of another version (schema {version}, this is {SCHEMA_VERSION})"
        (check,) = db.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            return f"damaged ({check})"
        return None

    @staticmethod
    def _create(db: sqlite3.Connection) -> None:
        columns = ", ".join(f'"{c}" TEXT' for c in COLUMNS)
        with db:
            # Every regular file seen, DICOM or not, as it was when read
            # (sop: the instance it holds, '' if none is indexed from it).
            db.execute(
                "CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER, "
                "mtime_ns INTEGER, sop TEXT)"
            )
            db.execute("CREATE INDEX files_by_sop ON files (sop)")
            db.execute(f"CREATE TABLE instances (path TEXT PRIMARY KEY, {columns})")
            # One row per instance: a file holding an instance already indexed
            # (a C-STORE of it again, or a copy under another name) replaces it.
            db.execute('CREATE UNIQUE INDEX one_per_instance ON instances ("SOPInstanceUID")')
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------ scanning

    def _key(self, path: str | os.PathLike[str]) -> str:
        """How a file is named in the index: relative to ``root`` if under
        it (the index file survives the directory being moved), else as given."""
        text = os.fspath(path)
        return text[len(self._prefix) :] if text.startswith(self._prefix) else text

    def _full(self, key: str) -> str:
        return os.path.join(self._prefix, key)

    def _walk(self, directory: str, prefix: str) -> Iterator[tuple[str, int, int]]:
        """(key, size, mtime_ns) of each regular file under ``directory``
        (symbolic links to files followed, to directories not, as os.walk)."""
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            LOGGER.warning("Cannot list %s: %s", directory, exc)
            return
        for entry in entries:
            try:
                if entry.is_dir():
                    if not entry.is_symlink():
                        yield from self._walk(entry.path, prefix + entry.name + os.sep)
                elif entry.is_file() and not _skipped(entry.name):
                    st = entry.stat()
                    yield prefix + entry.name, st.st_size, st.st_mtime_ns
            except OSError:  # gone meanwhile, or unreadable: not indexed
                continue

    def scan(self) -> int:
        """Bring the index up to date with the files under ``root``
        (recursively): read the files added or changed (size or
        modification time) since they were indexed, forget those removed.
        Returns the number of instances indexed."""
        with self._lock:
            known = {
                key: (size, mtime)
                for key, size, mtime in self._db.execute("SELECT path, size, mtime_ns FROM files")
            }
        changed: list[tuple[str, int, int]] = []
        seen = 0
        for key, size, mtime in self._walk(os.fspath(self.root), ""):
            seen += 1
            if known.pop(key, None) != (size, mtime):
                changed.append((key, size, mtime))
        # What is left of known was not found: removed.
        orphans = self._forget(list(known))
        changed.sort()
        for number, (key, size, mtime) in enumerate(changed, start=1):
            self._add(key, size, mtime, commit=number % _COMMIT_EVERY == 0)
        self._revive(orphans)
        with self._lock:
            self._db.commit()
        count = len(self)
        LOGGER.info(
            "Index of %s: %d files, %d read (new or changed), %d gone; %d instances",
            self.root, seen, len(changed), len(known), count,
        )  # fmt: skip
        return count

    def _forget(self, keys: list[str]) -> set[str]:
        """Drop these files; the SOP Instance UIDs whose indexed file went
        with them (another file may hold the instance: see _revive)."""
        orphans: set[str] = set()
        with self._lock:
            for key in keys:
                row = self._db.execute(
                    'SELECT "SOPInstanceUID" FROM instances WHERE path = ?', [key]
                ).fetchone()
                if row:
                    orphans.add(row[0])
                self._db.execute("DELETE FROM instances WHERE path = ?", [key])
                self._db.execute("DELETE FROM files WHERE path = ?", [key])
            self._db.commit()
        return orphans

    def _revive(self, orphans: set[str]) -> None:
        """Index again, from the newest file still holding it, each instance
        whose indexed file was removed or changed."""
        for sop in sorted(orphans):
            with self._lock:
                served = self._db.execute(
                    'SELECT 1 FROM instances WHERE "SOPInstanceUID" = ?', [sop]
                ).fetchone()
                holders = self._db.execute(
                    "SELECT path, size, mtime_ns FROM files WHERE sop = ? "
                    "ORDER BY mtime_ns DESC, path",
                    [sop],
                ).fetchall()
            if not served:
                for key, size, mtime in holders:
                    if self._add(key, size, mtime, commit=True):
                        break

    def add(self, path: str | os.PathLike[str]) -> bool:
        """Index one file (replacing what was indexed for that path, or for
        its SOP Instance UID unless that file is newer: of several files of
        one instance, the last written is the one served); False if it is
        not a DICOM Part 10 file (PS3.10 7.1: what C-GET and C-MOVE can send
        as it is) with a SOP Instance UID."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        return self._add(self._key(path), st.st_size, st.st_mtime_ns, commit=True)

    def _add(self, key: str, size: int, mtime: int, *, commit: bool) -> bool:
        from dicomul_common.storage import read_attributes  # noqa: PLC0415

        row: dict[str, str] | None
        try:  # (as a stream, no large value read: a deflate bomb costs nothing)
            ds = read_attributes(self._full(key), COLUMNS)
        except Exception:  # not DICOM, no file meta, unreadable: not indexed
            row = None
        else:
            row = {kw: _text(ds, kw) for kw in COLUMNS}
            if not row["SOPInstanceUID"]:
                row = None
        names = ", ".join(f'"{c}"' for c in COLUMNS)
        marks = ", ".join("?" for _ in range(len(COLUMNS) + 1))
        orphan: str | None = None
        with self._lock:
            before = self._db.execute(
                'SELECT "SOPInstanceUID" FROM instances WHERE path = ?', [key]
            ).fetchone()
            sop = row["SOPInstanceUID"] if row else ""
            if before and before[0] != sop:  # the file held another instance
                self._db.execute("DELETE FROM instances WHERE path = ?", [key])
                orphan = before[0]
            self._db.execute(
                "INSERT OR REPLACE INTO files (path, size, mtime_ns, sop) VALUES (?, ?, ?, ?)",
                [key, size, mtime, sop],
            )
            if row is not None:
                known = self._db.execute(
                    'SELECT path FROM instances WHERE "SOPInstanceUID" = ?', [sop]
                ).fetchone()
                if not (known and known[0] != key and _newer(self._full(known[0]), mtime)):
                    self._db.execute(
                        f"INSERT OR REPLACE INTO instances (path, {names}) VALUES ({marks})",
                        [key, *(row[c] for c in COLUMNS)],
                    )
            if commit:
                self._db.commit()
        if orphan is not None:
            self._revive({orphan})
        return row is not None

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

    # ------------------------------------------------------------ quotas

    def study_of(self, path: str | os.PathLike[str]) -> str | None:
        """The Study Instance UID of the instance indexed from ``path``."""
        with self._lock:
            row = self._db.execute(
                'SELECT "StudyInstanceUID" FROM instances WHERE path = ?', [self._key(path)]
            ).fetchone()
        return None if row is None else str(row[0])

    def study_files(self, study: str) -> list[tuple[str, int]]:
        """(path, size) of the files of ``study``'s instances, oldest
        (modification time) first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT i.path, f.size FROM instances i JOIN files f ON f.path = i.path "
                'WHERE i."StudyInstanceUID" = ? ORDER BY f.mtime_ns, i.path',
                [study],
            ).fetchall()
        return [(self._full(key), int(size)) for key, size in rows]

    def studies(self) -> list[str]:
        """The Study Instance UIDs indexed, the study stored into least
        recently (its newest file's modification time) first."""
        with self._lock:
            rows = self._db.execute(
                'SELECT i."StudyInstanceUID" FROM instances i JOIN files f ON f.path = i.path '
                'GROUP BY i."StudyInstanceUID" ORDER BY max(f.mtime_ns), i."StudyInstanceUID"'
            ).fetchall()
        return [str(study) for (study,) in rows]

    def delete(self, path: str | os.PathLike[str]) -> None:
        """Remove file ``path`` from the disk and from the index."""
        pathlib.Path(path).unlink(missing_ok=True)
        orphans = self._forget([self._key(path)])
        self._revive(orphans)  # another file may still hold the instance

    def paths(self, keys: dict[str, str]) -> list[str]:
        """The files of the instances matching ``keys``."""
        return list(dict.fromkeys(self._full(row["path"]) for row in self._rows(keys)))


def _newer(path: str, mtime_ns: int) -> bool:
    """Whether file ``path`` was modified after ``mtime_ns`` (gone: not newer)."""
    try:
        return os.stat(path).st_mtime_ns > mtime_ns
    except OSError:
        return False


def identifier_keys(identifier: Dataset, keywords: Iterable[str] = tuple(VRS)) -> dict[str, str]:
    """keyword -> key (backslash-separated if multi-valued) of the
    identifier's elements among ``keywords`` (the indexed ones unless told)."""
    return {kw: _text(identifier, kw) for kw in keywords if kw in identifier}
