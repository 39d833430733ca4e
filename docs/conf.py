"""Sphinx configuration for the dicomul documentation.

Built in CI with warnings as errors (``tests/test_docs.py``)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "_ext"))
# The packages live under the project root and transports/ (installed editable
# in the venv; these paths make a plain checkout build too).
for path in (ROOT, ROOT / "transports"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from dicomul import __version__  # noqa: E402

project = "dicomul"
author = "the dicomul developers"
copyright = "the dicomul developers"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.graphviz",
    "dicomul_docs",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
# Attributes sections as fields: a property documented there too is not described twice.
napoleon_use_ivar = True

html_theme = "alabaster"
html_title = f"dicomul {release}"
graphviz_output_format = "svg"
