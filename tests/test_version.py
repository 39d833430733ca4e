"""One version, in dicomul/_version.py: the package metadata, ``dicomul
--version``, every app's ``--version`` and the Implementation Version Name
of every A-ASSOCIATE (PS3.7 D.3.3.2.2) all come from it."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest
from dicomul_sync.apps.__main__ import APPS

import dicomul
from dicomul import AssociationRequest, build_associate_rq, pdu, propose_contexts
from dicomul._version import implementation_version_name


@pytest.mark.parametrize(
    ("version", "name"),
    [
        ("0.1.0.dev0", "DICOMUL_010"),
        ("1.2.3", "DICOMUL_123"),
        ("12.34.567rc1", "DICOMUL_1234567r"),
    ],
)
def test_the_implementation_version_name_is_made_from_the_version(version: str, name: str) -> None:
    assert implementation_version_name(version) == name
    assert 1 <= len(name) <= 16  # PS3.7 D.3.3.2.2


def test_an_association_request_names_this_version() -> None:
    request = AssociationRequest(
        calling_ae_title="A",
        called_ae_title="B",
        contexts=propose_contexts(["1.2.840.10008.1.1"], ["1.2.840.10008.1.2"]),
    )
    decoded = pdu.decode(pdu.encode(build_associate_rq(request)))
    assert isinstance(decoded, pdu.AssociateRQ)
    assert decoded.user_information.implementation_version_name == (  # type: ignore[union-attr]
        implementation_version_name(dicomul.__version__)
    )


def test_the_installed_metadata_has_the_same_version() -> None:
    assert importlib.metadata.version("dicomul") == dicomul.__version__


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "dicomul_sync.apps", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_dicomul_version() -> None:
    assert run("--version") == f"dicomul {dicomul.__version__}"


@pytest.mark.parametrize("app", sorted(APPS))
def test_every_app_has_version(app: str) -> None:
    assert run(app, "--version") == f"dicomul {app} {dicomul.__version__}"
