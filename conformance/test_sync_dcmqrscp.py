"""Our SCU (dicomul_sync) against DCMTK's dcmqrscp as the Query/Retrieve SCP.

One dcmqrscp per module, its database filled by our own C-STOREs: two
patients, three studies, four series, ten CT images.  Then the seed's Find
SCU example as written, C-FIND at every level in the Patient Root and Study
Root models, C-GET and C-MOVE with the sub-operation counts and the images
byte for byte, C-CANCEL of a C-GET, and the archive's refusals.

dcmqrscp runs in its default fork mode: DCMTK 3.6.7's ``--single-process``
mode dies of a SIGSEGV once its first association has ended (DCMTK's own
storescu then echoscu show it too), so it cannot serve a second one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import pathlib
from collections.abc import Callable, Iterable, Iterator

import pytest
from corpus import CT, assert_same_data_set, data_set_bytes, image, write
from dcmtk_tools import dcmtk_path
from dicomul_sync import AE, Association
from peers import HOST, free_port, listening, serving
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from test_sync_seed_examples import FIND_SCU, run_example

PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
VERIFICATION = "1.2.840.10008.1.1"

#: The archive's AE title: the seed example calls ae.associate(addr, port),
#: whose called AE title is the default ANY-SCP.
ARCHIVE = "ANY-SCP"
#: A read-only storage area of the same archive (AETable access R).
READ_ONLY = "READONLY"
#: Our storage SCP, the C-MOVE destination listed in dcmqrscp's HostTable.
DESTINATION = "DEST"

PATIENTS = {"PID001": "DOE^JOHN", "PID002": "ROE^JANE"}
#: Study ID -> (patient ID, study date, description, images per series).
STUDIES = {
    "S11": ("PID001", "20240115", "CHEST", (3, 2)),
    "S12": ("PID001", "20240220", "HEAD", (2,)),
    "S21": ("PID002", "20240305", "CHEST", (3,)),
}


def uid(*parts: object) -> str:
    """A UID fixed by ``parts``, so queries can name studies and series."""
    return str(generate_uid(entropy_srcs=["dicomul dcmqrscp conformance", *map(str, parts)]))


def study_uid(study: str) -> str:
    return uid("study", study)


def series_uid(study: str, series: int) -> str:
    return uid("series", study, series)


@dataclasses.dataclass(frozen=True)
class Archive:
    """A running dcmqrscp, what it holds, and our move destination."""

    port: int
    images: dict[pathlib.Path, Dataset]
    destination: AE
    #: The ANY-SCP storage area, where dcmqrscp keeps what it received.
    storage: pathlib.Path

    def paths(self, predicate: Callable[[Dataset], bool]) -> dict[str, pathlib.Path]:
        """SOP Instance UID -> source file, for the images ``predicate`` picks."""
        return {ds.SOPInstanceUID: path for path, ds in self.images.items() if predicate(ds)}


def make_images(directory: pathlib.Path) -> dict[pathlib.Path, Dataset]:
    """The archive's content as Part 10 files (Explicit VR Little Endian)."""
    images = {}
    seed = 0
    for study, (patient, date, description, series_sizes) in STUDIES.items():
        for series, size in enumerate(series_sizes, start=1):
            for number in range(1, size + 1):
                seed += 1
                ds = image(rows=16, columns=16, seed=seed, name=PATIENTS[patient])
                ds.PatientID = patient
                ds.PatientBirthDate = "19700101"
                ds.StudyInstanceUID = study_uid(study)
                ds.StudyID = study
                ds.StudyDate = date
                ds.StudyTime = "120000"
                ds.StudyDescription = description
                ds.AccessionNumber = f"ACC{study}"
                ds.SeriesInstanceUID = series_uid(study, series)
                ds.SeriesNumber = series
                ds.Modality = "CT"
                ds.SOPInstanceUID = uid("image", study, series, number)
                ds.InstanceNumber = number
                path = write(
                    ds, directory / f"{study}-{series}-{number}.dcm", ExplicitVRLittleEndian
                )
                images[path] = ds
    return images


def dcmqrscp_config(port: int, storage: pathlib.Path, destination_port: int) -> str:
    """A dcmqrscp.cfg (DCMTK dcmqrcnf.txt): the archive AE writable by any
    peer, a read-only one, and our move destination in the HostTable."""
    (storage / "archive").mkdir()
    (storage / "readonly").mkdir()
    return f"""\
NetworkTCPPort  = {port}
MaxPDUSize      = 16384
MaxAssociations = 16

HostTable BEGIN
destination = ({DESTINATION}, localhost, {destination_port})
HostTable END

VendorTable BEGIN
VendorTable END

AETable BEGIN
{ARCHIVE}  {storage / "archive"}  RW (10, 1024mb) ANY
{READ_ONLY} {storage / "readonly"} R  (10, 1024mb) ANY
AETable END
"""


@contextlib.contextmanager
def associate(
    port: int,
    sop_classes: list[str],
    *,
    called: str = ARCHIVE,
    calling: str = "QRSCU",
    scp_sop_class: tuple[str, ...] = (),
    store_directory: pathlib.Path | None = None,
) -> Iterator[Association]:
    """An established association with the archive, released on exit;
    ``scp_sop_class`` and ``store_directory`` serve a C-GET's sub-operations."""
    ae = AE(ae_title=calling, scu_sop_class=sop_classes, scp_sop_class=scp_sop_class)
    ae.acse_timeout = ae.dimse_timeout = 10
    if store_directory is not None:
        ae.store_directory = str(store_directory)
    assoc = ae.associate(HOST, port, ae_title=called)
    assert assoc.is_established
    try:
        yield assoc
    finally:
        assoc.release()
    assert assoc.is_released


@contextlib.contextmanager
def running_dcmqrscp(
    tmp: pathlib.Path, destination_port: int, images: Iterable[pathlib.Path] = ()
) -> Iterator[int]:
    """dcmqrscp (fork mode, no reverse lookups (-dhl), data sets stored as
    they came (+B)) on a free port, configured in ``tmp`` and filled with
    ``images`` by our C-STOREs; yields its port."""
    port = free_port()
    (tmp / "dcmqrscp.cfg").write_text(dcmqrscp_config(port, tmp, destination_port))
    command = [dcmtk_path("dcmqrscp"), "-c", str(tmp / "dcmqrscp.cfg"), "-dhl", "+B", str(port)]
    with listening(command, port):
        images = list(images)
        if images:
            with associate(port, [CT], calling="LOADER") as assoc:
                statuses = [assoc.send_c_store(str(path)) for path in images]
            assert [s.Status if s else None for s in statuses] == [0x0000] * len(images)
        yield port


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """dcmqrscp on a free port, filled by our C-STOREs of ten CT images."""
    tmp = tmp_path_factory.mktemp("dcmqrscp")
    images = make_images(tmp)
    destination = AE(
        ae_title=DESTINATION,
        scp_sop_class=[CT, VERIFICATION],
        # Explicit VR Little Endian first: dcmqrscp proposes it first and holds
        # the files in it, so it sends them as they are, byte for byte.
        transfer_syntax=[ExplicitVRLittleEndian, ImplicitVRLittleEndian],
    )
    with contextlib.ExitStack() as stack:
        destination_port = stack.enter_context(serving(destination))
        port = stack.enter_context(running_dcmqrscp(tmp, destination_port, images))
        yield Archive(port, images, destination, tmp / "archive")


# ------------------------------------------------------------------- C-FIND


def test_seed_find_scu_example(archive: Archive) -> None:
    """The seed's Find SCU example, as written: one printed identifier per
    patient (PATIENT level, PatientName '*'), then the Success branch."""
    out = run_example(FIND_SCU, archive.port)
    lines = out.splitlines()
    assert lines[:2] == [
        "Requesting Association with the peer",
        "Association accepted by the peer",
    ]
    assert lines[-1] == "C-FIND finished, releasing the association"
    names = [line for line in lines if line.startswith("(0010,0010) Patient's Name")]
    assert sorted(name.split("PN: ")[1] for name in names) == ["'DOE^JOHN'", "'ROE^JANE'"]
    levels = [line for line in lines if line.startswith("(0008,0052) Query/Retrieve Level")]
    assert levels == ["(0008,0052) Query/Retrieve Level                CS: 'PATIENT'"] * 2
    assert "failed" not in out
    assert "cancelled" not in out


@dataclasses.dataclass(frozen=True)
class FindCase:
    model: str
    level: str
    query: dict[str, str]
    #: The keys of each answer compared, and which images' values they must take.
    returned: tuple[str, ...]
    matches: Callable[[Dataset], bool]


FIND_CASES = {
    "patient-root/patient/all": FindCase(
        "P",
        "PATIENT",
        {"PatientName": "*", "PatientID": ""},
        ("PatientID", "PatientName"),
        lambda ds: True,
    ),
    "patient-root/patient/prefix": FindCase(
        "P",
        "PATIENT",
        {"PatientName": "D*", "PatientID": ""},
        ("PatientID", "PatientName"),
        lambda ds: ds.PatientID == "PID001",
    ),
    "patient-root/patient/single-char": FindCase(
        "P",
        "PATIENT",
        {"PatientName": "?OE^JA*", "PatientID": ""},
        ("PatientID",),
        lambda ds: ds.PatientID == "PID002",
    ),
    "patient-root/study": FindCase(
        "P",
        "STUDY",
        {"PatientID": "PID001", "StudyInstanceUID": "", "StudyDate": "", "StudyID": ""},
        ("StudyInstanceUID", "StudyDate", "StudyID"),
        lambda ds: ds.PatientID == "PID001",
    ),
    "patient-root/series": FindCase(
        "P",
        "SERIES",
        {
            "PatientID": "PID001",
            "StudyInstanceUID": study_uid("S11"),
            "SeriesInstanceUID": "",
            "SeriesNumber": "",
            "Modality": "",
        },
        ("SeriesInstanceUID", "SeriesNumber", "Modality"),
        lambda ds: ds.StudyID == "S11",
    ),
    "study-root/study/description-wildcard": FindCase(
        "S",
        "STUDY",
        {"PatientName": "*", "StudyDescription": "CH*", "StudyInstanceUID": ""},
        ("StudyInstanceUID", "PatientName", "StudyDescription"),
        lambda ds: ds.StudyDescription == "CHEST",
    ),
    "study-root/study/date-range": FindCase(
        "S",
        "STUDY",
        {"StudyDate": "20240201-", "StudyInstanceUID": "", "AccessionNumber": ""},
        ("StudyInstanceUID", "StudyDate", "AccessionNumber"),
        lambda ds: ds.StudyDate >= "20240201",
    ),
    "study-root/series": FindCase(
        "S",
        "SERIES",
        {"StudyInstanceUID": study_uid("S11"), "SeriesInstanceUID": "", "Modality": "CT"},
        ("SeriesInstanceUID", "Modality"),
        lambda ds: ds.StudyID == "S11",
    ),
    "study-root/image": FindCase(
        "S",
        "IMAGE",
        {
            "StudyInstanceUID": study_uid("S11"),
            "SeriesInstanceUID": series_uid("S11", 1),
            "SOPInstanceUID": "",
            "InstanceNumber": "",
        },
        ("SOPInstanceUID", "InstanceNumber"),
        lambda ds: ds.SeriesInstanceUID == series_uid("S11", 1),
    ),
}


@pytest.mark.parametrize("case", FIND_CASES.values(), ids=FIND_CASES.keys())
def test_c_find(archive: Archive, case: FindCase) -> None:
    """Exactly the matching entities, one Pending response each at the
    level asked, then Success."""
    query = Dataset()
    query.QueryRetrieveLevel = case.level
    for keyword, value in case.query.items():
        setattr(query, keyword, value)
    model = PATIENT_ROOT_FIND if case.model == "P" else STUDY_ROOT_FIND
    with associate(archive.port, [model]) as assoc:
        responses = list(assoc.send_c_find(query, query_model=case.model))
    statuses = [status for status, _ in responses]
    answers = [identifier for _, identifier in responses[:-1]]
    assert statuses[-1] == "Success"
    assert responses[-1][1] is None
    assert all(status == "Pending" for status in statuses[:-1])
    assert all(answer is not None for answer in answers)
    assert {answer.QueryRetrieveLevel for answer in answers} == {case.level}

    def values(ds: Dataset) -> tuple[str, ...]:
        return tuple(str(ds.get(keyword, "")) for keyword in case.returned)

    expected = {values(ds) for ds in archive.images.values() if case.matches(ds)}
    assert expected  # the case selects something
    got = [values(answer) for answer in answers]
    assert len(got) == len(set(got))  # each entity once
    assert set(got) == expected


# -------------------------------------------------------------------- C-GET


def counts(response: Dataset | None) -> tuple[int | None, ...]:
    """(remaining, completed, failed, warning) sub-operations of a response."""
    assert response is not None
    return tuple(
        response.get(f"NumberOf{kind}Suboperations")
        for kind in ("Remaining", "Completed", "Failed", "Warning")
    )


GET_CASES = {
    "study-root/study": (
        "S",
        {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": study_uid("S11")},
        lambda ds: ds.StudyID == "S11",
    ),
    "patient-root/patient": (
        "P",
        {"QueryRetrieveLevel": "PATIENT", "PatientID": "PID002"},
        lambda ds: ds.PatientID == "PID002",
    ),
}


@pytest.mark.parametrize(("model", "keys", "matches"), GET_CASES.values(), ids=GET_CASES.keys())
def test_c_get_stores_every_image_on_this_association(
    archive: Archive,
    tmp_path: pathlib.Path,
    model: str,
    keys: dict[str, str],
    matches: Callable[[Dataset], bool],
) -> None:
    """C-GET (PS3.4 C.4.3): each match arrives as a C-STORE sub-operation on
    our association, stored with its data set byte for byte; one Pending
    response per sub-operation counting down, then Success with the total."""
    wanted = archive.paths(matches)
    query = Dataset()
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    get_model = PATIENT_ROOT_GET if model == "P" else STUDY_ROOT_GET
    with associate(
        archive.port, [get_model], scp_sop_class=(CT,), store_directory=tmp_path
    ) as assoc:
        progress = []
        for status, identifier in assoc.send_c_get(query, query_model=model):
            progress.append((status, counts(assoc.last_response)))
            assert identifier is None  # nothing failed: no Failed SOP Instance UID List
    n = len(wanted)
    assert progress == [
        *(("Pending", (n - done, done, 0, 0)) for done in range(1, n + 1)),
        ("Success", (None, n, 0, 0)),
    ]
    assert {path.name for path in tmp_path.iterdir()} == {f"{sop}.dcm" for sop in wanted}
    for sop, source in wanted.items():
        assert_same_data_set(tmp_path / f"{sop}.dcm", source)


def test_c_get_without_the_storage_scp_role_fails_every_sub_operation(
    archive: Archive,
) -> None:
    """Without CT storage in scp_sop_class no context lets the archive send
    CT back: every sub-operation fails, the final status is Refused (0xA702,
    PS3.4 C.4.3.1.4) and names the failed instances."""
    wanted = archive.paths(lambda ds: ds.StudyID == "S12")
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid("S12")
    with associate(archive.port, [STUDY_ROOT_GET, PATIENT_ROOT_FIND]) as assoc:
        responses = list(assoc.send_c_get(query, query_model="S"))
        final = assoc.last_response
        # The association is still good for the next request.
        after = [s for s, _ in assoc.send_c_find(query_for_patients(), query_model="P")]
    assert after == ["Pending", "Pending", "Success"]
    status, identifier = responses[-1]
    assert status == 0xA702
    assert status == "Failure"
    assert counts(final)[1:] == (0, len(wanted), 0)
    assert identifier is not None
    assert set(identifier.FailedSOPInstanceUIDList) == set(wanted)


def query_for_patients() -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    query.PatientID = "*"
    return query


# ------------------------------------------------------------------- C-MOVE


def test_c_move_to_our_storage_scp(archive: Archive, tmp_path: pathlib.Path) -> None:
    """C-MOVE (PS3.4 C.4.2): dcmqrscp opens an association to our SCP (its
    HostTable's DEST) and stores the series there; our SCU sees a Pending
    response per sub-operation, then Success with the counts."""
    wanted = archive.paths(lambda ds: ds.SeriesInstanceUID == series_uid("S11", 1))
    archive.destination.store_directory = str(tmp_path)
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.StudyInstanceUID = study_uid("S11")
    query.SeriesInstanceUID = series_uid("S11", 1)
    with associate(archive.port, [STUDY_ROOT_MOVE]) as assoc:
        progress = [
            (status, counts(assoc.last_response))
            for status, _ in assoc.send_c_move(query, DESTINATION, query_model="S")
        ]
    n = len(wanted)
    assert progress == [
        *(("Pending", (n - done, done, 0, 0)) for done in range(1, n + 1)),
        ("Success", (None, n, 0, 0)),
    ]
    assert {path.name for path in tmp_path.iterdir()} == {f"{sop}.dcm" for sop in wanted}
    for sop, source in wanted.items():
        assert_same_data_set(tmp_path / f"{sop}.dcm", source)


def test_c_move_to_an_unknown_destination(archive: Archive) -> None:
    """A destination not in the HostTable: Refused, Move Destination unknown
    (0xA801), with no sub-operation attempted."""
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid("S12")
    with associate(archive.port, [STUDY_ROOT_MOVE]) as assoc:
        responses = list(assoc.send_c_move(query, "NOWHERE", query_model="S"))
    ((status, _),) = responses
    assert status == 0xA801
    assert status == "Failure"


# ----------------------------------------------------------------- C-CANCEL


def test_c_cancel_stops_a_c_get(archive: Archive, tmp_path: pathlib.Path) -> None:
    """C-CANCEL of a C-GET after its first sub-operation (PS3.7 9.3.3.3).
    dcmqrscp notices the cancel before its next sub-operation or while
    awaiting that sub-operation's C-STORE response (in practice the latter),
    so it stops after the first or second image, answers Cancel (0xFE00,
    PS3.4 C.4.3.1.4) with the counts, and the association carries on.

    A C-GET rather than a C-FIND: dcmqrscp checks for a C-CANCEL between
    responses, but writes a C-FIND's few small responses faster than a
    cancel can reach it, whereas each C-GET sub-operation waits for our
    C-STORE response.
    """
    wanted = archive.paths(lambda ds: ds.PatientID == "PID001")
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    query.PatientID = "PID001"
    with associate(
        archive.port,
        [PATIENT_ROOT_GET, PATIENT_ROOT_FIND],
        scp_sop_class=(CT,),
        store_directory=tmp_path,
    ) as assoc:
        statuses = []
        for status, _ in assoc.send_c_get(query, query_model="P"):
            statuses.append(status)
            if len(statuses) == 1:
                assoc.send_c_cancel()
        final = assoc.last_response
        # Not aborted: the next request on the same association is served.
        after = [s for s, _ in assoc.send_c_find(query_for_patients(), query_model="P")]
    # The response after the cancel is the last: Cancel, whichever way it went.
    assert statuses == ["Pending", "Cancel"]
    assert statuses[-1] == 0xFE00
    remaining, completed, failed, warning = counts(final)
    assert completed in {1, 2}
    assert (failed, warning) == (0, 0)
    assert remaining == len(wanted) - completed  # dcmqrscp counts the rest as remaining
    stored = {path.name for path in tmp_path.iterdir()}
    assert len(stored) == completed
    assert stored < {f"{sop}.dcm" for sop in wanted}
    assert after == ["Pending", "Pending", "Success"]


def test_a_c_cancel_that_comes_too_late_for_a_c_find(archive: Archive) -> None:
    """C-CANCEL of a C-FIND after its first response (PS3.7 9.3.2.3).
    dcmqrscp does honour a cancel it has read before a response
    (DIMSE_findProvider polls for one each time), but it has written all
    three matches before ours arrives: the query ends with Success and every
    match, and dcmqrscp ignores the late cancel ("late C-CANCEL-RQ,
    ignoring").  Either way one of the standard's endings (Success with
    every match, or Cancel with fewer) must come, and the association must
    still serve the next request."""
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientName = "*"
    query.StudyInstanceUID = ""
    with associate(archive.port, [STUDY_ROOT_FIND]) as assoc:
        responses = []
        for status, identifier in assoc.send_c_find(query, query_model="S"):
            responses.append((status, identifier))
            if len(responses) == 1:
                assoc.send_c_cancel()
        after = [s for s, _ in assoc.send_c_find(query, query_model="S")]
    statuses = [status for status, _ in responses]
    assert statuses[:-1] == ["Pending"] * (len(statuses) - 1)
    if statuses[-1] == "Success":
        assert len(statuses) == len(STUDIES) + 1
    else:
        assert statuses[-1] == "Cancel"
        assert len(statuses) <= len(STUDIES)
    assert after == ["Pending"] * len(STUDIES) + ["Success"]


# -------------------------------------------------------- access and storage


def test_a_read_only_storage_area_refuses_the_storage_context(
    archive: Archive, caplog: pytest.LogCaptureFixture
) -> None:
    """dcmqrscp refuses storage contexts to a read-only (R) AE (its AETable
    access rights); our SCU then sends nothing and says why."""
    path = next(iter(archive.images))
    with (
        associate(archive.port, [CT, VERIFICATION], called=READ_ONLY) as assoc,
        caplog.at_level(logging.ERROR, logger="dicomul"),
    ):
        assert assoc.negotiated is not None
        assert assoc.negotiated.context_for(CT) is None
        assert assoc.send_c_store(str(path)) is None
        echo = assoc.send_c_echo()
    assert (
        f"Cannot send C-STORE of CT Image Storage ({CT}): the peer rejected it: user rejection"
        in caplog.text
    )
    assert echo is not None
    assert echo.Status == 0x0000


def test_an_unknown_called_ae_title_is_rejected(archive: Archive) -> None:
    """A called AE title not in the AETable: A-ASSOCIATE-RJ, permanent,
    service user, called AE title not recognized (PS3.8 9.3.4)."""
    assoc = AE(scu_sop_class=[VERIFICATION]).associate(HOST, archive.port, ae_title="NOSUCHAE")
    assert assoc.is_rejected
    assert not assoc.is_established
    rejection = assoc.rejection
    assert rejection is not None
    assert (rejection.pdu.result, rejection.pdu.source, rejection.pdu.reason) == (1, 1, 7)


def test_the_archive_kept_our_data_sets_as_sent(archive: Archive) -> None:
    """The files dcmqrscp stored from our C-STOREs (bit-preserving mode)
    hold exactly the data sets of the source files."""
    stored = {
        dcmread(path, stop_before_pixels=True).SOPInstanceUID: data_set_bytes(path)
        for path in archive.storage.glob("*.dcm")
    }
    sent = {ds.SOPInstanceUID: data_set_bytes(path) for path, ds in archive.images.items()}
    assert stored == sent
