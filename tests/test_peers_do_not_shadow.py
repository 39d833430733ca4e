"""With this environment's scripts first on PATH (an activated venv, as in
``.ci/run``), ``echoscu``, ``storescp``... are DCMTK's, not pynetdicom's
console scripts of the same names (issue 19): pynetdicom is installed apart
by ``scripts/install_peers.py`` and stays importable."""

from __future__ import annotations

import os
import pathlib
import shutil
import sysconfig

import pytest

#: DCMTK's tools that pynetdicom also ships as console scripts (DCMTK has
#: no echoscp: its storescp answers C-ECHO).
SHARED_NAMES = ["echoscu", "storescu", "storescp", "findscu", "getscu", "movescu"]


@pytest.mark.parametrize("tool", SHARED_NAMES)
def test_the_environments_scripts_do_not_shadow_dcmtk(tool: str) -> None:
    scripts = pathlib.Path(sysconfig.get_path("scripts")).resolve()
    path = os.pathsep.join([str(scripts), os.environ.get("PATH", "")])
    found = shutil.which(tool, path=path)
    assert found is not None, f"{tool}: DCMTK is not installed"
    assert pathlib.Path(found).resolve().parent != scripts, f"{found} shadows DCMTK's {tool}"


def test_pynetdicom_is_still_importable() -> None:
    import pynetdicom

    assert hasattr(pynetdicom, "AE")
