"""``dicomul qrscp`` against DCMTK's findscu, getscu, movescu and storescu,
and the PS3.4 C.2.2.2 matching of its index (``dicomul_sync.apps._qrindex``).

The archive: two patients, three studies (two CT, one MR), six images, a
non-DICOM file and a subdirectory.  findscu's matches are read from the
files its -X writes; retrieved files are compared byte for byte after the
file meta.
"""

from __future__ import annotations

import contextlib
import pathlib
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from corpus import assert_same_data_set, image, write
from dcmtk_tools import dcmtk_path
from dicomul_sync.apps._qrindex import Index
from hypothesis import given
from hypothesis import strategies as st
from peers import HOST, free_port
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from test_apps_echo import ENV, Server, app_server, dicomul

from dicomul import match_attribute as match

ROOT = "1.2.826.0.1.3680043.10.1437.42"
#: study -> (patient id, patient name, date, time, modality, images per series)
STUDIES = {
    "A": ("PID1", "DOE^JOHN", "20240101", "083000", "CT", (2, 1)),
    "B": ("PID1", "DOE^JOHN", "20240315", "140000", "MR", (1,)),
    "C": ("PID2", "ROE^JANE", "20231201", "101500", "CT", (2,)),
}


def study_uid(study: str) -> str:
    return f"{ROOT}.{ord(study)}"


def series_uid(study: str, series: int) -> str:
    return f"{study_uid(study)}.{series}"


def make_archive(directory: pathlib.Path) -> dict[str, pathlib.Path]:
    """The archive's files, by SOP Instance UID."""
    (directory / "sub").mkdir()
    (directory / "notes.txt").write_text("not DICOM\n")
    files = {}
    seed = 0
    for study, (pid, name, date, time, modality, sizes) in STUDIES.items():
        for series, size in enumerate(sizes, start=1):
            for number in range(1, size + 1):
                seed += 1
                ds = image(rows=8, columns=8, seed=seed, name=name)
                ds.PatientID = pid
                ds.PatientBirthDate = "19700101" if pid == "PID1" else "19800202"
                ds.PatientSex = "M" if pid == "PID1" else "F"
                ds.StudyInstanceUID = study_uid(study)
                ds.StudyDate, ds.StudyTime = date, time
                ds.StudyID = study
                ds.AccessionNumber = f"ACC{study}"
                ds.StudyDescription = f"Study {study}"
                ds.SeriesInstanceUID = series_uid(study, series)
                ds.SeriesNumber = series
                ds.Modality = modality
                ds.SOPInstanceUID = f"{series_uid(study, series)}.{number}"
                ds.InstanceNumber = number
                folder = directory / "sub" if study == "B" else directory
                syntax = ImplicitVRLittleEndian if study == "B" else ExplicitVRLittleEndian
                files[ds.SOPInstanceUID] = write(
                    ds, folder / f"{study}{series}{number}.dcm", syntax
                )
    return files


def qrscp(database: pathlib.Path, *options: str) -> contextlib.AbstractContextManager[Server]:
    return app_server("qrscp", "-v", "--database", str(database), *options)


class Archive:
    def __init__(self, server: Server, files: dict[str, pathlib.Path], move_port: int) -> None:
        self.server = server
        self.files = files
        self.move_port = move_port

    def sops(self, study: str, series: int | None = None) -> set[str]:
        prefix = study_uid(study) if series is None else series_uid(study, series)
        return {sop for sop in self.files if sop.startswith(prefix + ".")}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    root = tmp_path_factory.mktemp("qrscp-archive")
    files = make_archive(root)
    move_port = free_port()
    with qrscp(root, "--known-ae", f"DEST={HOST}:{move_port}") as server:
        yield Archive(server, files, move_port)


def run(*command: str, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess[str]:
    tool, *rest = command
    return subprocess.run(
        [dcmtk_path(tool), *rest],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=ENV,
        cwd=cwd,
    )


def findscu(port: int, out: pathlib.Path, *keys: str, model: str = "-S") -> list[Dataset]:
    """The responses DCMTK findscu extracts (-X) for these keys."""
    out.mkdir(exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    options = [arg for key in keys for arg in ("-k", key)]
    done = run("findscu", model, *options, "-X", "-od", str(out), HOST, str(port))
    assert done.returncode == 0, done.stderr
    return [dcmread(path) for path in sorted(out.iterdir())]


# ------------------------------------------------------------------ findscu


def test_patient_level_wildcard(archive: Archive, tmp_path: pathlib.Path) -> None:
    port = archive.server.port
    keys = ("QueryRetrieveLevel=PATIENT", "PatientID", "PatientSex")
    answers = findscu(port, tmp_path, *keys, "PatientName=D*", model="-P")
    assert [(a.PatientID, str(a.PatientName), a.PatientSex) for a in answers] == [
        ("PID1", "DOE^JOHN", "M")
    ]
    assert answers[0].QueryRetrieveLevel == "PATIENT"
    assert "StudyInstanceUID" not in answers[0]  # only what was asked for
    # PN matching is case-insensitive; ? matches one character.
    answers = findscu(port, tmp_path, *keys, "PatientName=r?e*", model="-P")
    assert [a.PatientID for a in answers] == ["PID2"]
    # Universal matching of every key.
    answers = findscu(port, tmp_path, *keys, "PatientName", model="-P")
    assert sorted(a.PatientID for a in answers) == ["PID1", "PID2"]


def test_study_level_date_ranges(archive: Archive, tmp_path: pathlib.Path) -> None:
    port = archive.server.port
    keys = ("QueryRetrieveLevel=STUDY", "StudyInstanceUID", "ModalitiesInStudy", "PatientName")

    def studies(*more: str) -> set[str]:
        return {a.StudyInstanceUID for a in findscu(port, tmp_path, *keys, *more)}

    assert studies("StudyDate=20240101-20241231") == {study_uid("A"), study_uid("B")}
    assert studies("StudyDate=-20231231") == {study_uid("C")}
    assert studies("StudyDate=20240102-") == {study_uid("B")}
    assert studies("StudyDate=20240101") == {study_uid("A")}
    assert studies("StudyTime=0800-1200") == {study_uid("A"), study_uid("C")}
    assert studies("ModalitiesInStudy=MR") == {study_uid("B")}
    answers = findscu(port, tmp_path, *keys, "StudyDate=20240101-20241231", "AccessionNumber")
    by_uid = {a.StudyInstanceUID: a for a in answers}
    assert by_uid[study_uid("A")].ModalitiesInStudy == "CT"
    assert by_uid[study_uid("B")].ModalitiesInStudy == "MR"
    assert by_uid[study_uid("B")].AccessionNumber == "ACCB"
    assert str(by_uid[study_uid("B")].PatientName) == "DOE^JOHN"


def test_uid_list_and_lower_levels(archive: Archive, tmp_path: pathlib.Path) -> None:
    port = archive.server.port
    uids = f"{study_uid('A')}\\{study_uid('C')}"
    answers = findscu(port, tmp_path, "QueryRetrieveLevel=STUDY", f"StudyInstanceUID={uids}")
    assert {a.StudyInstanceUID for a in answers} == {study_uid("A"), study_uid("C")}
    # Patient Root, STUDY level: the patient's unique key is returned.
    answers = findscu(
        port, tmp_path, "QueryRetrieveLevel=STUDY", "PatientID=PID1", "StudyID", model="-P"
    )
    assert sorted((a.PatientID, a.StudyID) for a in answers) == [("PID1", "A"), ("PID1", "B")]
    # SERIES and IMAGE levels under a study.
    answers = findscu(
        port, tmp_path, "QueryRetrieveLevel=SERIES", f"StudyInstanceUID={study_uid('A')}",
        "SeriesInstanceUID", "SeriesNumber", "Modality",
    )  # fmt: skip
    assert sorted((a.SeriesInstanceUID, a.SeriesNumber) for a in answers) == [
        (series_uid("A", 1), 1),
        (series_uid("A", 2), 2),
    ]
    answers = findscu(
        port, tmp_path, "QueryRetrieveLevel=IMAGE", f"StudyInstanceUID={study_uid('A')}",
        f"SeriesInstanceUID={series_uid('A', 1)}", "SOPInstanceUID", "InstanceNumber",
    )  # fmt: skip
    assert {a.SOPInstanceUID for a in answers} == archive.sops("A", 1)
    assert all(a.StudyInstanceUID == study_uid("A") for a in answers)


# --------------------------------------------------------------- retrieving


def assert_retrieved(out: pathlib.Path, archive: Archive, wanted: set[str]) -> None:
    got = {
        p.name.removeprefix("CT.").removeprefix("MR.").removesuffix(".dcm"): p
        for p in out.iterdir()
    }
    assert set(got) == wanted
    for sop, path in got.items():
        assert_same_data_set(path, archive.files[sop])


def test_getscu_retrieves_a_study(archive: Archive, tmp_path: pathlib.Path) -> None:
    done = run(
        "getscu", "+B", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k",
        f"StudyInstanceUID={study_uid('A')}", "-od", str(tmp_path), HOST, str(archive.server.port),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_retrieved(tmp_path, archive, archive.sops("A"))


def test_movescu_to_its_own_port(archive: Archive, tmp_path: pathlib.Path) -> None:
    done = run(
        "movescu", "+B", "-P", "-aem", "DEST", "+P", str(archive.move_port), "-od", str(tmp_path),
        "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=PID2", HOST, str(archive.server.port),
        cwd=tmp_path,  # DCMTK 3.6.7's movescu +B writes to the working directory, not -od
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_retrieved(tmp_path, archive, archive.sops("C"))


def test_movescu_to_an_unknown_destination(archive: Archive) -> None:
    done = run(
        "movescu", "-S", "-aem", "NOWHERE", "-k", "QueryRetrieveLevel=STUDY",
        "-k", f"StudyInstanceUID={study_uid('A')}", HOST, str(archive.server.port),
    )  # fmt: skip
    assert done.returncode != 0
    assert "MoveDestinationUnknown" in done.stderr, done.stderr


# ------------------------------------------------------------------ storing


def test_stored_file_is_indexed(tmp_path: pathlib.Path) -> None:
    database = tmp_path / "db"
    database.mkdir()
    files = make_archive(database)
    new = image(rows=8, columns=8, seed=99, name="NEW^PATIENT")
    new.PatientID, new.StudyDate = "PID3", "20250101"
    source = write(new, tmp_path / "new.dcm", ExplicitVRLittleEndian)
    with qrscp(database) as server:
        done = run("storescu", "-aec", "QRSCP", HOST, str(server.port), str(source))
        assert done.returncode == 0, done.stderr
        answers = findscu(
            server.port, tmp_path / "out", "QueryRetrieveLevel=STUDY", "StudyDate=20250101-",
            "PatientID", "StudyInstanceUID",
        )  # fmt: skip
    assert [(a.PatientID, a.StudyInstanceUID) for a in answers] == [("PID3", new.StudyInstanceUID)]
    assert_same_data_set(database / f"{new.SOPInstanceUID}.dcm", source)
    assert f"Indexed {len(files)} files" in server.output


# ----------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("value", "pattern", "vr", "expected"),
    [
        ("DOE^JOHN", "", "PN", True),  # universal
        ("", "", "LO", True),
        ("DOE^JOHN", "DOE^JOHN", "PN", True),  # single value
        ("DOE^JOHN", "doe^john", "PN", True),
        ("PID1", "pid1", "LO", False),
        ("DOE^JOHN", "D*", "PN", True),  # wildcard
        ("DOE^JOHN", "*JO?N", "PN", True),
        ("DOE^JOHN", "R*", "PN", False),
        ("", "*", "PN", True),
        ("DOE^JOHN^^^", "DOE^JOHN", "PN", True),  # trailing empty components
        ("DOE^JOHN", "DOE^JOHN^", "PN", True),
        ("DOE^JOHN", "DOE", "PN", False),  # a whole value, not a prefix
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", "YAMADA^TAROU", "PN", True),  # groups
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", "yam*", "PN", True),
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", "=山田^太郎", "PN", True),
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", "=山田*", "PN", True),
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", "Yamada^Tarou=鈴木*", "PN", False),
        ("Yamada^Tarou", "=山田^太郎", "PN", False),  # no such group stored
        ("Yamada^Tarou", "*=*", "PN", True),
        ("a.b", "a?b", "LO", True),
        ("a+b", "a.b", "LO", False),  # no regex leaks
        ("1.2.3", "1.2.*", "UI", False),  # no wildcard for UIDs
        ("20240315", "20240101-20241231", "DA", True),  # range
        ("20240101", "20240101-20240101", "DA", True),
        ("20231231", "20240101-", "DA", False),
        ("20231231", "-20231231", "DA", True),
        ("", "20240101-", "DA", False),
        ("083000", "0800-0830", "TM", True),
        ("083100", "0800-0830", "TM", False),
        ("08:30:00", "0800-0900", "TM", True),
        ("1.2.3", "1.2.4\\1.2.3", "UI", True),  # list of UIDs
        ("1.2.5", "1.2.4\\1.2.3", "UI", False),
        ("CT\\MR", "MR", "CS", True),  # a multi-valued value
        ("3", "3", "IS", True),
        ("3", "03", "IS", True),
    ],
)
def test_match(value: str, pattern: str, vr: str, expected: bool) -> None:
    assert match(value, pattern, vr) is expected


def test_index_find_and_paths(tmp_path: pathlib.Path) -> None:
    files = make_archive(tmp_path)
    index = Index(tmp_path)
    assert index.scan() == len(files) == len(index)
    studies = list(index.find("STUDY", {"PatientID": "PID1", "StudyInstanceUID": ""}))
    assert {s["StudyInstanceUID"] for s in studies} == {study_uid("A"), study_uid("B")}
    assert all(s["PatientName"] == "DOE^JOHN" for s in studies)
    patients = list(index.find("PATIENT", {"PatientName": "*"}))
    assert sorted(p["PatientID"] for p in patients) == ["PID1", "PID2"]
    paths = index.paths({"SeriesInstanceUID": series_uid("A", 1)})
    assert sorted(paths) == sorted(
        str(files[sop]) for sop in files if sop.startswith(series_uid("A", 1) + ".")
    )
    assert index.paths({"StudyInstanceUID": "1.2.3"}) == []
    shutil.rmtree(tmp_path / "sub")
    assert not index.add(tmp_path / "notes.txt")


def test_the_information_model_shapes_the_answers(
    archive: Archive, tmp_path: pathlib.Path
) -> None:
    """Study Root has no patient level above the study: no PatientID unless
    asked; Patient/Study Only has no SERIES or IMAGE level (0xA900)."""
    port = archive.server.port
    keys = ("QueryRetrieveLevel=STUDY", "StudyInstanceUID")
    study_root = findscu(port, tmp_path, *keys, model="-S")
    assert study_root
    assert all("PatientID" not in answer for answer in study_root)
    patient_root = findscu(port, tmp_path, *keys, model="-P")
    assert all("PatientID" in answer for answer in patient_root)
    refused = run(
        "findscu", "-v", "-O", "-k", "QueryRetrieveLevel=SERIES", "-k", "SeriesInstanceUID",
        HOST, str(port),
    )  # fmt: skip
    # DCMTK names 0xA900 "Error: DataSetDoesNotMatchSOPClass".
    assert "DataSetDoesNotMatchSOPClass" in refused.stdout + refused.stderr


# ---------------------------------------------------------- cancel and TLS


def test_c_find_cancel_ends_the_query_early(tmp_path: pathlib.Path) -> None:
    """DCMTK findscu --cancel 1: a C-CANCEL after the first match (PS3.4
    C.4.1.2.3, PS3.7 9.3.2.3); qrscp stops matching and answers Cancel
    (0xFE00).  600 matches, so that the cancel arrives long before the end."""
    database = tmp_path / "db"
    database.mkdir()
    for n in range(600):
        ds = image(rows=2, columns=2, seed=n)
        ds.PatientID = "MANY"
        write(ds, database / f"{n:04d}.dcm", ExplicitVRLittleEndian)
    out = tmp_path / "out"
    out.mkdir()
    with qrscp(database) as server:
        done = run(
            "findscu", "-v", "-P", "--cancel", "1", "-X", "-od", str(out), "-k",
            "QueryRetrieveLevel=IMAGE", "-k", "PatientID=MANY", "-k", "SOPInstanceUID",
            HOST, str(server.port),
        )  # fmt: skip
        after = findscu(
            server.port, tmp_path / "again", "QueryRetrieveLevel=PATIENT", "PatientID", model="-P"
        )
    assert done.returncode == 0, done.stderr
    assert "Received Final Find Response (Cancel: " in done.stderr, done.stderr
    assert 1 <= len(list(out.iterdir())) < 600  # cut short (about 15 here, unloaded)
    assert [a.PatientID for a in after] == ["MANY"]  # the server goes on serving


def test_qrscp_over_tls(archive: Archive, tmp_path: pathlib.Path) -> None:
    """qrscp with +tls and --require-peer-cert: DCMTK findscu and our getscu
    over TLS; a client without TLS gets nothing."""
    from test_apps_echo import dicomul
    from tls_certs import make_pki

    pki = make_pki(tmp_path)
    tls = ["+tls", str(pki.server_key), str(pki.server_cert), "+cf", str(pki.ca)]
    client = ["+tls", str(pki.client_key), str(pki.client_cert), "+cf", str(pki.ca)]
    database = tmp_path / "db"
    database.mkdir()
    for sop, path in archive.files.items():
        shutil.copy(path, database / f"{sop}.dcm")
    keys = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid('C')}"]
    out, got = tmp_path / "found", tmp_path / "got"
    out.mkdir()
    got.mkdir()
    with qrscp(database, *tls, "--require-peer-cert") as server:
        found = run(
            "findscu", *client, "-S", *keys, "-k", "PatientID", "-X", "-od", str(out),
            HOST, str(server.port),
        )  # fmt: skip
        fetched = dicomul("getscu", *client, "-S", *keys, "-od", str(got), HOST, str(server.port))
        plain = run("findscu", "-S", *keys, HOST, str(server.port))
    assert found.returncode == 0, found.stderr
    assert [dcmread(p).PatientID for p in out.iterdir()] == ["PID2"]
    assert fetched.returncode == 0, fetched.stderr
    assert_retrieved(got, archive, archive.sops("C"))
    assert plain.returncode != 0


def test_c_move_over_tls_to_movescu_own_port(archive: Archive, tmp_path: pathlib.Path) -> None:
    """qrscp serving TLS (+tls, --require-peer-cert) opens its C-MOVE
    sub-operation association over TLS too, with its certificate; movescu
    +tls +P serves its own port over TLS with its certificate.  Both ends
    hold a certificate for both uses, as an AE that connects and is
    connected to does."""
    from test_apps_echo import dicomul
    from tls_certs import make_pki

    pki = make_pki(tmp_path)
    tls = ["+tls", str(pki.peer_key), str(pki.peer_cert), "+cf", str(pki.ca)]
    database = tmp_path / "db"
    database.mkdir()
    for sop, path in archive.files.items():
        shutil.copy(path, database / f"{sop}.dcm")
    moved = tmp_path / "moved"
    moved.mkdir()
    port = free_port()
    known = ["--known-ae", f"MOVESCU={HOST}:{port}"]
    with qrscp(database, *tls, "--require-peer-cert", *known) as server:
        done = dicomul(
            "movescu", *tls, "-aem", "MOVESCU", "+P", str(port), "-od", str(moved), "-S",
            "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid('C')}",
            HOST, str(server.port),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_retrieved(moved, archive, archive.sops("C"))


def test_getscu_retrieves_pet_rt_and_a_big_endian_file(tmp_path: pathlib.Path) -> None:
    """Our getscu proposes the storage classes an archive holds within the
    127 contexts left (PET and RT Image were past them in the standard's
    order); a Big Endian file goes to a little-endian context re-encoded,
    its pixels intact (PS3.5 7.3), to our getscu and to DCMTK's."""
    from pydicom.uid import ExplicitVRBigEndian

    database = tmp_path / "db"
    database.mkdir()
    originals = {}
    for n, (sop_class, syntax) in enumerate(
        [
            ("1.2.840.10008.5.1.4.1.1.128", ExplicitVRLittleEndian),  # PET
            ("1.2.840.10008.5.1.4.1.1.481.1", ImplicitVRLittleEndian),  # RT Image
            ("1.2.840.10008.5.1.4.1.1.2", ExplicitVRBigEndian),  # CT
        ]
    ):
        ds = image(sop_class=sop_class, rows=4, columns=4, seed=n)
        ds.PatientID = "RETRIEVE"
        write(ds, database / f"{n}.dcm", syntax)
        originals[ds.SOPInstanceUID] = ds.PixelData
    keys = ["-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=RETRIEVE"]
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    with qrscp(database) as server:
        got = dicomul("getscu", "-P", *keys, "-od", str(ours), HOST, str(server.port))
        dcmtk = run("getscu", "-P", *keys, "-od", str(theirs), HOST, str(server.port))
    assert got.returncode == 0, got.stderr
    assert dcmtk.returncode == 0, dcmtk.stderr
    for received in (ours, theirs):
        files = [dcmread(p) for p in received.iterdir()]
        assert {ds.SOPInstanceUID: ds.PixelData for ds in files} == originals


@given(
    st.text(alphabet="ABC^=*?-\\\\.0123 ", max_size=20),
    st.text(alphabet="ABC^=*?-\\\\.0123 ", max_size=20),
    st.sampled_from(["PN", "LO", "CS", "DA", "TM", "UI", "IS"]),
)
def test_matching_any_value_and_key_gives_an_answer(value: str, pattern: str, vr: str) -> None:
    """C-FIND keys come from the peer: any pattern against any stored value
    is a yes or a no (PS3.4 C.2.2.2), never an error; a universal key, or
    the value itself as a key (no wildcard, range or list in it; for dates
    and times, a value of the VR: tests/test_matching.py), matches."""
    assert match(value, pattern, vr) in (True, False)
    assert match(value, "", vr)
    if not set(value) & set("*?-\\\\") and value.strip(" \\0") and vr not in ("DA", "TM"):
        assert match(value, value, vr)


def test_one_instance_in_two_files_is_served_once_the_latest(tmp_path: pathlib.Path) -> None:
    """Before: a C-STORE of an instance the archive held under another file
    name (or two copies in the directory) was indexed twice, and a C-GET
    sent both, the older one possibly last."""
    import os

    database = tmp_path / "db"
    database.mkdir()
    ds = image(rows=4, columns=4, name="OLD^NAME")
    ds.PatientID = "TWICE"
    old = write(ds, database / "zz-old-copy.dcm", ExplicitVRLittleEndian)
    os.utime(old, ns=(1_000_000_000, 1_000_000_000))  # written long ago
    ds.PatientName = "NEW^NAME"
    newer = write(ds, tmp_path / "newer.dcm", ExplicitVRLittleEndian)
    keys = ["-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=TWICE"]
    got = tmp_path / "got"
    got.mkdir()
    with qrscp(database) as server:
        stored = run("storescu", "-aec", "QRSCP", HOST, str(server.port), str(newer))
        assert stored.returncode == 0, stored.stderr
        fetched = dicomul("getscu", "-P", *keys, "-od", str(got), HOST, str(server.port))
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.startswith("Get finished (Success): 1 completed, 0 failed")
    (received,) = got.iterdir()
    assert str(dcmread(received).PatientName) == "NEW^NAME"
    # Restarted, the index finds both files again and keeps the newer.
    index = Index(database)
    index.scan()
    assert len(index) == 1
    assert index.paths({"PatientID": "TWICE"}) == [str(database / f"{ds.SOPInstanceUID}.dcm")]


def test_a_data_set_without_file_meta_is_not_indexed(tmp_path: pathlib.Path) -> None:
    """Before: listed by C-FIND, then a C-GET of it failed (0xC000): what
    cannot be sent as a Part 10 file is not indexed."""
    from dicomul import encode_dataset

    # A preamble and "DICM", then the data set with no group 0002: pydicom
    # reads it, but it is no Part 10 file (PS3.10 7.1).
    bare = encode_dataset(image(rows=4, columns=4), str(ExplicitVRLittleEndian))
    (tmp_path / "bare.dcm").write_bytes(b"\0" * 128 + b"DICM" + bare)
    write(image(rows=4, columns=4, seed=1), tmp_path / "good.dcm", ExplicitVRLittleEndian)
    index = Index(tmp_path)
    assert index.scan() == 1
    assert [p.endswith("good.dcm") for p in index.paths({})] == [True]


def test_disable_get_and_models_as_dcmqrscp(tmp_path: pathlib.Path) -> None:
    """--disable-get and -QS, dcmqrscp's: the C-GET contexts, and all of the
    Study Root model, are rejected, so DCMTK's getscu (-S: Study Root) and
    findscu -S get no context; findscu -P still finds."""
    (tmp_path / "db").mkdir()
    make_archive(tmp_path / "db")
    with qrscp(tmp_path / "db", "--disable-get", "-QS") as server:
        port = str(server.port)
        got = run("getscu", "-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=PID1",
                  "-od", str(tmp_path), HOST, port)  # fmt: skip
        study_root = run("findscu", "-S", "-k", "QueryRetrieveLevel=STUDY", HOST, port)
        patient_root = run("findscu", "-P", "-k", "QueryRetrieveLevel=PATIENT",
                           "-k", "PatientID", HOST, port)  # fmt: skip
    assert got.returncode != 0
    assert "No adequate Presentation Contexts for sending C-GET" in got.stderr, got.stderr
    assert study_root.returncode != 0
    assert "No Acceptable Presentation Contexts" in study_root.stderr, study_root.stderr
    assert patient_root.returncode == 0, patient_root.stderr


@pytest.mark.parametrize("option", ["--refuse", "--reject"])
def test_refuse_and_reject(option: str, tmp_path: pathlib.Path) -> None:
    """dcmqrscp's --refuse (every association) and --reject (one without an
    implementation class UID; DCMTK's echoscu sends one: accepted)."""
    (tmp_path / "db").mkdir()
    with qrscp(tmp_path / "db", option) as server:
        done = run("echoscu", "-v", HOST, str(server.port))
    if option == "--refuse":
        assert done.returncode != 0
        assert "Result: Rejected Permanent, Source: Service User" in done.stderr
    else:
        assert done.returncode == 0, done.stderr
