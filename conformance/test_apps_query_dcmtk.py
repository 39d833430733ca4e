"""``dicomul findscu``, ``getscu`` and ``movescu`` with DCMTK's options
(issue 17), side by side with DCMTK's where it has them: findscu's default
model (-W), --repeat, --cancel, --abort; the +x switches for the incoming
C-STOREs (a JPEG 2000 C-MOVE into movescu's own port), --ignore."""

from __future__ import annotations

import contextlib
import pathlib
import subprocess
from collections.abc import Iterator

import pytest
from corpus import assert_same_data_set, image, write
from dcmtk_tools import dcmtk_path
from peers import HOST, free_port, serving
from test_apps_echo import ENV, app_server, dicomul

WORKLIST = "1.2.840.10008.5.1.4.31"
STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
JPEG2000_LOSSLESS = "1.2.840.10008.1.2.4.90"


def run(ours: bool, app: str, *args: str) -> subprocess.CompletedProcess[str]:
    if ours:
        return dicomul(app, *args)
    return subprocess.run(
        [dcmtk_path(app), *args], capture_output=True, text=True, timeout=30, check=False, env=ENV
    )


@contextlib.contextmanager
def find_scp(matches: int) -> Iterator[tuple[int, list[str]]]:
    """An SCP of the worklist and Study Root C-FIND models answering
    ``matches`` matches; yields its port and the models it was asked on
    (the SOP classes of the requests), and "cancel" per C-CANCEL seen."""
    from dicomul_sync import AE, current_request
    from pydicom.dataset import Dataset

    asked: list[str] = []
    ae = AE(scp_sop_class=[WORKLIST, STUDY_FIND])

    def on_c_find(identifier: Dataset) -> Iterator[Dataset]:
        asked.append(current_request().sop_class_uid)
        for n in range(matches):
            answer = Dataset()
            answer.PatientID = f"P{n}"
            yield answer

    ae.on_c_find = on_c_find  # type: ignore[method-assign,assignment]
    with serving(ae) as port:
        yield port, asked


@pytest.mark.parametrize("ours", [True, False], ids=["dicomul", "dcmtk"])
def test_findscu_default_model_is_the_worklist(ours: bool) -> None:
    with find_scp(1) as (port, asked):
        done = run(ours, "findscu", "-k", "PatientID", HOST, str(port))
    assert done.returncode == 0, done.stderr
    assert asked == [WORKLIST]
    assert "Find Response: 1 (Pending)" in done.stderr


@pytest.mark.parametrize("ours", [True, False], ids=["dicomul", "dcmtk"])
def test_findscu_repeat_on_one_association(ours: bool) -> None:
    with find_scp(2) as (port, asked):
        done = run(
            ours, "findscu", "-S", "--repeat", "3", "-k", "QueryRetrieveLevel=STUDY",
            HOST, str(port),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert asked == [STUDY_FIND] * 3
    assert done.stderr.count(" (Pending)") == 6


@pytest.mark.parametrize("ours", [True, False], ids=["dicomul", "dcmtk"])
def test_findscu_cancel_after_n(ours: bool) -> None:
    """--cancel 2 of 50 matches: one C-CANCEL goes right after the second
    response, and the query is read to its final response (the peer may
    have sent more matches meanwhile: whether it stops is its own affair)."""
    with find_scp(50) as (port, _):
        done = run(
            ours, "findscu", "-v", "-S", "--cancel", "2", "-k", "QueryRetrieveLevel=STUDY",
            HOST, str(port),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    log = done.stderr
    assert log.count("Sending Cancel Request") == 1
    cancel = log.index("Sending Cancel Request")
    assert log.index("Find Response: 2 (Pending)") < cancel
    if "Find Response: 3 (Pending)" in log:
        assert cancel < log.index("Find Response: 3 (Pending)")


def test_findscu_abort(tmp_path: pathlib.Path) -> None:
    """--abort: the association ends with an A-ABORT, as DCMTK's does."""
    with app_server("qrscp", "-v", "--database", str(tmp_path)) as server:
        done = dicomul(
            "findscu", "-S", "--abort", "-k", "QueryRetrieveLevel=STUDY", HOST, str(server.port)
        )
    assert done.returncode == 0, done.stderr
    assert "Association Aborted" in server.output or "Aborted" in server.output
    assert "Association Released" not in server.output


@pytest.fixture
def j2k_archive(tmp_path: pathlib.Path) -> pathlib.Path:
    """A database folder holding one study: a CT in JPEG 2000 Lossless (a
    token codestream: nobody here decodes it) and one in Explicit VR LE."""
    from pydicom.encaps import encapsulate

    folder = tmp_path / "db"
    folder.mkdir()
    ds = image(rows=4, columns=4, seed=1)
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(60)])
    ds["PixelData"].VR = "OB"
    write(ds, folder / "j2k.dcm", JPEG2000_LOSSLESS)
    plain = image(rows=4, columns=4, seed=2)
    plain.StudyInstanceUID = ds.StudyInstanceUID
    write(plain, folder / "plain.dcm", "1.2.840.10008.1.2.1")
    return folder


def study_query(folder: pathlib.Path) -> list[str]:
    """The keys to retrieve the study of the archive's file."""
    from pydicom import dcmread

    study = dcmread(folder / "plain.dcm", stop_before_pixels=True).StudyInstanceUID
    return ["-S", "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}"]


@pytest.mark.parametrize("ours", [True, False], ids=["dicomul", "dcmtk"])
def test_a_jpeg2000_move_into_movescu_takes_xa(
    j2k_archive: pathlib.Path, tmp_path: pathlib.Path, ours: bool
) -> None:
    """Without a +x switch movescu's own SCP takes only uncompressed data:
    the JPEG 2000 sub-operation fails (the move ends 0xB000); with +xa (or
    +xv) the file arrives byte for byte.  DCMTK's movescu does the same."""
    source = j2k_archive / "j2k.dcm"
    port = free_port()
    out = tmp_path / "out"
    out.mkdir()
    known = ["--known-ae", f"MOVESCU={HOST}:{port}"]
    query = study_query(j2k_archive)
    with app_server("qrscp", "--database", str(j2k_archive), *known) as server:
        refused = run(
            ours, "movescu", *query, "+P", str(port), "-od", str(out), HOST, str(server.port)
        )
        before = {p.name for p in out.iterdir()}
        for switch in ("+xa", "+xv"):
            listen = ["+P", str(port), "-od", str(out)]
            done = run(ours, "movescu", switch, *query, *listen, HOST, str(server.port))
            assert done.returncode == 0, done.stderr
    assert len(before) == 1  # the plain file only
    if ours:
        assert refused.returncode == 1
        assert "Move finished (Warning 0xB000): 1 completed, 1 failed" in refused.stdout
    stored = {p.name for p in out.iterdir() if p.is_file()}
    assert len(stored) == 2  # each instance again, under its one name
    (j2k,) = stored - before
    assert_same_data_set(out / j2k, source)


@pytest.mark.parametrize("app", ["getscu", "movescu"])
def test_ignore_receives_and_stores_nothing(
    app: str, j2k_archive: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    if app == "getscu":  # a C-GET SCP picks one syntax per class: uncompressed here
        (j2k_archive / "j2k.dcm").rename(j2k_archive.parent / "j2k.dcm")
    count = 1 if app == "getscu" else 2
    port = free_port()
    query = study_query(j2k_archive)
    listen = ["+P", str(port)] if app == "movescu" else []
    known = ["--known-ae", f"{app.upper()}={HOST}:{port}"]
    out = tmp_path / "out"
    out.mkdir()
    with app_server("qrscp", "--database", str(j2k_archive), *known) as server:
        done = dicomul(
            app, "+xa", "--ignore", *listen, *query, "-od", str(out), HOST, str(server.port)
        )
    assert done.returncode == 0, done.stderr
    assert f"{count} completed, 0 failed" in done.stdout
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("app", ["getscu", "movescu"])
def test_retrieve_repeat_and_abort(
    app: str, j2k_archive: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    if app == "getscu":  # a C-GET SCP picks one syntax per class: uncompressed here
        (j2k_archive / "j2k.dcm").rename(j2k_archive.parent / "j2k.dcm")
    count = 1 if app == "getscu" else 2
    port = free_port()
    query = study_query(j2k_archive)
    listen = ["+P", str(port)] if app == "movescu" else []
    known = ["--known-ae", f"{app.upper()}={HOST}:{port}"]
    with app_server("qrscp", "-v", "--database", str(j2k_archive), *known) as server:
        done = dicomul(
            app, "+xa", "--repeat", "2", "--abort", *listen, *query, "-od", str(tmp_path),
            HOST, str(server.port),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"{count} completed, 0 failed") == 2
    what = "Get" if app == "getscu" else "Move"
    assert server.output.count(f"Received {what} Request") == 2
    assert "Association Released" not in server.output.split(f"Received {what} Request")[-1]


@pytest.mark.parametrize(
    ("app", "option"), [("findscu", "--cancel"), ("getscu", "--cancel"), ("movescu", "--cancel")]
)
def test_cancel_takes_a_number(app: str, option: str) -> None:
    done = dicomul(app, option, "x", "-k", "PatientID", HOST, "104")
    assert done.returncode == 2
    assert "'x' is not a number" in done.stderr


def test_movescu_takes_dhl() -> None:
    done = dicomul("movescu", "-dhl", "-k", "PatientID", HOST, str(free_port()))
    assert done.returncode == 1  # nobody listening: not a usage error, not help
    assert "usage:" not in done.stdout + done.stderr
