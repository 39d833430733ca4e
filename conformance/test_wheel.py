"""The package as a user installs it (issue 19): ``python -m build`` makes an
sdist and a wheel that ``twine check`` passes; the wheel, installed into a
clean virtual environment (not editable, dependencies from the package
index), gives a working ``dicomul`` command, an echo between ``dicomul
echoscp`` and ``dicomul echoscu``, and every package importable."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
import venv

import pytest
from peers import HOST, free_port, wait_listening

import dicomul

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(*command: str | pathlib.Path, timeout: float = 300) -> str:
    """Run ``command`` away from this checkout (whose packages would shadow
    the installed ones), without PYTHONPATH, and without DICOMUL_MYPYC: the
    build tested is the default one, pure Python (setup.py)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DICOMUL_MYPYC")}
    done = subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=tempfile.gettempdir(),
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", out, ROOT)
    return out


@pytest.fixture(scope="module")
def installed(dist: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A fresh venv with the wheel and its asyncio and trio extras; its bin/."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    (wheel,) = dist.glob("dicomul-*.whl")
    run(python, "-m", "pip", "install", "-q", f"{wheel}[asyncio,trio]")
    return home / "bin"


def test_sdist_and_wheel_pass_twine_check(dist: pathlib.Path) -> None:
    names = sorted(path.name for path in dist.iterdir())
    assert names == [
        f"dicomul-{dicomul.__version__}-py3-none-any.whl",
        f"dicomul-{dicomul.__version__}.tar.gz",
    ]
    assert "PASSED" in run(sys.executable, "-m", "twine", "check", *dist.iterdir())


def test_the_wheel_installs_every_package_not_editable(installed: pathlib.Path) -> None:
    found = run(
        installed / "python",
        "-c",
        "import dicomul, dicomul_sync, dicomul_asyncio, dicomul_trio, dicomul.testing;"
        "print(dicomul.__file__, dicomul.__version__)",
    ).split()
    assert "site-packages" in found[0]  # the wheel's copy, not this checkout
    assert found[1] == dicomul.__version__


def test_the_installed_command_runs_an_echo(installed: pathlib.Path) -> None:
    command = installed / "dicomul"
    assert "echoscu" in run(command, "--help")
    assert run(command, "--version").strip() == f"dicomul {dicomul.__version__}"
    port = free_port()
    server = subprocess.Popen([command, "echoscp", str(port)])
    try:
        wait_listening(port)
        echo = subprocess.run(
            [command, "echoscu", "-v", HOST, str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert echo.returncode == 0, echo.stderr
    assert "Received Echo Response (Success)" in echo.stderr + echo.stdout
