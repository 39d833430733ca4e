"""dicomul's version, in one place.

``pyproject.toml`` reads it (``[tool.setuptools.dynamic]``), ``dicomul
--version`` prints it, and the Implementation Version Name every
A-ASSOCIATE-RQ/AC carries (PS3.7 D.3.3.2.2) is made from it.
"""

from __future__ import annotations

__all__ = ["IMPLEMENTATION_VERSION_NAME", "__version__"]

__version__ = "0.1.0.dev0"


def implementation_version_name(version: str) -> str:
    """``DICOMUL_`` and the release's major, minor and micro numbers run
    together ("0.1.0.dev0" gives "DICOMUL_010"): PS3.7 D.3.3.2.2 allows 1
    to 16 characters of the default repertoire."""
    release = "".join(version.split(".")[:3])
    return f"DICOMUL_{release}"[:16]


#: dicomul's implementation version name (PS3.7 D.3.3.2: 1 to 16 characters).
IMPLEMENTATION_VERSION_NAME = implementation_version_name(__version__)
