"""``dicomul echoscu`` and ``dicomul echoscp``: every scenario of the seed
document with its exact output, against DCMTK, pynetdicom's apps and each
other, and over TLS."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping

import pytest
from dcmtk_tools import dcmtk_path
from dicomul_sync import AE
from peers import HOST, free_port, serving, storescp, wait_listening

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
#: The console script pip installed beside this interpreter.
DICOMUL = str(pathlib.Path(sys.executable).with_name("dicomul"))
ENV = {**os.environ, "TCP_NODELAY": "1"}


def dicomul(
    *args: str, timeout: float = 30, env: Mapping[str, str] = ENV
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DICOMUL, *args], capture_output=True, text=True, timeout=timeout, check=False, env=env
    )


def dcmtk(*args: str) -> subprocess.CompletedProcess[str]:
    tool, *rest = args
    return subprocess.run(
        [dcmtk_path(tool), *rest], capture_output=True, text=True, timeout=30, check=False, env=ENV
    )


class Server:
    """A server app running in a subprocess; ``output`` once stopped."""

    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.port = port
        self.output = ""


@contextlib.contextmanager
def app_server(app: str, *options: str, env: Mapping[str, str] = ENV) -> Iterator[Server]:
    """``dicomul <app> <options> <port>`` on a free port (in ``env``); on exit
    SIGINT, which must stop it cleanly, and its output (stdout and stderr) is
    kept."""
    port = free_port()
    proc = subprocess.Popen(
        [DICOMUL, app, *options, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    server = Server(proc, port)
    # Read as it comes: a server logging more than a pipe holds (64 kB)
    # would otherwise block on its next line, and stop serving.
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        wait_listening(port)
        yield server
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        reader.join(10)
        server.output = "".join(lines)
    assert proc.returncode == 0, server.output  # SIGINT is a clean stop


def echoscp(
    *options: str, env: Mapping[str, str] = ENV
) -> contextlib.AbstractContextManager[Server]:
    return app_server("echoscp", *options, env=env)


# ------------------------------------------------------------------ echoscu


def test_success_is_silent() -> None:
    with storescp() as port:
        done = dicomul("echoscu", HOST, str(port))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_no_acceptable_presentation_contexts() -> None:
    with serving(AE(scp_sop_class=[CT])) as port:
        done = dicomul("echoscu", HOST, str(port))
    assert done.returncode != 0
    assert done.stderr == "E: No Acceptable Presentation Contexts\n"


def test_nobody_listening() -> None:
    done = dicomul("echoscu", HOST, str(free_port()))
    assert done.returncode != 0
    assert done.stderr.splitlines() == [
        "E: Association Request Failed: Failed to establish association",
        "E: Peer aborted Association (or never connected)",
        "E: TCP Initialisation Error: (Connection refused)",
    ]


@pytest.mark.parametrize(
    ("peer", "cause"),
    [
        (
            "hangs up",
            "E: Peer aborted Association (or never connected)\n"
            "E: The transport connection closed unexpectedly\n",
        ),
        (
            "answers HTTP",
            "E: Unrecognised PDU type 0x48 announcing 1414541105 bytes: the peer does not "
            "speak the DICOM upper layer protocol here (at byte offset 0)\n",
        ),
        ("stays silent", "E: ACSE timeout: no answer from the peer\n"),
    ],
)
def test_a_non_dicom_peer(peer: str, cause: str) -> None:
    """The seed's "non-DICOM peer" scenario beyond a refused connection: a
    peer that accepts and hangs up, one that answers in HTTP, one that says
    nothing (-ta 1).  The seed's first line, then the cause; exit 1."""
    listener = socket.create_server((HOST, 0))
    port = listener.getsockname()[1]
    held: list[socket.socket] = []

    def serve() -> None:
        conn, _ = listener.accept()
        held.append(conn)
        if peer == "hangs up":
            conn.close()
        elif peer == "answers HTTP":
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve)
    thread.start()
    done = dicomul("echoscu", "-ta", "1", HOST, str(port))
    thread.join()
    for conn in held:
        conn.close()
    listener.close()
    assert done.returncode == 1
    first = "E: Association Request Failed: Failed to establish association\n"
    assert done.stderr == first + cause


def test_rejected() -> None:
    with storescp("--refuse") as port:
        done = dicomul("echoscu", HOST, str(port))
    assert done.returncode != 0
    assert done.stderr.startswith("E: Association Request Failed: Association Rejected (")


def test_verbose_repeat_and_propose_options() -> None:
    with storescp() as port:
        done = dicomul("echoscu", "-v", "--repeat", "3", "-ppc", "3", "-pts", "3", HOST, str(port))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "I: Requesting Association"
    assert lines.count("I: Received Echo Response (Success)") == 3
    assert [line for line in lines if line.startswith("I: Sending")] == [
        f"I: Sending Echo Request (MsgID {n})" for n in (1, 2, 3)
    ]
    assert lines[-1] == "I: Releasing Association"


def test_debug_shows_pdus_and_negotiation() -> None:
    with storescp() as port:
        done = dicomul("echoscu", "-d", "-aet", "CALLER", "-aec", "CALLED", HOST, str(port))
    assert done.returncode == 0, done.stderr
    text = done.stderr
    assert "D: PDU Type: Associate Request, PDU Length: " in text
    assert "D:     01 00 00 00 00" in text  # the hex dump of the RQ
    assert "D: ====================== BEGIN A-ASSOCIATE-RQ" in text
    assert "D: ====================== BEGIN A-ASSOCIATE-AC" in text
    assert "D: Calling AE Title:           CALLER" in text
    assert "D: Implementation Version:     OFFIS_DCMTK_" in text  # the peer's
    assert "D: PDU Type: Release Response" in text


def test_quiet_prints_nothing_even_on_failure() -> None:
    done = dicomul("echoscu", "-q", HOST, str(free_port()))
    assert done.returncode != 0
    assert done.stderr == ""


# ------------------------------------------------------------------ echoscp


def test_echoscp_verbose_as_the_seed_shows() -> None:
    with echoscp("-v") as server:
        echo = dcmtk("echoscu", HOST, str(server.port))
        assert echo.returncode == 0, echo.stderr
    assert server.output.splitlines() == [
        "I: Association Received",
        "I: Association Acknowledged",
        "I: Received Echo Request (MsgID 1)",
        "I: Association Released",
    ]


def test_echoscp_when_a_peer_sends_something_else(tmp_path: pathlib.Path) -> None:
    from test_sync_seed_examples import ct_file

    path = ct_file(tmp_path / "ct.dcm")
    with echoscp("-v") as server:
        store = dcmtk("storescu", HOST, str(server.port), str(path))
        assert store.returncode != 0
    assert server.output.splitlines() == [
        "I: Association Received",
        "I: Association Acknowledged",
        "I: Association Aborted",
    ]


def test_echoscp_options_and_our_echoscu_abort() -> None:
    with echoscp("-v", "-aet", "MYSCP", "-xi", "-pdu", "8192", "-ta", "5") as server:
        done = dicomul("echoscu", "-v", "--abort", "-aec", "MYSCP", HOST, str(server.port))
        assert done.returncode == 0, done.stderr
        assert "Max Send PDV: 8180" in done.stderr  # our -pdu 8192, as DCMTK counts it
        # -xi: implicit VR little endian only, so an explicit-only proposal fails.
        explicit = AE(scu_sop_class=[VERIFICATION], transfer_syntax=["1.2.840.10008.1.2.1"])
        assoc = explicit.associate(HOST, server.port, ae_title="MYSCP")
        assert assoc.negotiated is not None
        assert assoc.negotiated.contexts == {}
        assoc.abort()
    assert server.output.count("I: Association Aborted") == 2


def test_pynetdicom_apps_both_ways() -> None:
    with echoscp("-v") as server:
        theirs = subprocess.run(
            [sys.executable, "-m", "pynetdicom", "echoscu", HOST, str(server.port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert theirs.returncode == 0, theirs.stderr
    assert "I: Received Echo Request (MsgID 1)" in server.output
    port = free_port()
    scp = subprocess.Popen(
        [sys.executable, "-m", "pynetdicom", "echoscp", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port)
        ours = dicomul("echoscu", "-v", HOST, str(port))
    finally:
        scp.terminate()
        scp.wait(timeout=10)
    assert ours.returncode == 0, ours.stderr
    assert "I: Received Echo Response (Success)" in ours.stderr


def test_tls_between_our_apps_and_with_dcmtk(tmp_path: pathlib.Path) -> None:
    from tls_certs import make_pki

    pki = make_pki(tmp_path)
    tls = ["+tls", str(pki.server_key), str(pki.server_cert), "+cf", str(pki.ca)]
    client = ["+tls", str(pki.client_key), str(pki.client_cert), "+cf", str(pki.ca)]
    with echoscp("-v", *tls, "--require-peer-cert") as server:
        ours = dicomul("echoscu", *client, HOST, str(server.port))
        assert ours.returncode == 0, ours.stderr
        theirs = dcmtk("echoscu", *client, HOST, str(server.port))
        assert theirs.returncode == 0, theirs.stderr
        anonymous = dicomul("echoscu", "+tla", "+cf", str(pki.ca), HOST, str(server.port))
        assert anonymous.returncode != 0  # the server requires a client certificate
    assert server.output.count("I: Received Echo Request (MsgID 1)") == 2


# -------------------------------------------------------------------- help


@pytest.mark.parametrize(
    ("app", "options"),
    [
        (
            "echoscu",
            "-q --quiet -v --verbose -d --debug -ll --log-level -lc --log-config "
            "-aet --calling-aet -aec --called-aet --propose-pc -pts --propose-ts "
            "-to --timeout -ta --acse-timeout -td --dimse-timeout -pdu --max-pdu "
            "--repeat --abort",
        ),
        (
            "echoscp",
            "-q --quiet -v --verbose -d --debug -ll --log-level -lc --log-config "
            "-aet --aetitle -to --timeout -ta --acse-timeout -td --dimse-timeout "
            "-pdu --max-pdu -x= --prefer-uncompr -xe --prefer-little -xb --prefer-big "
            "-xi --implicit",
        ),
    ],
)
def test_help_lists_every_seed_option(app: str, options: str) -> None:
    done = dicomul(app, "--help")
    assert done.returncode == 0
    shown = set(done.stdout.replace(",", " ").split())
    assert set(options.split()) <= shown


def test_dicomul_help_lists_the_apps_and_each_has_help() -> None:
    from dicomul_sync.apps.__main__ import APPS

    done = dicomul("--help")
    assert done.returncode == 0
    listed = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")]
    assert listed == list(APPS)
    assert {"echoscu", "echoscp", "storescu", "storescp", "findscu", "getscu", "movescu"} <= set(
        APPS
    )
    for app in APPS:
        shown = dicomul(app, "--help")
        assert shown.returncode == 0, (app, shown.stderr)
        assert shown.stdout.startswith(f"usage: dicomul {app} ")
    unknown = dicomul("nosuchapp")
    assert unknown.returncode == 2
    assert "no app named 'nosuchapp'" in unknown.stderr


def test_echoscu_starts_without_importing_pydicom() -> None:
    """Start-up is import time: echoscu never needs pydicom (about 150 ms)."""
    with storescp() as port:
        command = [sys.executable, "-X", "importtime", "-m", "dicomul_sync.apps", "echoscu"]
        done = subprocess.run(
            [*command, HOST, str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=ENV,
        )
    assert done.returncode == 0, done.stderr
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()}
    assert "dicomul_sync" in imported
    assert "pydicom" not in imported


@pytest.mark.parametrize(
    ("arguments", "status", "says"),
    [
        ("echoscu -lc /nonexistent.ini 127.0.0.1 1", 1, "E: cannot use log config file"),
        ("echoscu -pdu -5 127.0.0.1 1", 2, "-5 is not 0 (no limit) or 4096"),
        ("echoscu -pdu 10 127.0.0.1 1", 2, "10 is not 0 (no limit) or 4096"),
        ("echoscu -aet THIS_IS_WAY_TOO_LONG 127.0.0.1 1", 2, "longer than 16 characters"),
        ("echoscu -aec A\\B 127.0.0.1 1", 2, "holds '\\\\', which is not allowed: an AE title"),
        ("echoscu -aet ÄÖÜ 127.0.0.1 1", 2, "holds 'Ä', which is not allowed: an AE title"),
        ("storescu -aec 12345678901234567 127.0.0.1 1 x", 2, "longer than 16 characters"),
        ("findscu -aet A\x01 127.0.0.1 1", 2, "'A\\x01' holds '\\x01'"),
        ("movescu -aem ÄÖÜ -k QueryRetrieveLevel=STUDY 127.0.0.1 1", 2, "holds 'Ä'"),
        ("storescp --aetitle= 1", 2, "'' is empty or only spaces"),
        ("echoscu -to -1 127.0.0.1 1", 2, "-1 is not a positive number of seconds"),
        ("echoscu -ta x 127.0.0.1 1", 2, "'x' is not a number"),
        ("echoscu 127.0.0.1 0", 2, "0 is not a port number"),
        ("echoscp 99999", 2, "99999 is not a port number"),
        ("echoscu +tls /nope.key /nope.pem 127.0.0.1 1", 1, "E: cannot load TLS private key"),
        ("echoscp +tls /nope.key /nope.pem 1", 1, "E: cannot load TLS private key"),
        ("echoscu +tla +cf /nope.pem 127.0.0.1 1", 1, "E: cannot load trusted certificate"),
    ],
)
def test_bad_option_values_get_a_message_not_a_traceback(
    arguments: str, status: int, says: str
) -> None:
    done = dicomul(*arguments.split())
    assert done.returncode == status
    assert says in done.stderr
    assert "Traceback" not in done.stderr
