"""dicomul_sync's SCP (AE.start) against DCMTK's echoscu and storescu, and
against its own SCU: echo, store, a raising handler, the association limit,
AE title matching, and stop()."""

from __future__ import annotations

import contextlib
import logging
import pathlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pydicom
import pytest
from dcmtk_tools import dcmtk_path
from dicomul_sync import AE
from test_sync_seed_examples import ct_file, free_port

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"


@contextlib.contextmanager
def serving(ae: AE) -> Iterator[int]:
    ae.port = free_port()
    thread = threading.Thread(target=ae.start, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", ae.port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the SCP did not start"
            time.sleep(0.01)
    try:
        yield ae.port
    finally:
        started = time.monotonic()
        ae.stop()
        thread.join(10)
        assert not thread.is_alive()
        assert time.monotonic() - started < 5  # stop() is not a polling interval


def dcmtk(*args: str) -> subprocess.CompletedProcess[str]:
    tool, *rest = args
    return subprocess.run(
        [dcmtk_path(tool), *rest], capture_output=True, text=True, timeout=30, check=False
    )


def test_dcmtk_echoscu(caplog: pytest.LogCaptureFixture) -> None:
    ae = AE(ae_title="ECHOSCP", scp_sop_class=[VERIFICATION])
    with serving(ae) as port, caplog.at_level(logging.INFO, logger="dicomul"):
        done = dcmtk("echoscu", "127.0.0.1", str(port))
    assert done.returncode == 0, done.stderr
    for line in (
        "Association Received",
        "Association Acknowledged",
        "Received Echo Request (MsgID 1)",
        "Association Released",
    ):
        assert line in caplog.text


def test_dcmtk_storescu_and_a_raising_handler(tmp_path: pathlib.Path) -> None:
    received: list[pydicom.Dataset] = []
    fail_next = [True]

    def on_c_store(dataset: pydicom.Dataset) -> int:
        if fail_next[0]:
            fail_next[0] = False
            raise RuntimeError("disk on fire")
        received.append(dataset)
        return 0x0000

    ae = AE(scp_sop_class=[VERIFICATION, CT])
    ae.on_c_store = on_c_store  # type: ignore[method-assign]
    path = ct_file(tmp_path / "ct.dcm")
    with serving(ae) as port:
        first = dcmtk("storescu", "127.0.0.1", str(port), str(path))
        second = dcmtk("storescu", "127.0.0.1", str(port), str(path))
        echo = dcmtk("echoscu", "127.0.0.1", str(port))
    assert "0xc000" in (first.stdout + first.stderr).lower() or first.returncode != 0
    assert second.returncode == 0, second.stderr
    assert echo.returncode == 0  # the server went on after the handler raised
    (dataset,) = received
    assert dataset.PixelData == pydicom.dcmread(path).PixelData


def test_association_limit_and_title_matching() -> None:
    ae = AE(ae_title="STORESCP", scp_sop_class=[VERIFICATION])
    ae.maximum_associations = 1
    ae.require_called_aet = "STORESCP"
    scu = AE(scu_sop_class=[VERIFICATION])
    with serving(ae) as port:
        wrong = scu.associate("127.0.0.1", port, ae_title="SOMEONE")
        assert wrong.is_rejected
        assert wrong.rejection is not None
        assert wrong.rejection.reason_text == "called-AE-title-not-recognized"
        held = scu.associate("127.0.0.1", port, ae_title="STORESCP")
        assert held.is_established
        refused = scu.associate("127.0.0.1", port, ae_title="STORESCP")
        assert refused.is_rejected
        assert refused.rejection is not None
        assert refused.rejection.reason_text == "local-limit-exceeded"
        status = held.send_c_echo()
        assert status is not None
        assert status.Status == 0
        held.release()
        assert held.is_released
        again = scu.associate("127.0.0.1", port, ae_title="STORESCP")
        assert again.is_established
        again.release()
