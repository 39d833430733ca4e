"""The README's demo echoes and stores to DCMTK's storescp through the engine."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

DEMO = pathlib.Path(__file__).resolve().parent.parent / "examples" / "demo.py"


def test_demo_echoes_stores_and_releases_with_dcmtk() -> None:
    out = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "OFFIS_DCMTK_" in out
    assert "context 1 1.2.840.10008.1.1: accepted" in out
    assert "context 5 1.2.3.4.5.6.7: abstract syntax not supported" in out
    assert "C-ECHO: status Status(0x0000 Success)" in out
    assert re.search(r"C-STORE of \d+ bytes: status Status\(0x0000 Success\)", out)
    assert "release: Released" in out
    assert "DEMO^DICOMUL, 128x128, pixel data intact: True" in out


APPS_DEMO = DEMO.with_name("apps_demo.py")


def test_apps_demo_serves_and_sends_byte_for_byte() -> None:
    out = subprocess.run(
        [sys.executable, str(APPS_DEMO)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "I: Received Echo Response (Success)" in out
    assert "sent 3, warnings 0, failures 0" in out
    assert "I: Received Echo Request (MsgID 1)" in out  # echoscp's log
    assert out.rstrip().endswith("4 files stored durably, data sets byte for byte: True")
