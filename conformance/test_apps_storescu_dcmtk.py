"""``dicomul storescu`` with DCMTK storescu's options (issue 17), side by
side with DCMTK's storescu where it has them: halting at the first failure
(-nh), directory recursion (+sd, +r, -r), --repeat, --abort, user identity
(-usr, -pwd, -kt, --jwt, -rsp) and the compressed proposal switches."""

from __future__ import annotations

import contextlib
import pathlib
import subprocess
from collections.abc import Iterator

import pytest
from corpus import image, write
from dcmtk_tools import dcmtk_path
from peers import HOST, free_port, pynetdicom_scp, serving, wait_listening
from test_apps_echo import ENV, dicomul

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Two CT files at the top, one a level down, one two levels down."""
    root = tmp_path_factory.mktemp("tree")
    (root / "a" / "b").mkdir(parents=True)
    for n, folder in enumerate((root, root, root / "a", root / "a" / "b")):
        write(image(rows=4, columns=4, seed=n), folder / f"{n}.dcm", EXPLICIT)
    return root


def answering(status: int) -> tuple[contextlib.AbstractContextManager[int], list[str]]:
    """A storage SCP answering every C-STORE with ``status``; the SOP
    Instance UIDs it was sent, in order."""
    from dicomul_sync import AE

    got: list[str] = []
    ae = AE(scp_sop_class=[CT], transfer_syntax=[EXPLICIT, IMPLICIT])

    def store(dataset: object) -> int:
        got.append(str(dataset.SOPInstanceUID))  # type: ignore[attr-defined]
        return status

    ae.on_c_store = store  # type: ignore[method-assign]
    return serving(ae), got


def run_storescu(ours: bool, *args: str) -> subprocess.CompletedProcess[str]:
    if ours:
        return dicomul("storescu", *args)
    return subprocess.run(
        [dcmtk_path("storescu"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=ENV,
    )


@pytest.mark.parametrize("ours", [True, False], ids=["dicomul", "dcmtk"])
@pytest.mark.parametrize(
    ("status", "no_halt", "stores"),
    [
        (0xA700, False, 1),  # a failure stops the run
        (0xA700, True, 3),  # -nh: it goes on
        (0xC000, False, 1),
        (0xB000, False, 3),  # a warning is no failure
    ],
)
def test_halt_at_the_first_failure_unless_nh(
    tree: pathlib.Path, ours: bool, status: int, no_halt: bool, stores: int
) -> None:
    files = [str(p) for p in sorted(tree.glob("*.dcm"))] + [str(tree / "a" / "2.dcm")]
    scp, got = answering(status)
    with scp as port:
        done = run_storescu(ours, *(["-nh"] if no_halt else []), HOST, str(port), *files)
    assert len(got) == stores, done.stderr
    if ours:  # DCMTK's exit status is 0 with -nh whatever happened; ours says so
        failed = status >= 0xA000 and status != 0xB000
        assert (done.returncode != 0) == failed, done.stderr


@pytest.mark.parametrize("ours", [True, False], ids=["dicomul", "dcmtk"])
def test_a_named_file_that_is_not_dicom(
    tree: pathlib.Path, tmp_path: pathlib.Path, ours: bool
) -> None:
    """DCMTK: without -nh nothing is sent (with -R, checked first) and the
    exit status is 1; with -nh it is skipped."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not DICOM\n")
    first, second = sorted(tree.glob("*.dcm"))
    scp, got = answering(0x0000)
    with scp as port:
        halted = run_storescu(ours, "-R", HOST, str(port), str(first), str(notes), str(second))
        assert got == []
        assert halted.returncode == 1
        skipped = run_storescu(
            ours, "-R", "-nh", HOST, str(port), str(first), str(notes), str(second)
        )
    assert len(got) == 2, skipped.stderr
    assert skipped.returncode == 0


@pytest.mark.parametrize(
    ("options", "levels"),
    [(["+sd"], 1), (["+sd", "-r"], 1), (["+sd", "+r"], 3)],
)
def test_directory_recursion_as_dcmtk(tree: pathlib.Path, options: list[str], levels: int) -> None:
    """+sd alone sends the files directly in the directory, +r all of them,
    as DCMTK's storescu; ours and DCMTK's send the same files."""
    expected = {0: 2, 1: 2, 3: 4}[levels]
    sent = {}
    for ours in (True, False):
        scp, got = answering(0x0000)
        with scp as port:
            done = run_storescu(ours, *options, HOST, str(port), str(tree))
        assert done.returncode == 0, done.stderr
        sent[ours] = sorted(got)
    assert sent[True] == sent[False]
    assert len(sent[True]) == expected


def test_directories_recurse_by_default_and_not_with_r(tree: pathlib.Path) -> None:
    """Without +sd (which DCMTK needs to read a directory at all) ours
    recurses, as it always did; -r keeps to the top level."""
    for options, count in (([], 4), (["-r"], 2)):
        scp, got = answering(0x0000)
        with scp as port:
            done = dicomul("storescu", *options, HOST, str(port), str(tree))
        assert done.returncode == 0, done.stderr
        assert len(got) == count


def test_repeat_and_abort(tree: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """--repeat 3: the files three times over three associations; --abort
    ends each with an A-ABORT instead of a release."""
    with dcmtk_storescp_log(tmp_path) as (port, log):
        done = dicomul("storescu", "--repeat", "3", "--abort", "-r", HOST, str(port), str(tree))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sent 6, warnings 0, failures 0 ")
    text = log.read_text()
    assert text.count("I: Received Store Request") == 6
    assert text.count("I: Association Aborted") == 3
    assert "Association Release" not in text


@contextlib.contextmanager
def dcmtk_storescp_log(folder: pathlib.Path) -> Iterator[tuple[int, pathlib.Path]]:
    """DCMTK storescp -d on a free port, storing nothing; its log is
    ``folder/storescp.log``."""
    port = free_port()
    log = folder / "storescp.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [dcmtk_path("storescp"), "-d", "--ignore", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=ENV,
        )
        try:
            wait_listening(port)
            yield port, log
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_user_identity_reaches_dcmtk_storescp(tree: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """-usr/-pwd: DCMTK's storescp -d shows the user identity sub-item it
    got (PS3.7 D.3.3.7), as it does for DCMTK's own storescu."""
    first = str(sorted(tree.glob("*.dcm"))[0])
    with dcmtk_storescp_log(tmp_path) as (port, log):
        ours = dicomul("storescu", "-usr", "alice", "-pwd", "s3cret", HOST, str(port), first)
        assert ours.returncode == 0, ours.stderr
        text = log.read_text()
    assert "Authentication mode 2: Username/Password" in text
    assert "Username: [alice]" in text
    assert "Password: [s3cret]" in text
    assert "Positive Response requested: No" in text


@pytest.mark.parametrize("ours", [True, False], ids=["dicomul", "dcmtk"])
def test_pos_response_without_one_fails(
    tree: pathlib.Path, tmp_path: pathlib.Path, ours: bool
) -> None:
    """-rsp to a peer that gives no user identity response (DCMTK's
    storescp): no file is sent, as with DCMTK's storescu."""
    first = str(sorted(tree.glob("*.dcm"))[0])
    with dcmtk_storescp_log(tmp_path) as (port, log):
        done = run_storescu(ours, "-usr", "alice", "-rsp", HOST, str(port), first)
        text = log.read_text()
    assert "Positive Response requested: Yes" in text
    assert "Received Store Request" not in text
    assert "User Identity Negotiation failed" in done.stderr
    if ours:
        assert done.returncode == 1


def test_identities_and_pos_response_with_pynetdicom(
    tree: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """pynetdicom's acceptor sees each identity type and, asked (-rsp),
    answers a Kerberos ticket or a JWT: storescu then sends."""
    import pynetdicom

    seen: list[tuple[int, bytes, bytes]] = []

    def identify(event: object) -> tuple[bool, bytes | None]:
        seen.append(
            (event.user_id_type, event.primary_field, event.secondary_field)  # type: ignore[attr-defined]
        )
        return True, b"granted"

    stored: list[str] = []

    def store(event: object) -> int:
        stored.append("x")
        return 0

    first = str(sorted(tree.glob("*.dcm"))[0])
    token = tmp_path / "token.jwt"
    token.write_bytes(b"eyJhbGciOiJub25lIn0.e30.")
    ticket = tmp_path / "ticket"
    ticket.write_bytes(b"\x01\x02kerberos")
    handlers = [(pynetdicom.evt.EVT_USER_ID, identify), (pynetdicom.evt.EVT_C_STORE, store)]
    with pynetdicom_scp("ANY-SCP", [CT], handlers) as port:
        for options in (
            ["-usr", "bob"],
            ["-usr", "bob", "-pwd", "pw"],
            ["-kt", str(ticket), "-rsp"],
            ["--jwt", str(token), "-rsp"],
        ):
            done = dicomul("storescu", "-v", *options, HOST, str(port), first)
            assert done.returncode == 0, (options, done.stderr)
    assert seen == [
        (1, b"bob", b""),
        (2, b"bob", b"pw"),
        (3, b"\x01\x02kerberos", b""),
        (5, b"eyJhbGciOiJub25lIn0.e30.", b""),
    ]
    assert len(stored) == 4


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["-pwd", "x"], "-pwd needs -usr"),
        (["-rsp"], "-rsp needs one of"),
        (["-usr", "a", "--jwt", "t"], "one of -usr, -kt, --saml, --jwt at most"),
        (["+rn"], "+rn: DCMTK storescu's option is not supported: renaming"),
        (["-epw"], "-epw: DCMTK storescu's option is not supported"),
        (["-xf", "f", "p"], "-xf: DCMTK storescu's option is not supported"),
    ],
)
def test_usage_errors_name_the_option(arguments: list[str], message: str) -> None:
    done = dicomul("storescu", *arguments, HOST, "104", "x.dcm")
    assert done.returncode == 2
    assert message in done.stderr


@pytest.mark.parametrize(
    ("switch", "syntax"),
    [
        ("-xs", "JPEGLossless:Non-hierarchical-1stOrderPrediction"),
        ("-xy", "JPEGBaseline"),
        ("-xv", "JPEG2000LosslessOnly"),
        ("-xw", "JPEG2000"),
        ("-xt", "JPEGLSLossless"),
        ("-xr", "RLELossless"),
        ("-xd", "DeflatedLittleEndianExplicit"),
    ],
)
def test_compressed_proposal_switches_propose_the_syntax(
    tree: pathlib.Path, tmp_path: pathlib.Path, switch: str, syntax: str
) -> None:
    """Each of DCMTK's switches proposes its syntax (DCMTK storescp -d
    shows the proposal, by name); the file still goes in its own syntax."""
    first = str(sorted(tree.glob("*.dcm"))[0])
    with dcmtk_storescp_log(tmp_path) as (port, log):
        done = dicomul("storescu", switch, HOST, str(port), first)
        text = log.read_text()
    assert done.returncode == 0, done.stderr
    assert f"      ={syntax}\n" in text  # as DCMTK storescp -d names it
    assert "Received Store Request" in text


def test_deflated_fallback_is_used_when_the_own_syntax_is_refused(
    tmp_path: pathlib.Path,
) -> None:
    """-xd: a peer taking only Deflated for CT gets the native file deflated."""
    from dicomul_sync import AE

    source = write(image(rows=8, columns=8), tmp_path / "ct.dcm", EXPLICIT)
    got: list[str] = []
    ae = AE(scp_sop_class=[CT], transfer_syntax=["1.2.840.10008.1.2.1.99"])

    def store(dataset: object) -> int:
        got.append(str(dataset.SOPInstanceUID))  # type: ignore[attr-defined]
        return 0

    ae.on_c_store = store  # type: ignore[method-assign]
    with serving(ae) as port:
        refused = dicomul("storescu", HOST, str(port), str(source))
        deflated = dicomul("storescu", "-xd", HOST, str(port), str(source))
    assert refused.returncode == 1
    assert deflated.returncode == 0, deflated.stderr
    assert len(got) == 1
