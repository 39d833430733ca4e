"""Locate DCMTK's command-line tools, not the Python scripts of the same name.

pynetdicom installs console scripts called ``echoscu``, ``storescu``,
``storescp`` ... into the virtual environment, and an activated venv puts
them first on ``PATH``. Conformance runs must drive DCMTK itself, so this
looks the name up on ``PATH`` with the running interpreter's own prefix left
out. ``DCMTK_BIN`` (a directory) overrides the search.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import sys

__all__ = ["DCMTKNotFoundError", "dcmtk_path"]


class DCMTKNotFoundError(RuntimeError):
    """The DCMTK tool asked for is not installed."""


def dcmtk_path(tool: str) -> str:
    """Return the absolute path of DCMTK's ``tool`` (for example ``"storescp"``)."""
    override = os.environ.get("DCMTK_BIN")
    if override:
        candidate = pathlib.Path(override) / tool
        if candidate.is_file():
            return str(candidate)
        raise DCMTKNotFoundError(f"{tool} not found in DCMTK_BIN={override}")
    prefixes = {pathlib.Path(p).resolve() for p in (sys.prefix, sys.base_prefix)} - {
        pathlib.Path(sys.base_prefix).resolve()
    }
    search = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and not any(pathlib.Path(entry).resolve().is_relative_to(p) for p in prefixes)
    ]
    found = shutil.which(tool, path=os.pathsep.join(search))
    if found is None:
        raise DCMTKNotFoundError(f"DCMTK's {tool} is not on PATH (apt-get install dcmtk)")
    return found
