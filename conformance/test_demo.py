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
