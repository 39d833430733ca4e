"""``dicomul qrscp`` queried as a hostile or careless peer would (issue 14).

- A wild card key that a backtracking matcher takes hours over is answered
  at once, and never stops the other associations (their C-ECHOs, C-STOREs,
  queries): keys are matched in linear time, outside the index's lock.
- A C-GET or C-MOVE must name what it retrieves by the unique keys of its
  level and the levels above (PS3.4 C.4.2.2.1, C.4.3.2.1): an empty or
  missing unique key, or a UID list with an empty element, is refused
  (0xA900) and nothing is sent, where it used to send the whole archive.
- A C-FIND response declares the character set of its values (PS3.4
  C.4.1.1.3.2): names stored in Latin-1, UTF-8, Japanese (ISO 2022 IR 87)
  and Cyrillic read back as stored, by DCMTK's findscu and by pydicom.
- A date or time key that is no value nor range of its VR is refused
  (0xA900), never read as "from 20200101 on".
- A hypothesis property: random keys and wild cards against a small
  archive, each answered within a bounded time while another association
  is served.
"""

from __future__ import annotations

import contextlib
import pathlib
import threading
import time
from collections.abc import Iterator

import pytest
from corpus import CT, image, write
from dicomul_sync import AE, Association
from hypothesis import given, settings
from hypothesis import strategies as st
from peers import HOST, serving
from pydicom import dcmread
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian
from test_apps_echo import Server
from test_apps_qrscp import Archive, findscu, make_archive, qrscp, series_uid, study_uid

#: The identifiers here break the rules on purpose: pydicom, building them,
#: says so.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")

VERIFICATION = "1.2.840.10008.1.1"
FIND = {"P": "1.2.840.10008.5.1.4.1.2.1.1", "S": "1.2.840.10008.5.1.4.1.2.2.1"}
GET = {"P": "1.2.840.10008.5.1.4.1.2.1.3", "S": "1.2.840.10008.5.1.4.1.2.2.3"}
MOVE = {"P": "1.2.840.10008.5.1.4.1.2.1.2", "S": "1.2.840.10008.5.1.4.1.2.2.2"}
IDENTIFIER_DOES_NOT_MATCH = 0xA900
#: The key of the issue: a regular expression backtracks through about
#: C(40, 10) ways of placing its ten "?" in a 40-character value without
#: "!" (tens of seconds).
HOSTILE = "*?*?*?*?*?*?*?*?*?*?!"
DESCRIPTION = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCD"  # 40 characters
#: Generous bounds on wall time: nothing here is a speed test.
PROMPT = 10.0


def query(**keys: object) -> Dataset:
    ds = Dataset()
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


@contextlib.contextmanager
def associated(port: int, *sop_classes: str, **options: object) -> Iterator[Association]:
    """Our SCU associated with qrscp (timeouts set: a hang fails, not waits),
    released on exit; ``options`` go to the AE (store_directory...)."""
    ae = AE(ae_title="ABUSER", scu_sop_class=list(sop_classes), scp_sop_class=[CT])
    ae.acse_timeout = ae.dimse_timeout = 60
    for name, value in options.items():
        setattr(ae, name, value)
    assoc = ae.associate(HOST, port, ae_title="QRSCP")
    assert assoc.is_established
    try:
        yield assoc
    finally:
        assoc.release()


# ----------------------------------------------------- a hostile wild card


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """qrscp over 300 studies, each with a 40-character description; one
    ends in "!", so that the hostile key matches it alone."""
    database = tmp_path_factory.mktemp("crowded")
    for n in range(300):
        ds = image(rows=2, columns=2, seed=n)
        ds.StudyDescription = DESCRIPTION[:-1] + "!" if n == 150 else DESCRIPTION
        write(ds, database / f"{n:03d}.dcm", ExplicitVRLittleEndian)
    with qrscp(database) as server:
        yield server


def test_a_hostile_wild_card_stops_nobody(crowded: Server, tmp_path: pathlib.Path) -> None:
    """Before: the key was a backtracking regular expression run inside
    SQLite, under the index's lock and the GIL: tens of seconds per row, and
    the whole server (accept loop, C-ECHO, C-STORE) stopped meanwhile.  Now
    the query runs while another association is served, and is answered."""
    answers: list[tuple[int, Dataset | None]] = []

    def hostile() -> None:
        keys = query(QueryRetrieveLevel="STUDY", StudyInstanceUID="", StudyDescription=HOSTILE)
        with associated(crowded.port, FIND["S"]) as assoc:
            answers.extend(assoc.send_c_find(keys, query_model="S"))

    thread = threading.Thread(target=hostile, daemon=True)
    thread.start()
    started = time.monotonic()
    with associated(crowded.port, VERIFICATION, CT) as other:
        echo = other.send_c_echo()
        stored = other.send_c_store(image(rows=2, columns=2, seed=999))
    served = time.monotonic() - started
    thread.join(60)
    assert echo is not None
    assert echo.Status == 0
    assert stored is not None
    assert stored.Status == 0
    assert served < PROMPT  # the other association did not wait for the query
    assert not thread.is_alive()
    assert [int(status) for status, _ in answers] == [0xFF00, 0x0000]
    assert answers[0][1] is not None
    assert answers[0][1].StudyDescription == DESCRIPTION[:-1] + "!"


def test_a_hostile_wild_card_in_a_retrieve_plays_no_part(
    crowded: Server, tmp_path: pathlib.Path
) -> None:
    """C-GET and C-MOVE identifiers took the same path: now a retrieve
    selects by its unique keys alone (PS3.4 C.4.3.3.1), so the other keys,
    hostile or not, are not matched at all."""
    keys = query(QueryRetrieveLevel="PATIENT", PatientID="ID7", StudyDescription=HOSTILE)
    with associated(crowded.port, GET["P"], store_directory=str(tmp_path)) as assoc:
        statuses = [int(status) for status, _ in assoc.send_c_get(keys, query_model="P")]
    assert statuses == [0x0000]
    assert len(list(tmp_path.iterdir())) == 1


# ------------------------------------------------- retrieve's unique keys


class Retrieving(Archive):
    """test_apps_qrscp's archive, and what our move destination received."""

    def __init__(self, server: Server, files: dict[str, pathlib.Path], port: int) -> None:
        super().__init__(server, files, port)
        self.received: list[Dataset] = []


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Retrieving]:
    """qrscp over test_apps_qrscp's archive (three studies, six images),
    with our storage SCP serving as its move destination DEST."""
    root = tmp_path_factory.mktemp("qrscp-retrieve")
    files = make_archive(root)
    received: list[Dataset] = []

    def store(ds: Dataset) -> int:
        received.append(ds)
        return 0

    destination = AE(ae_title="DEST", scp_sop_class=[CT, VERIFICATION])
    destination.on_c_store = store  # type: ignore[method-assign]
    with serving(destination) as port, qrscp(root, "--known-ae", f"DEST={HOST}:{port}") as server:
        retrieving = Retrieving(server, files, port)
        retrieving.received = received
        yield retrieving


A, B, C = study_uid("A"), study_uid("B"), study_uid("C")
#: Identifiers that name no entity as baseline retrieve requires (PS3.4
#: C.4.2.2.1, C.4.3.2.1), by model.
REFUSED = {
    "empty study UID": ("S", {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": ""}),
    "no study UID": ("S", {"QueryRetrieveLevel": "STUDY"}),
    "UID list with an empty element": (
        "S",
        {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": [A, ""]},
    ),
    "a wild card for a UID": ("S", {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": "1.2*"}),
    "no level": ("S", {"StudyInstanceUID": A}),
    "series without its study": (
        "S",
        {"QueryRetrieveLevel": "SERIES", "SeriesInstanceUID": series_uid("A", 1)},
    ),
    "series under two studies": (
        "S",
        {
            "QueryRetrieveLevel": "SERIES",
            "StudyInstanceUID": [A, B],
            "SeriesInstanceUID": series_uid("A", 1),
        },
    ),
    "empty patient ID": ("P", {"QueryRetrieveLevel": "PATIENT", "PatientID": ""}),
    "patient ID wild card": ("P", {"QueryRetrieveLevel": "PATIENT", "PatientID": "PID*"}),
    "patient ID list": ("P", {"QueryRetrieveLevel": "PATIENT", "PatientID": ["PID1", "PID2"]}),
    "patient root study without patient": (
        "P",
        {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": A},
    ),
    "patient root image without series": (
        "P",
        {
            "QueryRetrieveLevel": "IMAGE",
            "PatientID": "PID1",
            "StudyInstanceUID": A,
            "SOPInstanceUID": f"{series_uid('A', 1)}.1",
        },
    ),
}


@pytest.mark.parametrize(("model", "keys"), REFUSED.values(), ids=REFUSED.keys())
def test_c_get_without_its_unique_keys_is_refused(
    archive: Archive, tmp_path: pathlib.Path, model: str, keys: dict[str, object]
) -> None:
    """Before: an empty, missing or partly empty unique key was universal
    matching, and the whole archive came back with Success."""
    with associated(archive.server.port, GET[model], store_directory=str(tmp_path)) as assoc:
        responses = list(assoc.send_c_get(query(**keys), query_model=model))
    assert [int(status) for status, _ in responses] == [IDENTIFIER_DOES_NOT_MATCH]
    assert list(tmp_path.iterdir()) == []


def test_c_move_without_its_unique_key_is_refused(archive: Retrieving) -> None:
    """The same for C-MOVE: refused, and nothing reaches the destination;
    a good identifier on the same association is then served."""
    archive.received.clear()
    keys = query(QueryRetrieveLevel="STUDY", StudyInstanceUID=[A, ""])
    with associated(archive.server.port, MOVE["S"]) as assoc:
        refused = [int(status) for status, _ in assoc.send_c_move(keys, "DEST", query_model="S")]
        assert archive.received == []
        good = query(QueryRetrieveLevel="STUDY", StudyInstanceUID=C)
        moved = [int(status) for status, _ in assoc.send_c_move(good, "DEST", query_model="S")]
    assert refused == [IDENTIFIER_DOES_NOT_MATCH]
    assert moved[-1] == 0x0000
    assert {ds.SOPInstanceUID for ds in archive.received} == archive.sops("C")


#: Identifiers as baseline retrieve wants them, and the (study, series)
#: whose images they retrieve.
ACCEPTED = {
    "two studies": (
        "S",
        {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": [A, C]},
        [("A", None), ("C", None)],
    ),
    "a series, patient root": (
        "P",
        {
            "QueryRetrieveLevel": "SERIES",
            "PatientID": "PID1",
            "StudyInstanceUID": A,
            "SeriesInstanceUID": series_uid("A", 2),
        },
        [("A", 2)],
    ),
    "other keys play no part": (
        "S",
        {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": B, "PatientName": "NOBODY"},
        [("B", None)],
    ),
}


def test_the_index_copies_its_rows_out_in_batches(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query reads the index a batch at a time (the lock held for each):
    with batches of two rows, every row is still seen once, in order."""
    from dicomul_sync.apps import _qrindex

    files = make_archive(tmp_path)
    index = _qrindex.Index(tmp_path)
    index.scan()
    whole = index.paths({})
    studies = list(index.find("STUDY", {"PatientID": "PID1"}))
    monkeypatch.setattr(_qrindex, "_BATCH", 2)
    assert index.paths({}) == whole == sorted(whole)
    assert sorted(whole) == sorted(str(path) for path in files.values())
    assert list(index.find("STUDY", {"PatientID": "PID1"})) == studies
    assert {s["StudyInstanceUID"] for s in studies} == {A, B}
    assert {s["ModalitiesInStudy"] for s in studies} == {"CT", "MR"}


@pytest.mark.parametrize(("model", "keys", "wanted"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_c_get_by_unique_keys(
    archive: Archive,
    tmp_path: pathlib.Path,
    model: str,
    keys: dict[str, object],
    wanted: list[tuple[str, int | None]],
) -> None:
    """What the standard allows is served: a list of UIDs at the level, a
    single value above it; keys other than the unique ones are ignored."""
    with associated(archive.server.port, GET[model], store_directory=str(tmp_path)) as assoc:
        statuses = [int(s) for s, _ in assoc.send_c_get(query(**keys), query_model=model)]
    assert statuses[-1] == 0x0000
    expected = set().union(*(archive.sops(study, series) for study, series in wanted))
    assert {path.stem for path in tmp_path.iterdir()} == expected


def test_dcmtk_getscu_is_refused_without_a_study_uid(
    archive: Archive, tmp_path: pathlib.Path
) -> None:
    """DCMTK's getscu, asking for every study with an empty key: refused
    (DCMTK's name for 0xA900), nothing stored."""
    from test_apps_qrscp import run

    done = run(
        "getscu", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=",
        "-od", str(tmp_path), HOST, str(archive.server.port),
    )  # fmt: skip
    assert "DataSetDoesNotMatchSOPClass" in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------- character sets


#: PatientID -> (Specific Character Set of the file, PatientName).
NAMES = {
    "LATIN1": (["ISO_IR 100"], "Müller^Jörg"),
    "UTF8": (["ISO_IR 192"], "Wang^XiaoDong=王^小東"),
    "JAPANESE": (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎"),
    "CYRILLIC": (["ISO_IR 144"], "Иванов^Пётр"),
    "ASCII": ([], "DOE^JOHN"),
}


@pytest.fixture(scope="module")
def names(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """qrscp over one patient per character set of :data:`NAMES`."""
    database = tmp_path_factory.mktemp("charsets")
    for n, (patient, (charset, name)) in enumerate(NAMES.items()):
        ds = image(rows=2, columns=2, seed=n, name=name)
        ds.PatientID = patient
        if charset:
            ds.SpecificCharacterSet = charset
        write(ds, database / f"{patient}.dcm", ExplicitVRLittleEndian)
    with qrscp(database) as server:
        yield server


def test_findscu_reads_every_name_as_stored(names: Server, tmp_path: pathlib.Path) -> None:
    """A query without Specific Character Set (DCMTK findscu's): each answer
    says ISO_IR 192 if it holds anything beyond ASCII, and holds the name in
    UTF-8; an ASCII answer has no (0008,0005), as PS3.4 C.4.1.1.3.2 says.
    Before: names re-encoded as Latin-1 (Japanese and Cyrillic as "?"),
    with no (0008,0005)."""
    answers = findscu(
        names.port, tmp_path, "QueryRetrieveLevel=PATIENT", "PatientID", "PatientName", model="-P"
    )
    got = {a.PatientID: (a.get("SpecificCharacterSet"), str(a.PatientName)) for a in answers}
    assert got == {
        patient: ("ISO_IR 192" if not name.isascii() else None, name)
        for patient, (_, name) in NAMES.items()
    }


@pytest.mark.parametrize("requested", ["ISO_IR 100", "ISO_IR 144", ["", "ISO 2022 IR 87"]])
def test_answers_in_the_requested_set_when_it_holds_the_name(
    names: Server, requested: str | list[str]
) -> None:
    """A query in a character set is answered in it where it holds the
    values (the peer said it reads it), in UTF-8 otherwise (code extensions:
    always UTF-8); pydicom decodes every name as stored."""
    keys = query(QueryRetrieveLevel="PATIENT", PatientID="", PatientName="")
    keys.SpecificCharacterSet = requested
    with associated(names.port, FIND["P"]) as assoc:
        answers = [ds for _, ds in assoc.send_c_find(keys, query_model="P") if ds is not None]
    got = {a.PatientID: (a.get("SpecificCharacterSet"), str(a.PatientName)) for a in answers}
    own = {"ISO_IR 100": "LATIN1", "ISO_IR 144": "CYRILLIC"}.get(str(requested))
    assert got == {
        patient: (
            None if name.isascii() else requested if patient == own else "ISO_IR 192",
            name,
        )
        for patient, (_, name) in NAMES.items()
    }


def test_a_non_ascii_key_matches_in_any_character_set(names: Server) -> None:
    """The key is decoded from the request's set, the values from the
    files': "Müller*" in Latin-1 finds the Latin-1 name, "山田*" in UTF-8
    the Japanese one (in its ideographic group)."""
    found = {}
    for charset, name in (("ISO_IR 100", "Müller*"), ("ISO_IR 192", "=山田*")):
        keys = query(QueryRetrieveLevel="PATIENT", PatientID="", PatientName=name)
        keys.SpecificCharacterSet = charset
        with associated(names.port, FIND["P"]) as assoc:
            answers = [ds for _, ds in assoc.send_c_find(keys, query_model="P") if ds]
        found[charset] = [a.PatientID for a in answers]
    assert found == {"ISO_IR 100": ["LATIN1"], "ISO_IR 192": ["JAPANESE"]}


# ------------------------------------------------- dates and times


@pytest.mark.parametrize(
    ("keyword", "key"),
    [
        ("StudyDate", "20200101-garbage"),
        ("StudyDate", "garbage-"),
        ("StudyDate", "2020-01-01-"),
        ("StudyDate", "20240101-2024123"),
        ("StudyDate", "-"),
        ("StudyDate", "20241301"),  # no 13th month
        ("StudyTime", "0800-2500"),
        ("PatientBirthDate", "1970*"),  # no wild card for dates
        ("SeriesDate", "yesterday"),  # not indexed: still checked
    ],
)
def test_a_date_or_time_key_that_is_no_value_is_refused(
    archive: Archive, keyword: str, key: str
) -> None:
    """Before: "20200101-garbage" matched every study from 2020 on."""
    keys = query(QueryRetrieveLevel="STUDY", StudyInstanceUID="")
    setattr(keys, keyword, key)
    with associated(archive.server.port, FIND["S"]) as assoc:
        responses = list(assoc.send_c_find(keys, query_model="S"))
    assert [(int(status), ds) for status, ds in responses] == [(IDENTIFIER_DOES_NOT_MATCH, None)]


def test_valid_ranges_still_match(archive: Archive) -> None:
    keys = query(QueryRetrieveLevel="STUDY", StudyInstanceUID="", StudyDate="20240101-")
    keys.StudyTime = "08:00-14:00"  # the retired ACR-NEMA form, still understood
    with associated(archive.server.port, FIND["S"]) as assoc:
        found = {ds.StudyInstanceUID for _, ds in assoc.send_c_find(keys, query_model="S") if ds}
    assert found == {A, B}


# ------------------------------------------------- random keys (property)

KEYWORDS = {
    "PatientName": "PATIENT",
    "PatientID": "PATIENT",
    "PatientSex": "PATIENT",
    "PatientBirthDate": "PATIENT",
    "StudyDescription": "STUDY",
    "AccessionNumber": "STUDY",
    "StudyDate": "STUDY",
    "StudyTime": "STUDY",
    "ModalitiesInStudy": "STUDY",
    "StudyInstanceUID": "STUDY",
    "Modality": "SERIES",
    "SeriesNumber": "SERIES",
    "SOPInstanceUID": "IMAGE",
}


@pytest.fixture(scope="module")
def two_associations(archive: Archive) -> Iterator[tuple[Association, Association]]:
    """Two associations with the archive, for the whole property test."""
    with (
        # Explicit VR only: the keys' raw bytes are sent as they are (add_raw).
        associated(
            archive.server.port, FIND["P"], transfer_syntax=[str(ExplicitVRLittleEndian)]
        ) as querying,
        associated(archive.server.port, VERIFICATION) as other,
    ):
        yield querying, other


def add_raw(ds: Dataset, keyword: str, value: bytes) -> None:
    """Add ``value`` as the bytes of ``keyword``, to be sent as they are in
    Explicit VR Little Endian whatever its VR allows (pydicom would refuse
    or change some of them)."""
    tag = Tag(tag_for_keyword(keyword))
    value += b" " * (len(value) % 2)
    ds[tag] = RawDataElement(tag, dictionary_VR(tag), len(value), value, 0, False, True)
    # Encoded as it "was read": pydicom then writes the raw bytes unchanged.
    ds.set_original_encoding(False, True, ds._character_set)


@settings(max_examples=40)
@given(
    keyword=st.sampled_from(sorted(KEYWORDS)),
    key=st.one_of(
        st.text(alphabet="AOEJDN^=*?-\\.0123:", max_size=40),
        st.lists(st.sampled_from(["*", "?", "*?", "A", "JOHN", "^", "="]), max_size=30).map(
            "".join
        ),
        st.text(max_size=20),
    ),
)
def test_any_key_is_answered_promptly_while_others_are_served(
    two_associations: tuple[Association, Association], keyword: str, key: str
) -> None:
    """Any key, at its level in the Patient Root model, gets a final status
    of Success (with matches) or 0xA900 (an invalid date or time), within a
    bounded time, while the other association's C-ECHO is answered."""
    querying, other = two_associations
    keys = query(QueryRetrieveLevel=KEYWORDS[keyword], SpecificCharacterSet="ISO_IR 192")
    add_raw(keys, keyword, key.encode())
    statuses: list[int] = []

    def ask() -> None:
        statuses.extend(int(status) for status, _ in querying.send_c_find(keys, query_model="P"))

    started = time.monotonic()
    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    echo = other.send_c_echo()
    thread.join(PROMPT)
    assert not thread.is_alive()
    assert time.monotonic() - started < PROMPT
    assert echo is not None
    assert echo.Status == 0
    assert statuses
    assert statuses[-1] in (0x0000, IDENTIFIER_DOES_NOT_MATCH)
    assert set(statuses[:-1]) <= {0xFF00}


def test_the_archive_still_answers_after_all_that(
    archive: Archive, tmp_path: pathlib.Path
) -> None:
    answers = findscu(
        archive.server.port, tmp_path, "QueryRetrieveLevel=PATIENT", "PatientID", model="-P"
    )
    assert sorted(a.PatientID for a in answers) == ["PID1", "PID2"]
    assert all(dcmread(p) for p in tmp_path.iterdir())
