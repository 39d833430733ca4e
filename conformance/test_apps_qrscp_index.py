"""qrscp's persistent index (``dicomul_sync.apps._qrindex``): kept in an
SQLite file between runs, brought up to date at start by reading only the
files added or changed (path, size, modification time) and forgetting those
removed; a damaged index or one of another schema version is rebuilt, a
database of another program is left alone.  The files stay the truth.
"""

from __future__ import annotations

import logging
import os
import pathlib
import sqlite3

import pytest
from corpus import image, write
from dicomul_sync.apps import _qrindex
from dicomul_sync.apps._qrindex import INDEX_NAME, ForeignIndexError, Index
from peers import HOST, free_port
from pydicom.uid import ExplicitVRLittleEndian
from test_apps_echo import dicomul
from test_apps_qrscp import findscu, make_archive, qrscp, run, study_uid


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the index reads (its calls to read_attributes)."""
    from dicomul_common import storage

    done: list[str] = []
    real = storage.read_attributes

    def counting(path: str | os.PathLike[str], *args: object, **kwargs: object) -> object:
        done.append(os.path.basename(path))
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(storage, "read_attributes", counting)
    return done


def answers(index: Index) -> tuple[list[str], list[dict[str, str]]]:
    return index.paths({}), list(index.find("STUDY", {}))


def test_a_restart_reads_no_file_and_answers_the_same(
    tmp_path: pathlib.Path, reads: list[str]
) -> None:
    files = make_archive(tmp_path)
    first = Index(tmp_path, tmp_path / INDEX_NAME)
    assert first.scan() == len(files) == 6
    before = answers(first)
    first.close()
    assert len(reads) == 7  # six images and notes.txt, once each
    reads.clear()
    again = Index(tmp_path, tmp_path / INDEX_NAME)
    assert again.scan() == 6
    assert reads == []  # nothing changed: nothing read
    assert answers(again) == before


def test_only_what_changed_is_read(tmp_path: pathlib.Path, reads: list[str]) -> None:
    """A file added, one removed, one rewritten (another patient name), and
    notes.txt (not DICOM) unchanged: two files read, the removed one
    forgotten, the rewritten one answered with its new values."""
    files = make_archive(tmp_path)
    Index(tmp_path, tmp_path / INDEX_NAME).scan()
    reads.clear()
    removed = files[f"{study_uid('C')}.1.2"]
    removed.unlink()
    changed = files[f"{study_uid('C')}.1.1"]
    ds = image(rows=8, columns=8, name="RENAMED^NOW")
    ds.SOPInstanceUID = f"{study_uid('C')}.1.1"
    ds.StudyInstanceUID = study_uid("C")
    ds.PatientID = "PID2"
    write(ds, changed, ExplicitVRLittleEndian)
    added = write(image(rows=4, columns=4, seed=77), tmp_path / "sub" / "new.dcm",
                  ExplicitVRLittleEndian)  # fmt: skip
    index = Index(tmp_path, tmp_path / INDEX_NAME)
    assert index.scan() == 6
    assert sorted(reads) == sorted([changed.name, added.name])
    paths = index.paths({})
    assert str(removed) not in paths
    assert str(added) in paths
    (patient,) = index.find("PATIENT", {"PatientID": "PID2"})
    assert patient["PatientName"] == "RENAMED^NOW"


def test_the_older_copy_is_served_again_when_the_newer_goes(tmp_path: pathlib.Path) -> None:
    """Two files of one instance: the newer is served; removed, the older
    one (already known, unchanged) is served after the next start."""
    ds = image(rows=4, columns=4, name="OLD^COPY")
    old = write(ds, tmp_path / "old.dcm", ExplicitVRLittleEndian)
    os.utime(old, ns=(1_000_000_000, 1_000_000_000))
    ds.PatientName = "NEW^COPY"
    new = write(ds, tmp_path / "new.dcm", ExplicitVRLittleEndian)
    index = Index(tmp_path, tmp_path / INDEX_NAME)
    index.scan()
    assert index.paths({}) == [str(new)]
    index.close()
    new.unlink()
    index = Index(tmp_path, tmp_path / INDEX_NAME)
    assert index.scan() == 1
    assert index.paths({}) == [str(old)]
    (patient,) = index.find("PATIENT", {})
    assert patient["PatientName"] == "OLD^COPY"


def test_the_index_names_files_relative_to_the_database(
    tmp_path: pathlib.Path, reads: list[str]
) -> None:
    """The archive moved with its index file: nothing read again."""
    (tmp_path / "a").mkdir()
    make_archive(tmp_path / "a")
    Index(tmp_path / "a", tmp_path / "a" / INDEX_NAME).scan()
    (tmp_path / "a").rename(tmp_path / "b")
    index = Index(tmp_path / "b", tmp_path / "b" / INDEX_NAME)
    with sqlite3.connect(tmp_path / "b" / INDEX_NAME) as db:
        keys = [key for (key,) in db.execute("SELECT path FROM files")]
    assert keys
    assert not any(key.startswith(os.sep) for key in keys)
    reads.clear()
    assert index.scan() == 6
    assert reads == []
    assert all(path.startswith(str(tmp_path / "b")) for path in index.paths({}))


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncated", "other version"],
)
def test_a_damaged_or_other_version_index_is_rebuilt(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    make_archive(tmp_path)
    path = tmp_path / INDEX_NAME
    if damage == "garbage":
        path.write_bytes(b"not an index at all\n" * 100)
    else:
        Index(tmp_path, path).close()
        if damage == "truncated":  # the header kept, the pages gone
            with sqlite3.connect(path) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            data = path.read_bytes()
            path.write_bytes(data[:100] + b"\x07" * (len(data) - 100))
        else:
            with sqlite3.connect(path) as db:
                db.execute(f"PRAGMA user_version = {_qrindex.SCHEMA_VERSION + 1}")
    with caplog.at_level(logging.WARNING, "dicomul.app.qrscp"):
        index = Index(tmp_path, path)
    assert "rebuilding it from the files" in caplog.text
    assert index.scan() == 6
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (_qrindex.SCHEMA_VERSION,)


def test_another_programs_database_is_left_alone(tmp_path: pathlib.Path) -> None:
    """An SQLite file that is not a dicomul index (at an --index path by
    mistake) is not overwritten: the index refuses it, qrscp stops (1)."""
    (tmp_path / "db").mkdir()
    make_archive(tmp_path / "db")
    theirs = tmp_path / "theirs.sqlite"
    with sqlite3.connect(theirs) as db:
        db.execute("CREATE TABLE precious (x)")
        db.execute("INSERT INTO precious VALUES (42)")
    before = theirs.read_bytes()
    with pytest.raises(ForeignIndexError):
        Index(tmp_path / "db", theirs)
    done = dicomul(
        "qrscp", "--database", str(tmp_path / "db"), "--index", str(theirs), str(free_port())
    )
    assert done.returncode == 1
    assert "another program" in done.stderr + done.stdout
    assert theirs.read_bytes() == before


# ------------------------------------------------------------------ the app


def test_qrscp_keeps_its_index_and_finds_what_came_while_it_was_down(
    tmp_path: pathlib.Path,
) -> None:
    """Default: the index file in the database directory; a C-STORE is in
    it; a file copied in while qrscp was stopped is found at the next start,
    where only that file is read."""
    database = tmp_path / "db"
    database.mkdir()
    make_archive(database)
    sent = write(image(rows=4, columns=4, seed=5, name="STORED^ONE"), tmp_path / "s.dcm",
                 ExplicitVRLittleEndian)  # fmt: skip
    with qrscp(database) as server:
        stored = run("storescu", "-aec", "QRSCP", HOST, str(server.port), str(sent))
        assert stored.returncode == 0, stored.stderr
    assert (database / INDEX_NAME).is_file()
    assert "7 files, 7 read" in server.output  # the first start read them all
    copied = image(rows=4, columns=4, seed=6, name="COPIED^IN")
    write(copied, database / "copied.dcm", ExplicitVRLittleEndian)
    with qrscp(database) as server:
        found = findscu(server.port, tmp_path / "out", "QueryRetrieveLevel=PATIENT",
                        "PatientName", "PatientID=*", model="-P")  # fmt: skip
    names = sorted(str(ds.PatientName) for ds in found)
    assert names == ["COPIED^IN", "DOE^JOHN", "ROE^JANE", "STORED^ONE"]
    assert "1 read (new or changed)" in server.output


def test_index_options(tmp_path: pathlib.Path) -> None:
    """--index puts the file where told; --no-index-file writes none."""
    database = tmp_path / "db"
    database.mkdir()
    make_archive(database)
    elsewhere = tmp_path / "idx" / "qr.sqlite"
    elsewhere.parent.mkdir()
    with qrscp(database, "--index", str(elsewhere)):
        pass
    assert elsewhere.is_file()
    assert not (database / INDEX_NAME).exists()
    with qrscp(database, "--no-index-file") as server:
        found = findscu(server.port, tmp_path / "out", "QueryRetrieveLevel=STUDY",
                        "StudyInstanceUID")  # fmt: skip
    assert len(found) == 3
    assert not any(p.name.startswith(INDEX_NAME) for p in database.iterdir())


def test_a_read_only_database_is_indexed_in_memory(tmp_path: pathlib.Path) -> None:
    """The index file cannot be created (a read-only archive): a warning,
    and the archive is served, indexed in memory."""
    if os.geteuid() == 0:
        # root writes anyway: make the index path a directory instead
        database = tmp_path / "db"
        database.mkdir()
        make_archive(database)
        blocked = tmp_path / "no-such-dir" / "index.sqlite"
        options = ("--index", str(blocked))
    else:
        database = tmp_path / "db"
        database.mkdir()
        make_archive(database)
        database.chmod(0o555)
        options = ()
    try:
        with qrscp(database, *options) as server:
            found = findscu(server.port, tmp_path / "out", "QueryRetrieveLevel=STUDY",
                            "StudyInstanceUID")  # fmt: skip
    finally:
        database.chmod(0o755)
    assert len(found) == 3
    assert "indexing in memory" in server.output


def test_a_scan_cut_short_is_finished_by_the_next(
    tmp_path: pathlib.Path, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first indexing killed half way (here: interrupted at its fifth
    file, commits every two): what was committed stays, the next start
    reads only the rest, and the index is whole."""
    from dicomul_common import storage

    files = make_archive(tmp_path)
    monkeypatch.setattr(_qrindex, "_COMMIT_EVERY", 2)
    counting = storage.read_attributes

    def dying(path: str | os.PathLike[str], *args: object, **kwargs: object) -> object:
        if len(reads) == 4:
            raise KeyboardInterrupt
        return counting(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(storage, "read_attributes", dying)
    with pytest.raises(KeyboardInterrupt):
        Index(tmp_path, tmp_path / INDEX_NAME).scan()
    monkeypatch.setattr(storage, "read_attributes", counting)
    first = list(reads)
    reads.clear()
    index = Index(tmp_path, tmp_path / INDEX_NAME)
    assert index.scan() == len(files)
    assert len(first) == 4
    assert len(reads) == 7 - 4  # the four committed are not read again
    assert sorted(index.paths({})) == sorted(str(p) for p in files.values())
