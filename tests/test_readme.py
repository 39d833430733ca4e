"""The README's Python examples run as written, in order, in one namespace."""

from __future__ import annotations

import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_blocks_run() -> None:
    text = README.read_text()
    blocks = list(re.finditer(r"```python\n(.*?)```", text, flags=re.DOTALL))
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "readme"}
    for block in blocks:
        # Padded to its place in README.md: tracebacks, and hypothesis's
        # inspect.getsource of a @given function, find the real lines.
        code = "\n" * text.count("\n", 0, block.start(1)) + block.group(1)
        exec(compile(code, str(README), "exec"), namespace)


def test_readme_opens_with_the_demo_and_the_ci_test_command() -> None:
    text = README.read_text()
    first_block = re.search(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["scripts/demo", "bash .ci/run"]
    ci = (README.parent / ".ci" / "run").read_text().strip().splitlines()
    test_command = "ruff check . && ruff format --check . && mypy && pytest"
    assert ci[-1] == test_command
    assert test_command in text
