"""dicomul_sync's SOP class lists, generated from pydicom's UID dictionary."""

from __future__ import annotations

import subprocess
import sys

import dicomul_sync

CT = "1.2.840.10008.5.1.4.1.1.2"


def test_storage_list_is_the_storage_service_class() -> None:
    storage = dicomul_sync.StorageSOPClassList
    assert len(storage) > 150
    assert len(set(storage)) == len(storage)
    assert CT in storage
    assert "1.2.840.10008.5.1.4.1.1.4" in storage  # MR Image Storage
    assert "1.2.840.10008.5.1.4.1.1.7" in storage  # Secondary Capture Image Storage
    assert "1.2.840.10008.5.1.4.34.7" in storage  # RT Beams Delivery Instruction Storage
    for outsider in (
        "1.2.840.10008.1.20.1",  # Storage Commitment Push Model
        "1.2.840.10008.1.3.10",  # Media Storage Directory Storage (DICOMDIR)
        "1.2.840.10008.5.1.4.38.1",  # Hanging Protocol Storage (PS3.4 GG)
        "1.2.840.10008.5.1.4.1.1.200.1",  # CT Defined Procedure Protocol Storage (GG)
        "1.2.840.10008.5.1.4.1.1.5",  # NM Image Storage (Retired)
    ):
        assert outsider not in storage


def test_query_retrieve_list_has_every_model_of_the_seed() -> None:
    models = dicomul_sync.QueryRetrieveSOPClassList
    for uid in (
        "1.2.840.10008.5.1.4.31",  # 'W' Modality Worklist FIND
        "1.2.840.10008.5.1.4.1.2.1.1",  # 'P' Patient Root FIND
        "1.2.840.10008.5.1.4.1.2.2.1",  # 'S' Study Root FIND
        "1.2.840.10008.5.1.4.1.2.3.1",  # 'O' Patient/Study Only FIND
        "1.2.840.10008.5.1.4.1.2.2.2",  # Study Root MOVE
        "1.2.840.10008.5.1.4.1.2.2.3",  # Study Root GET
    ):
        assert uid in models
    assert CT not in models


def test_keyword_constants() -> None:
    assert dicomul_sync.CTImageStorageSOPClass == CT  # type: ignore[attr-defined]
    assert dicomul_sync.VerificationSOPClass == "1.2.840.10008.1.1"


def test_importing_dicomul_sync_does_not_import_pydicom() -> None:
    code = "import sys, dicomul_sync; print('pydicom' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
