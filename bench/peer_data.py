"""The data sets the peer benchmark sends: CT Images of a chosen size, as files.

Every file is Explicit VR Little Endian, the first syntax every SCP in the
bench prefers, so no SCU converts a data set on the way (DCMTK's storescu
would otherwise re-encode Implicit VR files into Explicit VR, timing its
converter instead of its network code).  Each file of a set has its own SOP
Instance UID, so that a storing SCP keeps one file per C-STORE and the
bench can count them.
"""

from __future__ import annotations

import io
import pathlib
import shutil
import struct

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"

#: Free disk the 2 GiB case asks for: its file is sparse, but a receiver
#: that spools to disk (pynetdicom's chunked mode) writes it for real.
LARGE_DISK_NEEDED = 6 * 1024**3


def _dataset(rows: int, columns: int, series_uid: str) -> object:
    """A CT Image with every attribute but Pixel Data, and its file meta."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(CT_IMAGE_STORAGE)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = UID(EXPLICIT_LE)
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.PatientName = "Bench^Peers"
    ds.PatientID = "BENCH"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = series_uid
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    return ds


def make_series(directory: pathlib.Path, count: int, size: int) -> list[pathlib.Path]:
    """``count`` CT files of about ``size`` bytes each in ``directory`` (made
    if missing; files already there with the same names are kept)."""
    from pydicom.uid import generate_uid

    directory.mkdir(parents=True, exist_ok=True)
    columns = 256
    rows = max(1, (size - 600) // (2 * columns))
    pixels = (bytes(range(256)) * (rows * columns * 2 // 256 + 1))[: rows * columns * 2]
    series = generate_uid()
    paths = []
    for i in range(count):
        path = directory / f"{i:05d}.dcm"
        paths.append(path)
        if path.exists():
            continue
        ds = _dataset(rows, columns, series)
        uid = generate_uid()
        ds.SOPInstanceUID = uid  # type: ignore[attr-defined]
        ds.file_meta.MediaStorageSOPInstanceUID = uid  # type: ignore[attr-defined]
        ds.PixelData = pixels  # type: ignore[attr-defined]
        ds["PixelData"].VR = "OW"  # type: ignore[index]
        ds.save_as(path, enforce_file_format=True)  # type: ignore[attr-defined]
    return paths


def make_large(path: pathlib.Path, size: int) -> pathlib.Path:
    """One CT file whose Pixel Data is ``size`` bytes of zeros, written
    sparse: the header, then the file extended with ``truncate`` so the
    pixels take no disk and are read back as zeros."""
    from pydicom.uid import generate_uid

    columns = 32768
    rows = size // (2 * columns)
    if rows * columns * 2 != size or not 0 < rows <= 0xFFFF:
        raise ValueError(f"{size} is not a whole number of 32768-pixel rows")
    ds = _dataset(rows, columns, generate_uid())
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)  # type: ignore[attr-defined]
    # Pixel Data (7FE0,0010), VR OW, explicit 32-bit length (PS3.5 7.1.2).
    header = buffer.getvalue() + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(header)
        f.truncate(len(header) + size)
    return path


def warm(path: pathlib.Path) -> None:
    """Read ``path`` once, so that its pages are in the page cache before
    any timed run: the first reader of a large file (a sparse one too: its
    holes become zero pages) otherwise pays for filling the cache, several
    times the transfer itself, and the pair that runs first looks slow."""
    chunk = bytearray(8 * 1024 * 1024)
    with path.open("rb", buffering=0) as f:
        while f.readinto(chunk):
            pass


def free_disk(path: pathlib.Path) -> int:
    """Bytes free on the file system holding ``path`` (what ``df`` shows)."""
    return shutil.disk_usage(path).free


def count_files(directory: pathlib.Path) -> tuple[int, int]:
    """(files, bytes) under ``directory``, recursively."""
    files = total = 0
    for path in directory.rglob("*"):
        if path.is_file():
            files += 1
            total += path.stat().st_size
    return files, total


def clear(directory: pathlib.Path) -> None:
    """Empty ``directory`` (keep the directory itself)."""
    for path in directory.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
