"""Importing the async adapters stays light: pydicom is imported when a
data set is first encoded or a response first turned into a Dataset."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["dicomul_asyncio", "dicomul_trio"])
def test_importing_an_async_adapter_does_not_import_pydicom(package: str) -> None:
    code = f"import sys, {package}; print('pydicom' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
