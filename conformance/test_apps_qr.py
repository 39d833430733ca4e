"""``dicomul findscu``, ``getscu`` and ``movescu`` against DCMTK's dcmqrscp.

One dcmqrscp for the module, filled with the archive of
test_sync_dcmqrscp.py (two patients, three studies, ten CT images) by its
own helpers; its HostTable's move destination DEST is the port movescu
listens on with ``+P``.  The matches each app prints or extracts, the
retrieved files byte for byte (data set after the file meta), the counts,
the exit statuses, and the options --help lists.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import socket
import subprocess
from collections.abc import Iterator

import pytest
from corpus import assert_same_data_set
from dcmtk_tools import dcmtk_path
from hypothesis import given
from hypothesis import strategies as st
from peers import HOST, free_port
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from test_apps_echo import dicomul
from test_sync_dcmqrscp import (
    DESTINATION,
    PATIENTS,
    STUDIES,
    make_images,
    running_dcmqrscp,
    series_uid,
    study_uid,
)


@dataclasses.dataclass(frozen=True)
class Archive:
    """A running dcmqrscp, what it holds, and the port of its DEST."""

    port: int
    images: dict[pathlib.Path, Dataset]
    #: Where dcmqrscp sends DEST's sub-operations: movescu +P listens here.
    destination_port: int

    def paths(self, **attributes: str | int) -> dict[str, pathlib.Path]:
        """SOP Instance UID -> source file of the images with these values."""
        return {
            ds.SOPInstanceUID: path
            for path, ds in self.images.items()
            if all(ds.get(k) == v for k, v in attributes.items())
        }


@pytest.fixture(scope="module")
def qr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    tmp = tmp_path_factory.mktemp("dcmqrscp-apps")
    images = make_images(tmp)
    destination_port = free_port()
    with running_dcmqrscp(tmp, destination_port, images) as port:
        yield Archive(port, images, destination_port)


def extracted(directory: pathlib.Path) -> list[Dataset]:
    """The rsp0001.dcm, rsp0002.dcm... findscu -X wrote, in order."""
    paths = sorted(directory.iterdir())
    assert [p.name for p in paths] == [f"rsp{n:04d}.dcm" for n in range(1, len(paths) + 1)]
    return [dcmread(path) for path in paths]


def assert_retrieved(directory: pathlib.Path, wanted: dict[str, pathlib.Path]) -> None:
    assert {path.name for path in directory.iterdir()} == {f"{sop}.dcm" for sop in wanted}
    for sop, source in wanted.items():
        assert_same_data_set(directory / f"{sop}.dcm", source)


def summary(what: str, status: str, completed: int) -> str:
    """The line getscu and movescu print at the end (nothing failed)."""
    return f"{what} finished ({status}): {completed} completed, 0 failed, 0 warning, 0 remaining\n"


# ------------------------------------------------------------------ findscu


def test_findscu_keywords_verbose_and_extract(qr: Archive, tmp_path: pathlib.Path) -> None:
    """Study Root, keys by keyword (an empty value and a bare name ask for
    the attribute): each match extracted to rspNNNN.dcm and, with +sr, shown."""
    done = dicomul(
        "findscu", "-v", "+sr", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientName=*",
        "-k", "StudyInstanceUID=", "-k", "StudyDate", "-X", "-od", str(tmp_path),
        HOST, str(qr.port),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answers = extracted(tmp_path)
    assert {a.StudyInstanceUID for a in answers} == {study_uid(s) for s in STUDIES}
    assert {(str(a.PatientName), a.StudyDate) for a in answers} == {
        (PATIENTS[patient], date) for patient, date, _, _ in STUDIES.values()
    }
    assert all(a.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian for a in answers)
    from dicomul import IMPLEMENTATION_CLASS_UID

    assert all(a.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID for a in answers)
    lines = done.stderr.splitlines()
    # DCMTK's order: the request sent, its identifier, then the responses.
    order = [
        "I: Sending Find Request (MsgID 1)",
        "I: Request Identifiers:",
        "I: Find Response: 1 (Pending)",
    ]
    assert [lines.index(line) for line in order] == sorted(lines.index(line) for line in order)
    assert [line for line in lines if line.startswith("I: Find Response:")] == [
        f"I: Find Response: {n} (Pending)" for n in (1, 2, 3)
    ]
    shown = [line for line in lines if line.startswith("I: (0020,000d) UI [")]
    assert len(shown) == 3  # one per match; the request's is empty:
    assert "I: (0020,000d) UI (no value available)" in done.stderr
    assert {line.split("[")[1].split("]")[0] for line in shown} == {study_uid(s) for s in STUDIES}
    assert "I: (0010,0010) PN [DOE^JOHN]" in done.stderr
    assert done.stdout == ""


def test_findscu_tag_form_patient_root_quiet_by_default(
    qr: Archive, tmp_path: pathlib.Path
) -> None:
    """Keys as gggg,eeee (with and without parentheses), the Patient Root
    model (-P; the default is DCMTK's, -W); without -v nothing is printed."""
    done = dicomul(
        "findscu", "-P", "-k", "0008,0052=PATIENT", "-k", "(0010,0010)=D*", "-k", "0010,0020=",
        "-X", "-od", str(tmp_path), HOST, str(qr.port),
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    ((answer,),) = [extracted(tmp_path)]
    assert (answer.QueryRetrieveLevel, answer.PatientID) == ("PATIENT", "PID001")
    assert answer.PatientName == "DOE^JOHN"


def test_findscu_query_file_with_keys_overriding(qr: Archive, tmp_path: pathlib.Path) -> None:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = "PID002"
    query.StudyID = ""
    query.file_meta = FileMetaDataset()
    query.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    query.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.2.1.1"
    query.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    path = tmp_path / "query.dcm"
    query.save_as(path, enforce_file_format=True)
    out = tmp_path / "out"
    out.mkdir()
    done = dicomul(
        "findscu", "-P", "-k", "PatientID=PID001", "-X", "-od", str(out),
        HOST, str(qr.port), str(path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(a.StudyID for a in extracted(out)) == ["S11", "S12"]


def test_findscu_a_failed_query_exits_non_zero(qr: Archive) -> None:
    """No Query/Retrieve Level: dcmqrscp answers a Failure status."""
    done = dicomul("findscu", "-S", "-k", "PatientName=*", HOST, str(qr.port))
    assert done.returncode != 0
    assert "E: Find SCU Failed: Failure 0x" in done.stderr, done.stderr


def test_findscu_a_bad_key() -> None:
    done = dicomul("findscu", "-k", "NoSuchKeyword=1", HOST, str(free_port()))
    assert done.returncode != 0
    assert done.stderr == (
        "E: bad key format or dictionary name not found in dictionary: NoSuchKeyword=1\n"
    )


# ------------------------------------------------------------------- getscu


@pytest.mark.parametrize(
    ("model", "keys", "attributes"),
    [
        ("-S", ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study_uid('S11')}"],
         {"StudyID": "S11"}),
        ("-P", ["0008,0052=PATIENT", "0010,0020=PID002"], {"PatientID": "PID002"}),
    ],
    ids=["study-root", "patient-root"],
)  # fmt: skip
def test_getscu_retrieves_byte_for_byte(
    qr: Archive,
    tmp_path: pathlib.Path,
    model: str,
    keys: list[str],
    attributes: dict[str, str],
) -> None:
    wanted = qr.paths(**attributes)
    options = [arg for key in keys for arg in ("-k", key)]
    done = dicomul("getscu", model, *options, "-od", str(tmp_path), HOST, str(qr.port))
    assert done.returncode == 0, done.stderr
    n = len(wanted)
    assert (
        done.stdout == f"Get finished (Success): {n} completed, 0 failed, 0 warning, 0 remaining\n"
    )
    assert done.stderr == ""
    assert_retrieved(tmp_path, wanted)


# ------------------------------------------------------------------ movescu


def test_movescu_to_its_own_storage_scp(qr: Archive, tmp_path: pathlib.Path) -> None:
    """-aem DEST, listening as DEST with +P: dcmqrscp sends the series there."""
    wanted = qr.paths(SeriesInstanceUID=series_uid("S11", 1))
    done = dicomul(
        "movescu", "-v", "-S", "-aem", DESTINATION, "+P", str(qr.destination_port),
        "-od", str(tmp_path), "-k", "QueryRetrieveLevel=SERIES",
        "-k", f"StudyInstanceUID={study_uid('S11')}",
        "-k", f"0020,000e={series_uid('S11', 1)}", HOST, str(qr.port),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    n = len(wanted)
    assert (
        done.stdout
        == f"Move finished (Success): {n} completed, 0 failed, 0 warning, 0 remaining\n"
    )
    assert "I: Received Final Move Response (Success)" in done.stderr
    assert_retrieved(tmp_path, wanted)


def test_movescu_destination_defaults_to_the_calling_ae_title(
    qr: Archive, tmp_path: pathlib.Path
) -> None:
    wanted = qr.paths(PatientID="PID002")
    done = dicomul(
        "movescu", "-aet", DESTINATION, "+P", str(qr.destination_port), "-od", str(tmp_path),
        "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=PID002", HOST, str(qr.port),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Move finished (Success): {len(wanted)} completed, 0 failed")
    assert_retrieved(tmp_path, wanted)


def test_movescu_to_an_unknown_destination(qr: Archive) -> None:
    done = dicomul(
        "movescu", "-S", "-aem", "NOWHERE", "-k", "QueryRetrieveLevel=STUDY",
        "-k", f"StudyInstanceUID={study_uid('S12')}", HOST, str(qr.port),
    )  # fmt: skip
    assert done.returncode != 0
    assert (
        done.stdout
        == "Move finished (Failure 0xA801): 0 completed, 0 failed, 0 warning, 0 remaining\n"
    )
    assert done.stderr.startswith(
        "E: Move SCU Failed: Failure 0xA801: Refused: move destination unknown"
    ), done.stderr


# ------------------------------------------------------------ all three


@pytest.mark.parametrize("app", ["findscu", "getscu", "movescu"])
def test_nobody_listening(app: str, tmp_path: pathlib.Path) -> None:
    done = dicomul(app, "-k", "QueryRetrieveLevel=STUDY", HOST, str(free_port()))
    assert done.returncode != 0
    assert done.stderr.splitlines() == [
        "E: Association Request Failed: Failed to establish association",
        "E: Peer aborted Association (or never connected)",
        "E: TCP Initialisation Error: (Connection refused)",
    ]


@pytest.mark.parametrize("app", ["findscu", "getscu", "movescu"])
def test_no_query_is_a_usage_error_before_connecting(app: str) -> None:
    """Neither -k nor a query file: DCMTK's three apps refuse at the command
    line.  Before: ours connected and sent an empty identifier."""
    with socket.create_server((HOST, 0)) as listener:
        port = listener.getsockname()[1]
        done = dicomul(app, HOST, str(port))
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    assert done.returncode == 2
    assert done.stderr.endswith(
        f"dicomul {app}: error: no query given: name a query file, -k keys, or both\n"
    )


SHARED = (
    "-q --quiet -v --verbose -d --debug -ll --log-level -lc --log-config "
    "-P --patient -S --study -O --psonly -aet --calling-aet -aec --called-aet -k --key "
    "-to --timeout -ta --acse-timeout -td --dimse-timeout -pdu --max-pdu "
    "+tls --enable-tls +tla --anonymous-tls +cf --add-cert-file -ic --ignore-peer-cert"
)


@pytest.mark.parametrize(
    ("app", "options"),
    [
        ("findscu", f"{SHARED} -W --worklist -X --extract -od --output-directory"),
        ("getscu", f"{SHARED} -od --output-directory"),
        ("movescu", f"{SHARED} -aem --move +P --port -od --output-directory"),
    ],
)
def test_help_lists_the_options(app: str, options: str) -> None:
    done = dicomul(app, "--help")
    assert done.returncode == 0
    shown = set(done.stdout.replace(",", " ").split())
    assert set(options.split()) <= shown


def test_movescu_cannot_listen(qr: Archive) -> None:
    """+P on a port already taken (dcmqrscp's own): an E: line, no C-MOVE."""
    done = dicomul("movescu", "+P", str(qr.port), "-k", "QueryRetrieveLevel=STUDY", HOST, "1")
    assert done.returncode != 0
    assert done.stderr.startswith(f"E: cannot listen on port {qr.port}: "), done.stderr


def test_keys_reach_into_sequences_and_take_their_vr() -> None:
    """DCMTK's key paths (a worklist query), numbers for binary VRs, and
    later keys overriding earlier ones."""
    from dicomul_sync.apps._query import BadKeyError, apply_key

    query = Dataset()
    for key in (
        "ScheduledProcedureStepSequence[0].Modality=MR",
        "(0040,0100)[0].ScheduledStationAETitle=",
        "0040,0100[1].Modality=CT",
        "ReferencedStudySequence",
        "PatientName=A*",
        "PatientName=B*",
        "Rows=512",
        "0009,0010=PRIVATE",
    ):
        apply_key(query, key)
    first, second = query.ScheduledProcedureStepSequence
    assert (first.Modality, first.ScheduledStationAETitle, second.Modality) == ("MR", None, "CT")
    assert query.ReferencedStudySequence == []
    assert (query.PatientName, query.Rows) == ("B*", 512)
    assert query[0x00090010].VR == "UN"
    for bad in ("PatientName.Modality=MR", "Nonsense=1", "Rows=many", "ReferencedStudySequence=x"):
        with pytest.raises(BadKeyError):
            apply_key(query, bad)


def test_dump_shows_a_data_set_as_dcmdump_does(tmp_path: pathlib.Path) -> None:
    """The apps' data set dump, line for line what DCMTK dcmdump prints for
    the same file: strings, numbers, multi-values, an attribute tag, a UID
    by name, private elements, long values and pixel data (shortened)."""
    from corpus import image, write
    from dicomul_sync.apps._query import dump

    ds = image(rows=4, columns=4, name="Müller^Jörg")
    del ds.AnatomicRegionSequence  # sequences: lengths are not kept once decoded
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"] * 7  # long: shortened
    ds.ImageComments = "c" * 100  # long: shortened
    ds.AdditionalPatientHistory = "t" * 66  # just short enough to show whole
    ds.PixelSpacing = [0.5, 0.25]
    ds.add_new(0x00280009, "AT", [0x00181063])
    ds.add_new(0x00090010, "LO", "ACME")
    ds.add_new(0x00091001, "LO", "private value")
    path = write(ds, tmp_path / "dump.dcm", ExplicitVRLittleEndian)
    done = subprocess.run(
        [dcmtk_path("dcmdump"), str(path)], capture_output=True, text=True, check=True
    )
    theirs = done.stdout.split("# Dicom-Data-Set\n", 1)[1].splitlines()[1:]  # past its syntax
    assert dump(dcmread(path)) == theirs


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-v", "-sr"], ["-sr"]])
def test_findscu_prints_what_dcmtk_findscu_prints(qr: Archive, verbosity: list[str]) -> None:
    """The same query to dcmqrscp by DCMTK's findscu and ours: the same
    lines, by default (each match shown), with -v (the request, its
    identifier, each match, the final response) and with -sr (matches
    hidden)."""
    query = [
        "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientName=*", "-k", "PatientID",
        "-k", "StudyInstanceUID", "-k", "StudyDate", "-k", "ModalitiesInStudy",
    ]  # fmt: skip
    ours = dicomul("findscu", *verbosity, *query, HOST, str(qr.port))
    theirs = subprocess.run(
        [dcmtk_path("findscu"), *verbosity, *query, HOST, str(qr.port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "TCP_NODELAY": "1"},
    )
    assert (ours.returncode, theirs.returncode) == (0, 0), ours.stderr + theirs.stderr
    assert ("I: Find Response: 3 (Pending)" in ours.stderr) == ("-sr" not in verbosity)
    assert ours.stderr.splitlines() == theirs.stderr.splitlines()


@given(
    st.one_of(
        st.text(max_size=40),
        st.lists(
            st.sampled_from(
                [
                    "PatientName",
                    "(0010,0020)",
                    "0040,0100",
                    "[0]",
                    "[12]",
                    ".",
                    "=",
                    "x",
                    "ScheduledProcedureStepSequence",
                    "Rows",
                    "7FE0,0010",
                    "[",
                    "]",
                    "(",
                    ",",
                    "-1",
                    "ffff,ffff",
                    "*",
                    "\\\\",
                    "0009,0010",
                ]
            ),
            max_size=8,
        ).map("".join),
    )
)
def test_any_key_text_is_taken_or_refused_with_bad_key_error(key: str) -> None:
    """-k is a parser of user text: whatever it is given, it adds to the
    query or raises BadKeyError (an E: line), never anything else."""
    from dicomul_sync.apps._query import BadKeyError, apply_key

    query = Dataset()
    with contextlib.suppress(BadKeyError):
        apply_key(query, key)
