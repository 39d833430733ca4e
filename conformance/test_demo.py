"""The README's demo negotiates a real association with DCMTK's storescp."""

from __future__ import annotations

import pathlib
import subprocess
import sys

DEMO = pathlib.Path(__file__).resolve().parent.parent / "examples" / "association_demo.py"


def test_demo_associates_with_dcmtk_and_releases() -> None:
    out = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "<- AssociateAC" in out
    assert "(OFFIS_DCMTK_" in out
    assert "context 1 (1.2.840.10008.1.1): acceptance" in out
    assert "context 5 (1.2.3.4.5.6.7): abstract syntax not supported" in out
    assert "<- ReleaseRP: association released" in out
