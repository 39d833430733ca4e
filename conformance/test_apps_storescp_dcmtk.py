"""``dicomul storescp`` with DCMTK storescp's options (issue 17), side by
side with DCMTK's storescp: -su, -uf, -fe, -xcr and -xcs with their
placeholders, -tos, -xs, -dhl, and DCMTK options it lacks refused by name."""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from corpus import image, write
from dcmtk_tools import dcmtk_path
from peers import HOST, free_port, wait_listening
from test_apps_echo import ENV, app_server, dicomul

from dicomul import pdu

EXPLICIT = "1.2.840.10008.1.2.1"

#: A command that appends its arguments, and whether #p/#f is a whole file
#: already, to a log: a script, since our storescp runs commands without a
#: shell (DCMTK's runs them with one; a script works the same with both).
SCRIPT = """#!/bin/sh
log="$1"; shift
if [ -f "$2/$3" ]; then state=stored; else state=missing; fi
echo "$* $state" >> "$log"
"""


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> list[pathlib.Path]:
    """Three CT files: two of one study, then one of another."""
    root = tmp_path_factory.mktemp("studies")
    files = []
    for n in range(3):
        ds = image(rows=4, columns=4, seed=n)
        ds.StudyInstanceUID = (
            "1.2.826.0.1.3680043.8.498.1" if n < 2 else "1.2.826.0.1.3680043.8.498.2"
        )
        files.append(write(ds, root / f"{n}.dcm", EXPLICIT))
    return files


@pytest.fixture
def script(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "record.sh"
    path.write_text(SCRIPT)
    path.chmod(0o755)
    return path


@contextlib.contextmanager
def dcmtk_storescp(*options: str) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [dcmtk_path("storescp"), *options, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    try:
        wait_listening(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def send(port: int, *files: pathlib.Path) -> None:
    done = subprocess.run(
        [dcmtk_path("storescu"), "-aet", "SENDER", "-aec", "ARCHIVE", HOST, str(port)]
        + [str(f) for f in files],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr


def wait_for_lines(log: pathlib.Path, count: int, timeout: float = 10) -> list[str]:
    """The log's lines once it has ``count`` (commands run in the background)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"{log} has {len(lines)} lines, not {count}")


def test_exec_on_reception_and_end_of_study_as_dcmtk(
    studies: list[pathlib.Path], script: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """The same options to both storescps, the same files sent: the same
    folders and file names, and the same commands run with the same
    placeholders, each after its file was stored (#r aside: DCMTK looks the
    peer's name up, ours gives the IP address, as DCMTK's -dhl does)."""
    results = {}
    for name in ("ours", "dcmtk"):
        out = tmp_path / name
        out.mkdir()
        log = tmp_path / f"{name}.log"
        options = [
            "-su",
            "ST",
            "-uf",
            "-xcr",
            f"{script} {log} rec #p #f #a #c #r",
            "-xcs",
            f"{script} {log} eos #p x #a #c",
            "-od",
            str(out),
        ]
        server = app_server("storescp", *options) if name == "ours" else dcmtk_storescp(*options)
        with server as handle:
            port = handle if isinstance(handle, int) else handle.port
            send(port, *studies)
            lines = wait_for_lines(log, 4)
        results[name] = sorted(  # background commands: in any order
            line.replace(str(out), "OUT").replace("localhost", "127.0.0.1") for line in lines
        )
        files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
        results[name + " files"] = files
    assert results["ours"] == results["dcmtk"]
    assert results["ours files"] == results["dcmtk files"]
    study = "OUT/ST_1.2.826.0.1.3680043.8.498.1"
    assert results["ours"][0] == f"eos {study} x SENDER ARCHIVE missing"
    assert results["ours"][1].startswith(f"rec {study} CT.")
    assert results["ours"][1].endswith(" SENDER ARCHIVE 127.0.0.1 stored")
    assert len(results["ours files"]) == 3


def test_end_of_study_after_the_timeout(
    studies: list[pathlib.Path], script: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """-tos 1: the last study ends a second after its last file, as with DCMTK."""
    log = tmp_path / "log"
    with app_server(
        "storescp", "--sort-by-study", "-xcs", f"{script} {log} eos #p", "-tos", "1",
        "-od", str(tmp_path),
    ) as server:  # fmt: skip
        send(server.port, studies[0])
        (line,) = wait_for_lines(log, 1, timeout=5)
    assert line == f"eos {tmp_path}/1.2.826.0.1.3680043.8.498.1 missing"


def test_commands_do_not_hold_the_association_unless_xs(
    studies: list[pathlib.Path], tmp_path: pathlib.Path
) -> None:
    """A slow command runs in the background (DCMTK's default); with -xs
    the C-STORE response waits for it."""
    slow = tmp_path / "slow.sh"
    slow.write_text("#!/bin/sh\nsleep 3\n")
    slow.chmod(0o755)
    for options, quick in (([], True), (["-xs"], False)):
        with app_server("storescp", *options, "-xcr", str(slow), "-od", str(tmp_path)) as server:
            started = time.monotonic()
            send(server.port, *studies[:2])
            took = time.monotonic() - started
        assert (took < 2.5) == quick, (options, took)  # -xs: 6 s at least


def test_placeholders_are_never_shell_syntax(
    studies: list[pathlib.Path], script: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """A calling AE title full of shell syntax reaches the command as one
    argument, and runs nothing."""
    log = tmp_path / "log"
    trap = tmp_path / "trap"
    title = "A;touch trap"
    with app_server(
        "storescp", "-xcr", f"{script} {log} rec #p #f #a", "-od", str(tmp_path)
    ) as server:
        done = subprocess.run(
            [dcmtk_path("storescu"), "-aet", title, HOST, str(server.port), str(studies[0])],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=ENV,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        (line,) = wait_for_lines(log, 1)
    assert line.endswith(f" {title} stored")
    assert not trap.exists()
    assert not (pathlib.Path(os.getcwd()) / "trap").exists()


def test_default_filenames_as_dcmtk(tmp_path: pathlib.Path) -> None:
    """-uf names files <prefix>.<UID> with the prefixes DCMTK's storescp
    gives (CT, MR, SC, RP, PDF...); -fe appends an extension."""
    classes = [
        "1.2.840.10008.5.1.4.1.1.2",
        "1.2.840.10008.5.1.4.1.1.2.1",
        "1.2.840.10008.5.1.4.1.1.4",
        "1.2.840.10008.5.1.4.1.1.7",
        "1.2.840.10008.5.1.4.1.1.481.5",
        "1.2.840.10008.5.1.4.1.1.104.1",
        "1.2.840.10008.5.1.4.1.1.88.22",
    ]
    files = []
    for n, sop_class in enumerate(classes):
        files.append(
            write(
                image(sop_class=sop_class, rows=2, columns=2, seed=n),
                tmp_path / f"{n}.dcm",
                EXPLICIT,
            )
        )
    names = {}
    for name in ("ours", "dcmtk"):
        out = tmp_path / name
        out.mkdir()
        options = ["-uf", "-od", str(out)]
        server = app_server("storescp", *options) if name == "ours" else dcmtk_storescp(*options)
        with server as handle:
            send(handle if isinstance(handle, int) else handle.port, *files)
        names[name] = sorted(p.name for p in out.iterdir())
    assert names["ours"] == names["dcmtk"]
    assert {n.split(".")[0] for n in names["ours"]} == {
        "CT",
        "CTe",
        "MR",
        "SC",
        "RP",
        "PDF",
        "SRe",
    }
    out = tmp_path / "ext"
    out.mkdir()
    with app_server("storescp", "-uf", "-fe", ".dcm", "-od", str(out)) as server:
        send(server.port, files[0])
    (stored,) = out.iterdir()
    assert stored.name.startswith("CT.")
    assert stored.name.endswith(".dcm")


@pytest.mark.parametrize("option", ["-ss", "-sp", "+uf", "-tn", "-rns", "-xf"])
def test_dcmtk_options_it_lacks_are_refused_by_name(option: str) -> None:
    done = dicomul("storescp", option, "x", "104")
    assert done.returncode == 2
    assert f"{option}: DCMTK storescp's option is not supported" in done.stderr


def test_dhl_is_taken(tmp_path: pathlib.Path, studies: list[pathlib.Path]) -> None:
    """-dhl (no host name lookup) was read as -d -h -l and printed help."""
    with app_server("storescp", "-dhl", "-od", str(tmp_path)) as server:
        send(server.port, studies[0])
    assert len(list(tmp_path.glob("*.dcm"))) == 1


@pytest.mark.parametrize("ours", [True, False], ids=["dicomul", "dcmtk"])
def test_promiscuous_mode_keeps_a_private_sop_class(tmp_path: pathlib.Path, ours: bool) -> None:
    """-pm: a private SOP class is accepted and stored, as by DCMTK's
    storescp -pm; without it the context is refused and nothing is kept."""
    private = write(
        image(sop_class="1.2.826.0.1.3680043.8.498.999.1", rows=2, columns=2),
        tmp_path / "private.dcm",
        EXPLICIT,
    )
    for options, kept in (([], 0), (["-pm"], 1)):
        out = tmp_path / f"out{kept}"
        out.mkdir()
        server = (
            app_server("storescp", *options, "-od", str(out))
            if ours
            else dcmtk_storescp(*options, "-od", str(out))
        )
        with server as handle:
            port = handle if isinstance(handle, int) else handle.port
            done = dicomul("storescu", HOST, str(port), str(private))
        assert (done.returncode == 0) == bool(kept), done.stderr
        assert len(list(out.iterdir())) == kept


@pytest.mark.parametrize("command", ["", "echo 'open quote"])
def test_a_command_that_is_no_command_is_a_usage_error(command: str) -> None:
    done = dicomul("storescp", "-xcr", command, "104")
    assert done.returncode == 2
    assert "-xcr: " in done.stderr
    assert "is not a command" in done.stderr


def test_refuse_as_dcmtk() -> None:
    """--refuse: every association rejected permanent, by the service user,
    no reason given; DCMTK's echoscu sees the same from both storescps."""
    shown = {}
    for ours in (True, False):
        server = app_server("storescp", "--refuse") if ours else dcmtk_storescp("--refuse")
        with server as handle:
            port = handle if isinstance(handle, int) else handle.port
            done = subprocess.run(
                [dcmtk_path("echoscu"), "-v", HOST, str(port)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                env=ENV,
            )
        assert done.returncode != 0
        shown[ours] = [line for line in done.stderr.splitlines() if line.startswith("F: ")]
    assert shown[True] == shown[False]
    assert "F: Result: Rejected Permanent, Source: Service User" in shown[True]


def _associate_rq(*, implementation_class_uid: bytes | None) -> bytes:
    """An A-ASSOCIATE-RQ for Verification, built by hand so that its User
    Information can leave out the Implementation Class UID (PS3.7 D.3.3.2
    requires it; no toolkit's requestor omits it)."""
    subs: list[pdu.SubItem] = [pdu.MaximumLengthSubItem(maximum_length=16384)]
    if implementation_class_uid is not None:
        subs.append(pdu.ImplementationClassUIDSubItem(name=implementation_class_uid))
    return pdu.AssociateRQ(
        called_ae_title=pdu.ae_title("ANY-SCP"),
        calling_ae_title=pdu.ae_title("HANDMADE"),
        application_context=pdu.ApplicationContextItem(
            name=pdu.DICOM_APPLICATION_CONTEXT.encode()
        ),
        presentation_contexts=(
            pdu.PresentationContextRQItem(
                context_id=1,
                abstract_syntax=pdu.AbstractSyntaxItem(name=b"1.2.840.10008.1.1"),
                transfer_syntaxes=(pdu.TransferSyntaxItem(name=b"1.2.840.10008.1.2"),),
            ),
        ),
        user_information=pdu.UserInformationItem(sub_items=tuple(subs)),
    ).encode()


def _answer(port: int, request: bytes) -> object:
    """The PDU the acceptor on ``port`` answers ``request`` with."""
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while (header := pdu.peek_header(data)) is None or len(data) < 6 + header[1]:
            chunk = sock.recv(65536)
            assert chunk, "closed without an answer"
            data += chunk
    return pdu.decode(data)


@pytest.mark.parametrize("ours", [True, False], ids=["dicomul", "dcmtk"])
def test_reject_without_implementation_class_uid(ours: bool) -> None:
    """--reject: a request with no Implementation Class UID is rejected
    permanent, by the service user, no reason given (RJ 1/1/1, what DCMTK
    3.6.7's storescp --reject answers); one with it (DCMTK's echoscu's) is
    accepted.  Without --reject both storescps accept either."""
    for options, rejects in ((["--reject"], True), ([], False)):
        server = app_server("storescp", *options) if ours else dcmtk_storescp(*options)
        with server as handle:
            port = handle if isinstance(handle, int) else handle.port
            answer = _answer(port, _associate_rq(implementation_class_uid=None))
            if rejects:
                assert isinstance(answer, pdu.AssociateRJ), answer
                assert (answer.result, answer.source, answer.reason) == (1, 1, 1)
            else:
                assert isinstance(answer, pdu.AssociateAC), answer
            with_uid = _answer(port, _associate_rq(implementation_class_uid=b"1.2.3.4"))
            assert isinstance(with_uid, pdu.AssociateAC), with_uid
            echo = subprocess.run(
                [dcmtk_path("echoscu"), HOST, str(port)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                env=ENV,
            )
            assert echo.returncode == 0, echo.stderr
