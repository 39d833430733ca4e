"""DCMTK's spellings in every app (issue 17): the long forms DCMTK's SCUs
write (``--aetitle``, ``--call``), ``-dhl`` (read as ``-d -h -l`` before,
which printed the help), and DCMTK options an app lacks refused by name."""

from __future__ import annotations

import importlib
import re
import subprocess

import pytest
from dcmtk_tools import dcmtk_path
from peers import HOST, free_port
from test_apps_echo import dicomul

SCUS = {
    "echoscu": [],
    "storescu": ["x.dcm"],
    "findscu": ["-k", "PatientID"],
    "getscu": ["-k", "PatientID"],
    "movescu": ["-k", "PatientID"],
}


@pytest.mark.parametrize("app", list(SCUS))
def test_dcmtk_long_title_options(app: str) -> None:
    """--aetitle and --call are taken: nobody listens, so the app fails to
    connect (or finds no file), never with a usage error."""
    done = dicomul(app, "--aetitle", "ME", "--call", "YOU", HOST, str(free_port()), *SCUS[app])
    assert done.returncode == 1, done.stderr
    assert "usage:" not in done.stderr


@pytest.mark.parametrize("app", ["echoscp", "storescp", "qrscp", "movescu"])
def test_dhl_is_an_option(app: str) -> None:
    done = dicomul(app, "--help")
    assert done.returncode == 0
    assert "-dhl, --disable-host-lookup" in done.stdout


@pytest.mark.parametrize(
    ("app", "option"),
    [("storescu", "+rn"), ("storescu", "--rename"), ("storescp", "-ss"), ("storescp", "+uf")],
)
def test_options_it_lacks_are_refused_by_name(app: str, option: str) -> None:
    done = dicomul(app, option, HOST, "104", "x")
    assert done.returncode == 2
    assert f"error: {option}: DCMTK {app}'s option is not supported: " in done.stderr


#: Our app -> its DCMTK namesake.
NAMESAKES = {
    "echoscu": "echoscu",
    "storescu": "storescu",
    "storescp": "storescp",
    "findscu": "findscu",
    "getscu": "getscu",
    "movescu": "movescu",
    "qrscp": "dcmqrscp",
}


def _dcmtk_options(tool: str) -> list[str]:
    """Every option ``<tool> --help`` of the installed DCMTK lists."""
    text = subprocess.run(
        [dcmtk_path(tool), "--help"], capture_output=True, text=True, check=False, timeout=30
    ).stdout
    found: list[str] = []
    for line in text.splitlines():
        match = re.match(r"^\s+([-+]\S+)?\s+(--\S+)?", line)
        if match:
            found += [g for g in match.groups() if g and g[0] in "-+"]
    return list(dict.fromkeys(found))


@pytest.mark.parametrize("app", list(NAMESAKES))
def test_every_dcmtk_option_is_taken_or_refused_by_name(app: str) -> None:
    """Each option of the installed DCMTK namesake's --help is one the
    parser knows: taken (implemented, or DCMTK's default spelled out) or
    refused by name; none is left to be misread or called unrecognized."""
    module = importlib.import_module(f"dicomul_sync.apps.{app}")
    known = set(module.build_parser()._option_string_actions)
    options = _dcmtk_options(NAMESAKES[app])
    assert len(options) > 20, options  # the help was read
    assert [o for o in options if o not in known] == []


@pytest.mark.parametrize(
    ("app", "option", "why"),
    [
        ("storescp", "+xs", "compressed syntaxes are accepted by default"),
        ("storescp", "--sleep-after", "no test delays"),
        ("echoscu", "+cs", "Python's ssl defaults"),
        ("findscu", "-Xx", "not XML"),
        ("findscu", "+cl", "Deflated is not proposed"),
        ("getscu", "-xd", "uncompressed transfer syntaxes"),
        ("movescu", "-pi", "pending responses"),
        ("qrscp", "--fork", "threads"),
        ("qrscp", "-ZA", "move destination"),
        ("qrscp", "+U8", "character sets"),
    ],
)
def test_more_options_refused_with_why(app: str, option: str, why: str) -> None:
    done = dicomul(app, option, "--version")
    assert done.returncode == 2
    assert f"error: {option}: DCMTK {app}'s option is not supported: " in done.stderr
    assert why in done.stderr


@pytest.mark.parametrize(
    ("app", "option"),
    [
        ("echoscu", "-pem"),
        ("storescp", "--single-process"),
        ("storescp", "+F"),
        ("storescp", "+t="),
        ("storescp", "-ac"),
        ("movescu", "--write-file"),
        ("movescu", "--no-port"),
        ("qrscp", "-s"),
        ("qrscp", "--move-unrestricted"),
    ],
)
def test_dcmtk_defaults_spelled_out_are_taken(app: str, option: str) -> None:
    """DCMTK's default, which the app does anyway: parsed, no error (the
    --version after it ends the parse)."""
    done = dicomul(app, option, "--version")
    assert done.returncode == 0, done.stderr
