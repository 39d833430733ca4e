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
        "1.2.840.10008.5.1.1.29",  # Hardcopy Grayscale Image Storage (print, retired)
    ):
        assert outsider not in storage


def test_storage_list_has_what_is_in_use_within_128_and_retired_last() -> None:
    """A requestor proposing the list gets its first 128 (PS3.8 9.3.2.2):
    the classes in use are there; the retired ones come after every current one."""
    storage = dicomul_sync.StorageSOPClassList
    first = storage[:128]
    for uid in (
        CT,
        "1.2.840.10008.5.1.4.1.1.128",  # PET
        "1.2.840.10008.5.1.4.1.1.481.1",  # RT Image
        "1.2.840.10008.5.1.4.1.1.481.2",  # RT Dose
        "1.2.840.10008.5.1.4.1.1.481.3",  # RT Structure Set
        "1.2.840.10008.5.1.4.1.1.481.5",  # RT Plan
        "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
        "1.2.840.10008.5.1.4.1.1.88.59",  # Key Object Selection
        "1.2.840.10008.5.1.4.1.1.1.1",  # DX For Presentation
    ):
        assert uid in first
    assert storage[:2] == [CT, "1.2.840.10008.5.1.4.1.1.4"]
    retired = [
        storage.index(uid) for uid in ("1.2.840.10008.5.1.4.1.1.5", "1.2.840.10008.5.1.4.1.1.6")
    ]
    assert min(retired) > storage.index("1.2.840.10008.5.1.4.34.10")  # after every current one
    assert min(retired) >= 128


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
