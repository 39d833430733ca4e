"""The apps with the rest of the corpus: the >20 MiB multi-frame secondary
capture, the rich files (sequences, private tags, non-ASCII names), plain
MR and single-frame Secondary Capture images, in and out of DCMTK's
storescp, storescu and dcmqrscp and pynetdicom's storescp and storescu.

Each received data set is compared byte for byte (after the file meta)
with the file sent; where a peer re-encodes (dcmqrscp answering a C-GET in
the syntax it accepted) the decoded data set, the pixel data and the UIDs.
"""

from __future__ import annotations

import contextlib
import pathlib
import sys
from collections.abc import Iterable, Iterator

import pytest
from corpus import (
    MULTIFRAME_SC,
    SYNTAXES,
    assert_same_data_set,
    image,
    meta_transfer_syntax,
    write,
)
from dcmtk_tools import dcmtk_path
from peers import HOST, free_port, listening, storescp
from pydicom import dcmread
from test_apps_echo import dicomul
from test_apps_store import DCMTK_PROPOSE, our_storescp, rich_files, run, sources
from test_sync_dcmqrscp import running_dcmqrscp

MR = "1.2.840.10008.5.1.4.1.1.4"
SC = "1.2.840.10008.5.1.4.1.1.7"
#: The patient of the plain images (one study, a series per SOP class).
PLAIN_PATIENT = "CORPUS01"


# ----------------------------------------------------------------- the files


@pytest.fixture(scope="module")
def multiframe(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """41 frames of 512 x 512 words, Explicit VR Little Endian: over 20 MiB."""
    ds = image(sop_class=MULTIFRAME_SC, rows=512, columns=512, frames=41)
    path = write(ds, tmp_path_factory.mktemp("multiframe") / "sc.dcm", SYNTAXES["explicit"])
    assert path.stat().st_size > 20 * 1024 * 1024
    return path


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """MR and single-frame SC images, each in Implicit and Explicit VR Little
    Endian: one patient, one study, a series per SOP class."""
    from pydicom.uid import generate_uid

    root = tmp_path_factory.mktemp("plain")
    study = generate_uid()
    for n, (modality, sop_class) in enumerate({"MR": MR, "OT": SC}.items()):
        series = generate_uid()
        for m, syntax in enumerate(("implicit", "explicit")):
            ds = image(sop_class=sop_class, rows=32, columns=48, seed=10 + 2 * n + m)
            ds.Modality = modality
            ds.PatientID = PLAIN_PATIENT
            ds.StudyInstanceUID = study
            ds.SeriesInstanceUID = series
            write(ds, root / f"{modality.lower()}-{syntax}.dcm", SYNTAXES[syntax])
    return root


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("rich")
    rich_files(root)
    return root


@pytest.fixture(scope="module")
def ct(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    """A corpus CT image in Explicit and in Implicit VR Little Endian."""
    root = tmp_path_factory.mktemp("ct")
    return {
        name: write(image(seed=20 + n), root / f"{name}.dcm", SYNTAXES[name])
        for n, name in enumerate(("explicit", "implicit"))
    }


# ------------------------------------------------------------------- helpers


def received(directory: pathlib.Path) -> dict[str, pathlib.Path]:
    """The files under ``directory`` by SOP Instance UID, however the peer
    named them (DCMTK and pynetdicom prefix a modality, we add ``.dcm``)."""
    files = [p for p in directory.rglob("*") if p.is_file()]
    return {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in files}


def assert_copies(directory: pathlib.Path, sent: Iterable[pathlib.Path]) -> None:
    """``directory`` holds a byte-identical copy of each file ``sent``, and
    nothing else."""
    wanted = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in sent}
    stored = received(directory)
    assert set(stored) == set(wanted)
    for uid, source in wanted.items():
        assert_same_data_set(stored[uid], source)


def pynetdicom_storescp(out: pathlib.Path) -> contextlib.AbstractContextManager[int]:
    port = free_port()
    command = [sys.executable, "-m", "pynetdicom", "storescp", "-od", str(out), str(port)]
    return listening(command, port)


def pynetdicom_storescu(port: int, option: str, *paths: pathlib.Path) -> None:
    theirs = run(
        sys.executable, "-m", "pynetdicom", "storescu", option, HOST, str(port), *map(str, paths)
    )
    assert theirs.returncode == 0, theirs.stderr
    assert "Failed" not in theirs.stderr + theirs.stdout, theirs.stderr


def dcmtk_storescu(port: int, *paths: pathlib.Path) -> None:
    """DCMTK storescu -R, a run per file, proposing the file's own syntax
    first: otherwise it converts an implicit VR file to explicit VR."""
    for path in paths:
        (name,) = (k for k, v in SYNTAXES.items() if v == meta_transfer_syntax(path))
        done = run(dcmtk_path("storescu"), "-R", DCMTK_PROPOSE[name], HOST, str(port), str(path))
        assert done.returncode == 0, (path.name, done.stderr)


def our_storescu(port: int, *paths: pathlib.Path, count: int) -> None:
    done = dicomul("storescu", HOST, str(port), *map(str, paths), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"sent {count}, warnings 0, failures 0 ("), done.stdout


# ---------------------------------------------- the multi-frame over 20 MiB


def test_multiframe_our_storescu_to_dcmtk_storescp(
    multiframe: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with storescp("+B", "+xa", "-od", str(tmp_path)) as port:
        our_storescu(port, multiframe, count=1)
    assert_copies(tmp_path, [multiframe])


def test_multiframe_our_storescu_to_pynetdicom_storescp(
    multiframe: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with pynetdicom_storescp(tmp_path) as port:
        our_storescu(port, multiframe, count=1)
    assert_copies(tmp_path, [multiframe])


def test_multiframe_dcmtk_storescu_to_our_storescp(
    multiframe: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with our_storescp("-v", "-od", str(tmp_path)) as server:
        dcmtk_storescu(server.port, multiframe)
    assert_copies(tmp_path, [multiframe])
    assert server.output.count("I: Received Store Request (MsgID 1)") == 1


# ------------------------------------------------------------ the rich files


def test_rich_files_dcmtk_storescu_to_our_storescp(
    rich: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with our_storescp("-od", str(tmp_path)) as server:
        dcmtk_storescu(server.port, *sorted(rich.iterdir()))
    assert_copies(tmp_path, rich.iterdir())
    names = {str(dcmread(p).PatientName) for p in tmp_path.iterdir()}
    assert names == {"Müller^Zoë=山田^太郎", "Gérard^Hélène"}


def test_rich_files_pynetdicom_storescu_to_our_storescp(
    rich: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with our_storescp("-od", str(tmp_path)) as server:
        for path in sorted(rich.iterdir()):
            implicit = meta_transfer_syntax(path) == SYNTAXES["implicit"]
            pynetdicom_storescu(server.port, "-xi" if implicit else "-xe", path)
    assert_copies(tmp_path, rich.iterdir())


# --------------------------------------------------- plain MR and SC images


def test_plain_our_storescu_to_our_storescp(plain: pathlib.Path, tmp_path: pathlib.Path) -> None:
    with our_storescp("-od", str(tmp_path)) as server:
        our_storescu(server.port, plain, count=4)
    assert_copies(tmp_path, plain.iterdir())


def test_plain_dcmtk_storescu_to_our_storescp(plain: pathlib.Path, tmp_path: pathlib.Path) -> None:
    with our_storescp("-v", "-od", str(tmp_path)) as server:
        dcmtk_storescu(server.port, *sorted(plain.iterdir()))
    assert_copies(tmp_path, plain.iterdir())
    assert server.output.count("I: Received Store Request (MsgID 1)") == 4


def test_plain_our_storescu_to_dcmtk_storescp(plain: pathlib.Path, tmp_path: pathlib.Path) -> None:
    with storescp("+B", "+xa", "-od", str(tmp_path)) as port:
        our_storescu(port, plain, count=4)
    assert_copies(tmp_path, plain.iterdir())
    # DCMTK names them by the modality of their SOP class.
    assert sorted(p.name.split(".")[0] for p in tmp_path.iterdir()) == ["MR", "MR", "SC", "SC"]


# ------------------------------------------------------ dcmqrscp, all apps


@pytest.fixture(scope="module")
def dcmqrscp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """An empty dcmqrscp (fork mode, bit-preserving), configured as
    test_sync_dcmqrscp's: AE title ANY-SCP, writable by anyone."""
    with running_dcmqrscp(tmp_path_factory.mktemp("dcmqrscp-corpus"), free_port()) as port:
        yield port


def test_echoscu_to_dcmqrscp(dcmqrscp: int) -> None:
    done = dicomul("echoscu", "-v", HOST, str(dcmqrscp))
    assert done.returncode == 0, done.stderr
    assert "I: Received Echo Response (Success)" in done.stderr


def test_dcmqrscp_stores_finds_and_gives_back(
    dcmqrscp: int, plain: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """Our storescu fills dcmqrscp with the plain images; our findscu finds
    each of them at the IMAGE level; our getscu retrieves the study."""
    our_storescu(dcmqrscp, plain, count=4)
    sent = sources(plain)
    images = [dcmread(p, stop_before_pixels=True) for p in sent.values()]

    found = tmp_path / "found"
    for series in sorted({ds.SeriesInstanceUID for ds in images}):
        (found / series).mkdir(parents=True)
        done = dicomul(
            "findscu", "-S", "-k", "QueryRetrieveLevel=IMAGE",
            "-k", f"StudyInstanceUID={images[0].StudyInstanceUID}",
            "-k", f"SeriesInstanceUID={series}", "-k", "SOPInstanceUID", "-k", "InstanceNumber",
            "-X", "-od", str(found / series), HOST, str(dcmqrscp),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    answers = [dcmread(p) for p in found.rglob("rsp*.dcm")]
    assert sorted((a.SOPInstanceUID, a.InstanceNumber) for a in answers) == sorted(
        (ds.SOPInstanceUID, ds.InstanceNumber) for ds in images
    )

    got = tmp_path / "got"
    got.mkdir()
    done = dicomul(
        "getscu", "-S", "-k", "QueryRetrieveLevel=STUDY",
        "-k", f"StudyInstanceUID={images[0].StudyInstanceUID}", "-od", str(got),
        HOST, str(dcmqrscp),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "Get finished (Success): 4 completed, 0 failed, 0 warning, 0 remaining\n"
    )
    # dcmqrscp sends each sub-operation on the first context accepted for its
    # SOP class, Explicit VR Little Endian: the explicit files come back as
    # they went, the implicit ones re-encoded, the same data set decoded.
    retrieved = received(got)
    assert set(retrieved) == set(sent)
    for uid, source in sent.items():
        if meta_transfer_syntax(source) == SYNTAXES["explicit"]:
            assert_same_data_set(retrieved[uid], source)
        else:
            assert meta_transfer_syntax(retrieved[uid]) == SYNTAXES["explicit"]
            copy, original = dcmread(retrieved[uid]), dcmread(source)
            assert (copy.SOPInstanceUID, copy.PixelData) == (uid, original.PixelData)
            assert copy == original


# --------------------------------------- pynetdicom's storescp, whole data sets


def test_our_storescu_to_pynetdicom_storescp_whole_data_sets(
    ct: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    with pynetdicom_storescp(tmp_path) as port:
        our_storescu(port, *ct.values(), count=2)
    assert_copies(tmp_path, ct.values())


# ----------------------------------- a DCMTK peer that does not do Verification

#: A storescp association profile (DCMTK asconfig.txt): CT storage only.
CT_ONLY = """\
[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LocalEndianExplicit
TransferSyntax2 = LittleEndianImplicit

[[PresentationContexts]]
[CTStorage]
PresentationContext1 = CTImageStorage\\Uncompressed

[[Profiles]]
[CTOnly]
PresentationContexts = CTStorage
"""


def test_echoscu_no_acceptable_presentation_contexts_from_dcmtk(
    tmp_path: pathlib.Path, ct: dict[str, pathlib.Path]
) -> None:
    """The seed's scenario against DCMTK storescp -xf with a profile of CT
    storage only: it accepts the association, refuses Verification."""
    config = tmp_path / "ct-only.cfg"
    config.write_text(CT_ONLY)
    out = tmp_path / "out"
    out.mkdir()
    with storescp("-xf", str(config), "CTOnly", "-od", str(out)) as port:
        done = dicomul("echoscu", HOST, str(port))
        # The same peer does take CT storage: it is only Verification it refuses.
        our_storescu(port, ct["explicit"], count=1)
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        "E: No Acceptable Presentation Contexts\n",
    )
    assert len(list(out.iterdir())) == 1
