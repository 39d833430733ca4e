"""Several ``dicomul storescp`` processes behind a real HAProxy, one killed
while a burst of associations goes through: nothing reported stored is lost.

The configuration is the committed ``conformance/haproxy/haproxy.cfg`` (its
listening address, servers, check interval and ``maxconn`` replaced for the
test), so the file the documentation gives is the one run.  Its health check
is a C-ECHO on an association of its own, written as hex for HAProxy's
``tcp-check``: :func:`test_health_check_is_what_the_core_encodes` rebuilds
those bytes with dicomul's own codec, so they cannot drift from it.

The burst: API senders (separate processes printing each file's C-STORE
status, so every outcome is known exactly) and ``dicomul storescu``
invocations (its exit status and summary line), hundreds of small files in
all, through HAProxy to storescp processes writing one directory.  One
storescp is killed with SIGKILL while HAProxy has associations open to it.
Then: every file answered Success is on disk, its data set byte for byte what
was sent; every file whose association broke was reported to its sender as
not stored; no file under its final name is partial; HAProxy's C-ECHO check
marks the killed server down and keeps the other up, even with ``maxconn``
associations open to it (the check has a slot of its own).  A server that accepts
the TCP connection but rejects the association is marked down too: the check
is more than a TCP connect.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from corpus import assert_same_data_set, image, write
from peers import HOST, free_port, wait_listening
from test_apps_echo import DICOMUL, ENV

import dicomul
from dicomul import MessageControlHeader, pdu

CONFIG = pathlib.Path(__file__).with_name("haproxy") / "haproxy.cfg"
HAPROXY = shutil.which("haproxy")
needs_haproxy = pytest.mark.skipif(
    HAPROXY is None, reason="haproxy is not installed (.ci/run installs Debian's package)"
)

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_LITTLE = "1.2.840.10008.1.2"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
CT = "1.2.840.10008.5.1.4.1.1.2"

#: Files per association, for the API senders and each storescu run.
BATCH = 10
#: ``maxconn`` per server in the test configuration.
MAXCONN = 4

# ------------------------------------------------------ the check's bytes


def check_steps(config: str) -> list[tuple[str, str]]:
    """The ``tcp-check`` rules of ``config``, in order: (rule, argument)."""
    steps = []
    for line in config.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] == ["tcp-check"]:
            steps.append((" ".join(words[1:-1]) or words[1], words[-1]))
    return steps


def health_check_steps() -> list[tuple[str, str]]:
    """What the health check must send and expect, built with the core's
    codec: an A-ASSOCIATE-RQ for Verification (PS3.8 9.3.2), the
    A-ASSOCIATE-AC's PDU type and its accepted presentation context item
    (PS3.8 9.3.3.2), a C-ECHO-RQ in a P-DATA-TF (PS3.7 9.3.5, PS3.8 9.3.5),
    the C-ECHO-RSP's Status element with the value Success (PS3.7 C.1.2, in
    the command set's Implicit VR Little Endian, PS3.7 6.3.1), then
    A-RELEASE-RQ and its A-RELEASE-RP (PS3.8 9.3.6, 9.3.7)."""
    implicit = pdu.TransferSyntaxItem(name=pdu.uid(IMPLICIT_LITTLE))
    request = pdu.AssociateRQ(
        called_ae_title=pdu.ae_title("ANY-SCP"),
        calling_ae_title=pdu.ae_title("HEALTHCHECK"),
        application_context=pdu.ApplicationContextItem(
            name=pdu.uid(pdu.DICOM_APPLICATION_CONTEXT)
        ),
        presentation_contexts=(
            pdu.PresentationContextRQItem(
                context_id=1,
                abstract_syntax=pdu.AbstractSyntaxItem(name=pdu.uid(VERIFICATION)),
                transfer_syntaxes=(implicit,),
            ),
        ),
        user_information=pdu.UserInformationItem(
            sub_items=(
                pdu.MaximumLengthSubItem(maximum_length=16384),
                pdu.ImplementationClassUIDSubItem(name=pdu.uid(dicomul.IMPLEMENTATION_CLASS_UID)),
            )
        ),
    )
    accepted = pdu.PresentationContextACItem(context_id=1, result=0, transfer_syntax=implicit)
    echo = pdu.PDataTF(
        pdvs=(
            pdu.PresentationDataValue(
                context_id=1,
                control_header=MessageControlHeader.COMMAND | MessageControlHeader.LAST,
                data=dicomul.encode_command(dicomul.c_echo_rq(1)),
            ),
        )
    )
    success = struct.pack("<HHIH", 0x0000, 0x0900, 2, dicomul.GeneralStatus.SUCCESS)
    # What the check looks for is in the response the core encodes.
    response = dicomul.Command(
        command_field=dicomul.CommandField.C_ECHO_RSP,
        message_id_being_responded_to=1,
        affected_sop_class_uid=VERIFICATION,
        status=dicomul.GeneralStatus.SUCCESS,
    )
    assert success in dicomul.encode_command(response)
    return [
        ("connect", "connect"),
        ("send-binary", pdu.encode(request).hex()),
        ("expect rbinary", f"^{dicomul.PDUType.A_ASSOCIATE_AC:02x}"),
        ("expect binary", accepted.encode().hex()),
        ("send-binary", pdu.encode(echo).hex()),
        ("expect binary", success.hex()),
        ("send-binary", pdu.encode(pdu.ReleaseRQ()).hex()),
        ("expect binary", pdu.encode(pdu.ReleaseRP()).hex()),
    ]


def test_health_check_is_what_the_core_encodes() -> None:
    assert check_steps(CONFIG.read_text()) == health_check_steps()


@needs_haproxy
def test_committed_configuration_is_valid() -> None:
    assert HAPROXY is not None
    done = subprocess.run(
        [HAPROXY, "-c", "-f", str(CONFIG)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


# ---------------------------------------------------------------- HAProxy


def replace_once(text: str, old: str, new: str) -> str:
    """``text`` with its one ``old`` replaced (the committed file changed
    beyond what the test knows if there is not exactly one)."""
    assert text.count(old) == 1, f"{old!r} is not in {CONFIG} once"
    return text.replace(old, new)


def local_configuration(port: int, servers: dict[str, int], stats: pathlib.Path) -> str:
    """The committed configuration, listening on ``port`` of the loopback,
    with ``servers`` (name: port) instead of its own, a stats socket, checks
    every 200 ms, and ``maxconn`` MAXCONN per server."""
    text = CONFIG.read_text()
    text = replace_once(text, "\nglobal\n", f"\nglobal\n    stats socket {stats} mode 600\n")
    text = replace_once(text, "bind :104", f"bind {HOST}:{port}")
    text = replace_once(
        text, "inter 5s fall 2 rise 2 maxconn 10 ", f"inter 200ms fall 2 rise 1 maxconn {MAXCONN} "
    )
    text = re.sub(r"(?m)^    server .*\n", "", text)
    lines = [f"    server {name} {HOST}:{server_port}\n" for name, server_port in servers.items()]
    return text + "".join(lines)


@dataclasses.dataclass
class HAProxy:
    proc: subprocess.Popen[str]
    stats_socket: pathlib.Path

    def stats(self) -> dict[str, dict[str, str]]:
        """Each server of the backend (by name): its ``show stat`` columns."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.stats_socket))
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        header, *rows = data.decode().strip().splitlines()
        names = header.lstrip("# ").split(",")
        table = [dict(zip(names, row.split(","), strict=False)) for row in rows]
        for row in table:  # "* L7OK": the last result, while a check is running
            row["check_status"] = row["check_status"].removeprefix("* ")
        return {r["svname"]: r for r in table if r["pxname"] == "storescp"}

    def wait_for(self, what: str, ready: Callable[[dict[str, dict[str, str]]], bool]) -> None:
        deadline = time.monotonic() + 15
        while not ready(table := self.stats()):
            if time.monotonic() > deadline:
                pytest.fail(f"HAProxy: not {what} within 15 s: {summary(table)}")
            time.sleep(0.05)


def summary(table: dict[str, dict[str, str]]) -> str:
    return "; ".join(
        f"{name} {row['status']} {row['check_status']} ({row['check_desc']}) scur {row['scur']}"
        for name, row in table.items()
    )


@contextlib.contextmanager
def haproxy(config: str, directory: pathlib.Path, port: int) -> Iterator[HAProxy]:
    assert HAPROXY is not None
    path = directory / "haproxy.cfg"
    path.write_text(config)
    log = (directory / "haproxy.log").open("w")
    proc = subprocess.Popen([HAPROXY, "-db", "-f", str(path)], stdout=log, stderr=log, text=True)
    try:
        wait_listening(port)
        # The stats socket is made under a temporary name, then renamed.
        stats_socket = directory / "stats.sock"
        deadline = time.monotonic() + 10
        while not stats_socket.exists():
            assert time.monotonic() < deadline, "HAProxy made no stats socket"
            time.sleep(0.01)
        yield HAProxy(proc, stats_socket)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@contextlib.contextmanager
def rejecting_peer() -> Iterator[int]:
    """A port whose listener accepts TCP connections and rejects every
    association (rejected-permanent, no reason given): up for a TCP check,
    down for a DICOM one."""
    rejection = pdu.encode(
        pdu.AssociateRJ(
            result=dicomul.RejectResult.REJECTED_PERMANENT,
            source=dicomul.RejectSource.SERVICE_USER,
            reason=1,
        )
    )
    listener = socket.create_server((HOST, 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn, contextlib.suppress(OSError):
                conn.settimeout(2)
                conn.recv(65536)
                conn.sendall(rejection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        listener.close()


# ---------------------------------------------------------------- senders

#: A sender process: C-STOREs the files named, BATCH per association, and
#: prints each file's outcome as a JSON line [path, status]; status null
#: when no response came (no association, or it ended first).
SENDER = f"""
import json, sys
from dicomul_sync import AE
port, batch, files = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
ae = AE(ae_title="SENDER", scu_sop_class=["{CT}"], transfer_syntax=["{EXPLICIT_LITTLE}"])
ae.acse_timeout = ae.network_timeout = ae.dimse_timeout = 20
for start in range(0, len(files), batch):
    assoc = ae.associate("{HOST}", port)
    for path in files[start : start + batch]:
        status = None
        if assoc.is_established:
            response = assoc.send_c_store(path)
            if response is not None and "Status" in response:
                status = int(response.Status)
        print(json.dumps([path, status]), flush=True)
    if assoc.is_established:
        assoc.release()
"""


def make_files(root: pathlib.Path, count: int, first: int) -> dict[str, pathlib.Path]:
    """``count`` small CT images in ``root``, by SOP Instance UID."""
    root.mkdir()
    files = {}
    for n in range(count):
        ds = image(rows=16, columns=16, seed=first + n)
        files[str(ds.SOPInstanceUID)] = write(ds, root / f"{n:03}.dcm", EXPLICIT_LITTLE)
    return files


@dataclasses.dataclass
class StorescuRun:
    files: list[pathlib.Path]
    returncode: int
    output: str


def storescu_runs(port: int, directories: list[pathlib.Path], runs: list[StorescuRun]) -> None:
    """``dicomul storescu`` once per directory (one association each), in turn."""
    for directory in directories:
        done = subprocess.run(
            [DICOMUL, "storescu", "-ts", "20", HOST, str(port), str(directory)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=ENV,
        )
        runs.append(
            StorescuRun(sorted(directory.iterdir()), done.returncode, done.stdout + done.stderr)
        )


@dataclasses.dataclass
class Burst:
    #: Each API sender's file: the status answered, None if none was.
    statuses: dict[pathlib.Path, int | None]
    runs: list[StorescuRun]
    #: When the victim was killed (the epoch's seconds, as HAProxy logs).
    killed_at: float


def burst(
    proxy: HAProxy,
    port: int,
    victim: subprocess.Popen[str],
    out: pathlib.Path,
    *,
    senders: list[list[pathlib.Path]],
    storescu_directories: list[list[pathlib.Path]],
    total: int,
) -> Burst:
    """Send every file through HAProxy at ``port``; SIGKILL ``victim`` once a
    quarter of them are stored and HAProxy has associations open to it."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SENDER, str(port), str(BATCH), *map(str, files)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for files in senders
    ]
    runs: list[StorescuRun] = []
    workers = [
        threading.Thread(target=storescu_runs, args=(port, directories, runs))
        for directories in storescu_directories
    ]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 40
    while sum(1 for _ in out.glob("*.dcm")) < total // 4 or int(proxy.stats()["a"]["scur"]) == 0:
        assert time.monotonic() < deadline, "the burst did not get going"
        time.sleep(0.01)
    killed_at = time.time()
    victim.kill()
    victim.wait()
    statuses: dict[pathlib.Path, int | None] = {}
    for proc, files in zip(processes, senders, strict=True):
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        lines = [json.loads(line) for line in stdout.splitlines()]
        # Every file's outcome reached its sender: none left unanswered.
        assert [pathlib.Path(path) for path, _ in lines] == files
        statuses.update((pathlib.Path(path), status) for path, status in lines)
    for worker in workers:
        worker.join(timeout=60)
        assert not worker.is_alive()
    return Burst(statuses, runs, killed_at)


@needs_haproxy
def test_a_killed_storescp_loses_nothing_reported_stored(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "in"
    out.mkdir()
    sources: dict[str, pathlib.Path] = {}
    senders = []
    for n in range(4):  # four sender processes of 60 files
        files = make_files(tmp_path / f"sender{n}", 60, 1000 * n)
        sources |= files
        senders.append(list(files.values()))
    storescu_directories = []
    for w in range(2):  # two workers running storescu 8 times, 10 files each
        directories = []
        for b in range(8):
            directory = tmp_path / f"storescu{w}-{b}"
            sources |= make_files(directory, BATCH, 10000 + 100 * (8 * w + b))
            directories.append(directory)
        storescu_directories.append(directories)
    total = len(sources)
    assert total == 400

    ports = {"a": free_port(), "b": free_port()}
    storescps: dict[str, subprocess.Popen[str]] = {}
    with contextlib.ExitStack() as stack:
        for name, server_port in ports.items():
            log = stack.enter_context((tmp_path / f"storescp-{name}.log").open("w"))
            # One association more than maxconn: the health check's.
            limit = str(MAXCONN + 1)
            storescps[name] = proc = subprocess.Popen(
                [
                    DICOMUL,
                    "storescp",
                    "-v",
                    "--max-associations",
                    limit,
                    "-od",
                    str(out),
                    str(server_port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                env=ENV,
            )
            stack.callback(_stop, proc)
        for server_port in ports.values():
            wait_listening(server_port)
        rejecting = stack.enter_context(rejecting_peer())
        port = free_port()
        config = local_configuration(
            port, {**ports, "rejecting": rejecting}, tmp_path / "stats.sock"
        )
        proxy = stack.enter_context(haproxy(config, tmp_path, port))
        proxy.wait_for(
            "up by C-ECHO (a, b) and down (rejecting)",
            lambda t: (
                t["a"]["check_status"] == t["b"]["check_status"] == "L7OK"
                and t["rejecting"]["status"] == "DOWN"
            ),
        )
        # The rejecting peer took the TCP connection: it failed at layer 7.
        assert proxy.stats()["rejecting"]["check_status"] == "L7RSP"

        result = burst(
            proxy,
            port,
            storescps["a"],
            out,
            senders=senders,
            storescu_directories=storescu_directories,
            total=total,
        )

        proxy.wait_for("marking the killed server down", lambda t: t["a"]["status"] == "DOWN")
        table = proxy.stats()
        assert table["a"]["check_status"] == "L4CON", summary(table)
        assert table["b"]["status"] == "UP", summary(table)
        assert table["b"]["check_status"] == "L7OK", summary(table)
        # Its C-ECHO never failed, though HAProxy kept MAXCONN associations
        # open to it after the kill: the check has a slot of its own.
        assert table["b"]["chkfail"] == "0", summary(table)
        assert int(table["b"]["smax"]) == MAXCONN, summary(table)
        assert "Server storescp/a is DOWN" in (tmp_path / "haproxy.log").read_text()

    check_outcomes(out, result, sources, sessions((tmp_path / "haproxy.log").read_text()))


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


@dataclasses.dataclass(frozen=True)
class Session:
    """One client connection as HAProxy's ``option tcplog`` line reports it."""

    line: str
    server: str
    #: Accepted and ended (the epoch's seconds, to HAProxy's millisecond).
    start: float
    end: float


def sessions(log: str) -> list[Session]:
    """The sessions of HAProxy's ``dicom`` frontend in its log: the
    accept date (local time) and ``Tw/Tc/Tt``, Tt the session's whole
    duration in milliseconds."""
    pattern = re.compile(r"\[([^]]+)\] dicom storescp/(\S+) [-\d]+/[-\d]+/\+?(\d+) ")
    found = []
    for line in log.splitlines():
        match = pattern.search(line)
        if match:
            accepted, fraction = match[1].split(".")
            stamp = time.mktime(time.strptime(accepted, "%d/%b/%Y:%H:%M:%S"))
            start = stamp + int(fraction) / 1000
            found.append(Session(line, match[2], start, start + int(match[3]) / 1000))
    return found


def check_outcomes(
    out: pathlib.Path,
    result: Burst,
    sources: dict[str, pathlib.Path],
    proxied: list[Session],
) -> None:
    """Success means on disk and intact; a failure was reported as one."""
    # Every file under its final name is whole: one of the files sent, its
    # data set byte for byte (whatever its sender was told).
    stored = {path.stem: path for path in out.glob("*.dcm")}
    for uid, path in stored.items():
        assert uid in sources, f"{path.name} was never sent"
        assert_same_data_set(path, sources[uid])
    on_disk = {sources[uid] for uid in stored}

    # The API senders: each Success is on disk.  A file not answered (its
    # association broken by the kill) may or may not be there: its sender
    # was told it is not stored and sends it again.
    answered = {path for path, status in result.statuses.items() if status is not None}
    assert {result.statuses[path] for path in answered} == {0}, "only Success answered"
    assert answered <= on_disk, f"reported stored, not on disk: {sorted(answered - on_disk)}"
    unanswered = len(result.statuses) - len(answered)

    # storescu: an exit status of 0 means every file stored, and it is so; a
    # non-zero one is a summary line counting failures.
    failed_runs = 0
    for run in result.runs:
        summary_line = re.search(r"sent (\d+), warnings 0, failures (\d+)", run.output)
        assert summary_line is not None, run.output
        sent, failures = map(int, summary_line.groups())
        assert sent + failures == BATCH, run.output
        if run.returncode == 0:
            assert failures == 0, run.output
            assert set(run.files) <= on_disk, run.output
        else:
            assert failures > 0, run.output
            failed_runs += 1
    assert len(result.runs) == 16

    # The kill broke associations in progress, and no more than those: each
    # loss is one of the sessions HAProxy had open to the victim when it was
    # killed (at most MAXCONN), each of at most BATCH files.  HAProxy logs a
    # session when it ends, to the millisecond: those on the victim ending
    # after the kill (give or take the log's rounding: 2 ms either way).
    assert len(proxied) >= 400 // BATCH, "one session per association, at least"
    on_victim = [s for s in proxied if s.server == "a" and s.end >= result.killed_at - 0.002]
    surely_open = [s for s in on_victim if s.end > result.killed_at + 0.002]
    lost = unanswered + failed_runs * BATCH
    diagnosis = (
        f"{unanswered} files unanswered, {failed_runs} storescu runs failed; killed at "
        f"{result.killed_at:.3f}; sessions open to the victim then: "
        + "; ".join(f"{s.line} (ended {s.end:.3f})" for s in on_victim)
    )
    assert len(surely_open) <= MAXCONN, diagnosis
    assert 0 < lost <= len(on_victim) * BATCH, diagnosis
