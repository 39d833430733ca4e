"""Build hook for the optional mypyc-compiled core (issue 16).

By default this changes nothing: the sdist and the wheel are pure Python, as
pyproject.toml describes them, and ``pip install -e .`` imports the source.

``DICOMUL_MYPYC=1 python -m build --wheel`` compiles the core (``dicomul/``,
but for the modules in :data:`INTERPRETED`) with mypyc into a wheel for the
building interpreter and platform; the adapters stay Python.  The compiled
core runs the per-message path about twice as fast (bench/README.md, "Speed
work (issue 16)", which also lists what a compiled core does differently).
mypy, which ships mypyc, is a build requirement only then.
"""

from __future__ import annotations

import os
import pathlib

from setuptools import setup

#: Left interpreted: the package's ``__init__`` (imports only);
#: ``_status``, whose ``Status`` subclasses int, which a native class cannot;
#: and ``_record``, whose run-time ``dataclass`` mypy never sees (it reads
#: :func:`dataclasses.dataclass` there), so mypyc would not compile it.
INTERPRETED = {"__init__.py", "_record.py", "_status.py"}

#: What building the compiled core needs: mypy (mypyc ships with it), and
#: pydicom, whose types mypy checks the core against (as the project's own
#: ``mypy`` run does).
BUILD_REQUIRES = ["mypy>=1.8", "pydicom>=2.4"]


def compiled_modules() -> list[str]:
    """The core's modules to compile, as paths relative to this file."""
    here = pathlib.Path(__file__).parent
    return sorted(
        str(path.relative_to(here))
        for path in (here / "dicomul").glob("*.py")
        if path.name not in INTERPRETED
    )


if os.environ.get("DICOMUL_MYPYC") == "1":
    try:
        from mypyc.build import mypycify
    except ImportError:
        # setuptools' build backend first runs this file to learn the build
        # requirements: ask for them; it runs it again once they are there.
        setup(setup_requires=BUILD_REQUIRES)
    else:
        setup(ext_modules=mypycify(compiled_modules(), opt_level="3", group_name="dicomul"))
else:
    setup()
