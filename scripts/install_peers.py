"""Install pynetdicom, the tests' and benchmarks' other Python peer, where
its console scripts do not shadow DCMTK's.

pynetdicom installs scripts named ``echoscu``, ``storescp``, ``findscu``
... into the environment's ``bin/``: with the virtual environment active
they come first on PATH, before DCMTK's tools of the same names.  So it goes
into ``<venv>/peers`` instead (``pip install --target``; its scripts land in
``<venv>/peers/bin``, on no PATH), and a ``.pth`` file makes it importable
by the environment's interpreter, ``python -m pynetdicom`` included.

Run by ``.ci/run`` and tox: ``python scripts/install_peers.py`` with the
venv's interpreter.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import sysconfig

#: What is installed (its one dependency, pydicom, is dicomul's too).
REQUIREMENT = "pynetdicom>=2.0"


def main() -> int:
    if sys.prefix == sys.base_prefix:
        print("install_peers: run it with a virtual environment's python", file=sys.stderr)
        return 2
    target = pathlib.Path(sys.prefix) / "peers"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--upgrade", "--no-deps"]
    subprocess.run([*pip, "--target", str(target), REQUIREMENT], check=True)
    site_packages = pathlib.Path(sysconfig.get_paths()["purelib"])
    (site_packages / "dicomul-peers.pth").write_text(f"{target}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
