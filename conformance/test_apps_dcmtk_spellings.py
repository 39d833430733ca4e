"""DCMTK's spellings in every app (issue 17): the long forms DCMTK's SCUs
write (``--aetitle``, ``--call``), ``-dhl`` (read as ``-d -h -l`` before,
which printed the help), and DCMTK options an app lacks refused by name."""

from __future__ import annotations

import pytest
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
