"""``AE.fork_associations``: the blocking server forks a child process per
association (POSIX), its handlers run there, and the parent counts the
children against ``maximum_associations``."""

from __future__ import annotations

import os
import pathlib
import socket
import threading
import time
from typing import Any

import pytest
from dicomul_sync import AE, evt

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only")

VERIFICATION = "1.2.840.10008.1.1"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def accepted(scu: AE, port: int) -> Any:
    """An association, once the slot of the last child is free (it exits
    after its release, and the parent reaps it)."""
    deadline = time.monotonic() + 10
    while True:
        assoc = scu.associate(HOST, port)
        if assoc.is_established or time.monotonic() > deadline:
            assert assoc.is_established
            return assoc
        time.sleep(0.05)


def test_each_association_is_served_by_its_own_child(tmp_path: pathlib.Path) -> None:
    """A C-ECHO handler records the pid it runs in: a child's, one per
    association, never this process'; the limit (1) counts the child."""
    record = tmp_path / "pids"

    def echo(event: evt.Event) -> int:
        with record.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return 0

    server = AE(scp_sop_class=[VERIFICATION])
    server.fork_associations = True
    server.maximum_associations = 1
    server.port = free_port()
    thread = threading.Thread(
        target=server.start, kwargs={"evt_handlers": [(evt.EVT_C_ECHO, echo)]}, daemon=True
    )
    thread.start()
    assert server.listening.wait(5)
    try:
        scu = AE(scu_sop_class=[VERIFICATION])
        for _ in range(2):
            assoc = accepted(scu, server.port)
            assert scu.associate(HOST, server.port).is_established is False  # at the limit
            assert assoc.send_c_echo().Status == 0
            assoc.release()
    finally:
        server.stop()
        thread.join(10)
    assert not thread.is_alive()
    pids = [int(line) for line in record.read_text().split()]
    assert len(pids) == 2
    assert len(set(pids)) == 2
    assert os.getpid() not in pids
