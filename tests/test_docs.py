"""The documentation builds with warnings as errors, and its examples run.

Each page's ```` ```python ```` blocks run as written, in order, in one
namespace per page (as ``tests/test_readme.py`` runs the README's): a block
meant to be read only is written with another fence (```` ```{code-block}
python ````), and none is today.  The Sphinx build is CI's documentation
build (``sphinx-build -W --keep-going -b html docs docs/_build/html``) into
a temporary directory: an autodoc, cross-reference or markup warning fails
it.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest
from compiled import COMPILED

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)


def test_pages_exist() -> None:
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert {"getting-started.md", "guides/blocking.md", "reference/apps.md"} <= names
    assert sum(len(PYTHON_BLOCK.findall(p.read_text())) for p in PAGES) >= 15


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if PYTHON_BLOCK.search(p.read_text())],
    ids=lambda p: p.relative_to(DOCS).as_posix(),
)
def test_page_examples_run(page: pathlib.Path) -> None:
    text = page.read_text()
    namespace: dict[str, object] = {"__name__": f"docs:{page.name}"}
    for block in PYTHON_BLOCK.finditer(text):
        # Padded to its place in the page: tracebacks, and hypothesis's
        # inspect.getsource of a @given function, find the real lines.
        code = "\n" * text.count("\n", 0, block.start(1)) + block.group(1)
        exec(compile(code, str(page), "exec"), namespace)


def test_every_app_has_its_options_page_section() -> None:
    from dicomul_sync.apps.__main__ import APPS

    text = (DOCS / "reference" / "apps.md").read_text()
    listed = re.findall(r"^```\{dicomul-app-options\} (\S+)$", text, flags=re.MULTILINE)
    assert listed == list(APPS)


@pytest.mark.skipif(
    COMPILED, reason="autodoc reads the pure core's source; a compiled core has none"
)
def test_html_build_has_no_warning(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "html"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    # What the build draws from the code is there: an app's options from its
    # parser, the state table from dicomul._fsm, every public module.
    apps = (out / "reference" / "apps.html").read_text()
    for option in ("--max-associations", "--known-ae", "+tls"):
        assert option in apps, option
    table = (out / "reference" / "state-table.html").read_text()
    for cell in ("AE-6", "Sta13", "Evt19", "Sta3 if acceptable, else Sta13"):
        assert cell in table, cell
    # ... and the state diagram, drawn by Graphviz from the same data: every
    # state, and the arrow an A-ASSOCIATE-AC (Evt3) makes from Sta5 to Sta6.
    (diagram,) = re.findall(r'data="\.\./(_images/graphviz-[0-9a-f]+\.svg)"', table)
    svg = (out / diagram).read_text()
    for state in range(1, 14):
        assert f">Sta{state}</text>" in svg, state
    assert "<title>Sta5&#45;&gt;Sta6</title>" in svg
    api = (out / "reference" / "api.html").read_text()
    for name in ("dicomul.Connection", "dicomul_sync.AE", "dicomul_asyncio.connect"):
        assert f'id="{name}"' in api, name
