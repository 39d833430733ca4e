"""``dicomul storescp --fork`` (DCMTK storescp's ``--fork``): a child process
per association.  Concurrent senders (DCMTK's storescu and ours) each served
by a process of their own with every file stored intact; the association
limit counting the children; a child killed mid-association leaving the
server serving; SIGTERM stopping the parent once its children are done."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import time

import pytest
from corpus import assert_same_data_set, image, write
from dcmtk_tools import dcmtk_path
from dicomul_sync.ae import AE
from peers import HOST
from pydicom import dcmread
from test_apps_echo import DICOMUL, ENV, app_server

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="--fork is POSIX only")

EXPLICIT = "1.2.840.10008.1.2.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
VERIFICATION = "1.2.840.10008.1.1"

#: Run by -xcr with -xs (so its parent, the process serving the association,
#: is alive): records that process' pid and the file name.
SCRIPT = """#!/bin/sh
echo "$PPID $2" >> "$1"
"""


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux /proc)."""
    path = pathlib.Path(f"/proc/{pid}/task/{pid}/children")
    return [int(word) for word in path.read_text().split()]


def sources(root: pathlib.Path, senders: int, per_sender: int) -> list[list[pathlib.Path]]:
    groups = []
    for s in range(senders):
        folder = root / f"sender{s}"
        folder.mkdir()
        groups.append(
            [
                write(image(rows=64, columns=64, seed=100 * s + n), folder / f"{n}.dcm", EXPLICIT)
                for n in range(per_sender)
            ]
        )
    return groups


def scu() -> AE:
    return AE(scu_sop_class=[VERIFICATION, CT], transfer_syntax=[EXPLICIT])


def test_concurrent_senders_each_get_a_process(tmp_path: pathlib.Path) -> None:
    """Six senders at once (four DCMTK storescu processes, two of ours):
    every file stored byte for byte, each association served by its own
    child process (the pid -xcr's command sees as its parent)."""
    out = tmp_path / "out"
    out.mkdir()
    log = tmp_path / "pids.log"
    script = tmp_path / "record.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    groups = sources(tmp_path, 6, 3)
    with app_server(
        "storescp", "--fork", "-xs", "-xcr", f"{script} {log} #f", "-od", str(out)
    ) as server:
        procs = [
            subprocess.Popen(
                [dcmtk_path("storescu"), HOST, str(server.port), *map(str, group)],
                env=ENV,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for group in groups[:4]
        ] + [
            subprocess.Popen(
                [DICOMUL, "storescu", HOST, str(server.port), *map(str, group)],
                env=ENV,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for group in groups[4:]
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        parent = server.proc.pid
    for group in groups:
        for source in group:
            uid = dcmread(source, stop_before_pixels=True).SOPInstanceUID
            assert_same_data_set(out / f"{uid}.dcm", source)
    lines = [line.split() for line in log.read_text().splitlines()]
    assert len(lines) == 18
    pids = {int(pid) for pid, _ in lines}
    assert len(pids) == 6  # one process per association
    assert parent not in pids


def test_the_limit_counts_children_and_a_killed_child_frees_its_slot(
    tmp_path: pathlib.Path,
) -> None:
    """--max-associations 2: two open associations (two children), a third
    request is rejected (local limit exceeded); SIGKILL of one child aborts
    its association only, and its slot serves the next peer."""
    with app_server("storescp", "--fork", "--max-associations", "2", "--ignore") as server:
        first = scu().associate(HOST, server.port)
        second = scu().associate(HOST, server.port)
        assert first.is_established
        assert second.is_established
        deadline = time.monotonic() + 5
        while len(children(server.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        served = children(server.proc.pid)
        assert len(served) == 2
        third = scu().associate(HOST, server.port)
        assert not third.is_established  # rejected at the limit
        os.kill(served[0], signal.SIGKILL)
        deadline = time.monotonic() + 5
        while len(children(server.proc.pid)) > 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        fourth = scu().associate(HOST, server.port)
        assert fourth.is_established  # the killed child's slot is free again
        assert fourth.send_c_echo().Status == 0
        fourth.release()
        # The other child never noticed: exactly one of the two still answers.
        alive = [assoc for assoc in (first, second) if echoes(assoc)]
        assert len(alive) == 1
        alive[0].release()
        third.abort()


def echoes(assoc: object) -> bool:
    """Whether a C-ECHO on ``assoc`` succeeds."""
    try:
        status = assoc.send_c_echo()  # type: ignore[attr-defined]
    except Exception:
        return False
    return bool(status) and status.Status == 0


def test_sigterm_stops_accepting_and_waits_for_the_children() -> None:
    """SIGTERM of the parent: no new association, the one in progress goes
    on to its release, then the parent exits 0."""
    proc = None
    with app_server("storescp", "--fork", "--ignore") as server:
        proc = server.proc
        assoc = scu().associate(HOST, server.port)
        assert assoc.is_established
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert proc.poll() is None  # waiting for its child
        assert not scu().associate(HOST, server.port).is_established  # not accepting
        assert echoes(assoc)
        assoc.release()
        assert proc.wait(timeout=10) == 0


def test_fork_refused_with_end_of_study_commands(tmp_path: pathlib.Path) -> None:
    """-xcs tracks studies across associations, in one process: refused with --fork."""
    done = subprocess.run(
        [DICOMUL, "storescp", "--fork", "-xcs", "true", "-od", str(tmp_path), "11112"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=ENV,
    )
    assert done.returncode == 2
    assert "--fork cannot be combined with -xcs" in done.stderr
