"""Durable storage of received data sets as DICOM Part 10 files.

A storage SCP answers Success only once the data set is durably on disk
(shared/ARCHITECTURE.md, Data safety): :class:`DurableFile` writes the
preamble, the file meta information (PS3.10 7.1) and the data-set bytes as
they arrive to a temporary file in the target directory, then flushes,
fsyncs, renames it into place and fsyncs the directory.  An interrupted or
failed transfer removes the temporary file, so nothing partial ever carries
the final name.  The data set is written exactly as received, never decoded.
"""

from __future__ import annotations

import logging
import os
import pathlib
import re
import secrets
from collections.abc import Iterable

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID

from dicomul import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, DataSetScanner

from .outgoing import read_part10_meta

__all__ = [
    "DurableFile",
    "NotAFileNameError",
    "file_meta_bytes",
    "file_meta_for",
    "file_name_for",
    "fsync_directory",
    "read_attributes",
]

LOGGER = logging.getLogger("dicomul.storage")

_UID = re.compile(r"[0-9]+(\.[0-9]+)*\Z")


class NotAFileNameError(ValueError):
    """A peer's SOP Instance UID that cannot safely name a file (a path
    separator, "..", not a UID): the store is refused, with no traceback
    logged, since it is the peer's data and no fault of ours."""


def file_name_for(sop_instance_uid: str) -> str:
    """A safe file name for a received instance: its UID, if it is one.

    The UID comes from the peer, so anything but digits and dots (a path
    separator, "..") is refused rather than trusted as a file name.
    """
    if not _UID.match(sop_instance_uid) or len(sop_instance_uid) > 64:
        raise NotAFileNameError(f"{sop_instance_uid!r} is not a UID; refusing it as a file name")
    return f"{sop_instance_uid}.dcm"


def file_meta_for(
    sop_class_uid: str,
    sop_instance_uid: str,
    transfer_syntax: str,
    *,
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID,
    implementation_version_name: str | None = IMPLEMENTATION_VERSION_NAME,
) -> FileMetaDataset:
    """The File Meta Information of a received instance (PS3.10 7.1): its
    SOP class and instance (the C-STORE request's, which the data set was
    checked against), the transfer syntax it came in, and the
    implementation writing it (dicomul's unless given: the receiving AE's).
    The group length and version are filled in when the file is written."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID(implementation_class_uid)
    if implementation_version_name:
        meta.ImplementationVersionName = implementation_version_name
    return meta


def file_meta_bytes(
    sop_class_uid: str,
    sop_instance_uid: str,
    transfer_syntax: str,
    *,
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID,
    implementation_version_name: str | None = IMPLEMENTATION_VERSION_NAME,
) -> bytes:
    """Preamble, "DICM" and the group 0002 elements of PS3.10 7.1."""
    meta = file_meta_for(
        sop_class_uid,
        sop_instance_uid,
        transfer_syntax,
        implementation_class_uid=implementation_class_uid,
        implementation_version_name=implementation_version_name,
    )
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_file_meta_info(fp, meta, enforce_standard=True)
    return b"\0" * 128 + b"DICM" + fp.getvalue()


#: Every so many bytes written, the kernel is asked to start writing them to
#: disk (see DurableFile.write).
WRITEBACK_EVERY = 1024 * 1024


class DurableFile:
    """One received instance on its way to ``directory/<SOP Instance UID>.dcm``.

    Large data sets are written back while they arrive: every
    :data:`WRITEBACK_EVERY` bytes, ``posix_fadvise(POSIX_FADV_DONTNEED)``
    over what was written since makes Linux start writing those pages out
    without waiting for them (and drop them from the page cache once clean:
    the store does not read them again).  The fsync of :meth:`commit` then
    waits only for the tail, so the disk works while the network does,
    instead of after it (issue 16: the durable store reached a third of a
    plain write+fsync loop).  Where the call does not exist or fails, the
    commit's fsync does all the work, as before.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        sop_class_uid: str,
        sop_instance_uid: str,
        transfer_syntax: str,
    ) -> None:
        self.directory = pathlib.Path(directory)
        self.final_path = self.directory / file_name_for(sop_instance_uid)
        self.transfer_syntax = transfer_syntax
        fd, self._temp_path = _create_temporary(self.directory)
        self._file = os.fdopen(fd, "wb")
        self._size = 0  # bytes written so far
        self._written_back = 0  # where the last writeback asked for ended
        try:
            meta = file_meta_bytes(sop_class_uid, sop_instance_uid, transfer_syntax)
            self._file.write(meta)
            self._size = len(meta)
        except BaseException:
            self.discard()
            raise

    def write(self, data: bytes | memoryview) -> None:
        """Append data-set bytes as they arrive."""
        self._file.write(data)
        self._size += len(data)
        if self._size - self._written_back >= WRITEBACK_EVERY:
            self._start_writeback()

    def _start_writeback(self) -> None:
        """Ask the kernel to start writing out what arrived since the last call."""
        self._file.flush()
        advise = getattr(os, "posix_fadvise", None)  # not on every system
        if advise is not None:
            try:
                advise(
                    self._file.fileno(),
                    self._written_back,
                    self._size - self._written_back,
                    os.POSIX_FADV_DONTNEED,
                )
            except OSError as exc:  # advice only: the commit's fsync still makes it durable
                LOGGER.debug("posix_fadvise on %s: %s", self._temp_path, exc)
        self._written_back = self._size

    @property
    def temporary_path(self) -> pathlib.Path:
        """Where the data arrives until :meth:`commit` (read it after :meth:`flush`)."""
        return self._temp_path

    def flush(self) -> None:
        """Push what was written so far to the temporary file (not yet durable)."""
        self._file.flush()

    def commit(self, into: pathlib.Path | None = None) -> pathlib.Path:
        """Make the file durable under its final name; return that path.

        ``into`` puts it in that folder (under the directory, created if
        needed, its name made durable too) instead of the directory itself.
        Raises OSError if any step fails: before the rename, nothing is left
        under the final name; if only the directory's fsync fails after it,
        the file is in place but its name may not survive a crash, and the
        error still means "not stored" to the caller.
        """
        try:
            if into is not None and into != self.directory:
                if not into.is_dir():
                    into.mkdir(exist_ok=True)
                    fsync_directory(into.parent)
                self.final_path = into / self.final_path.name
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if self.final_path.exists():
                LOGGER.warning("%s is stored again: the new copy replaces it", self.final_path)
            os.replace(self._temp_path, self.final_path)
        except BaseException:
            self.discard()
            raise
        fsync_directory(self.final_path.parent)
        return self.final_path

    def discard(self) -> None:
        """Drop the partial file (a failed or interrupted transfer).

        Closing flushes what is buffered, which fails again on a full disk:
        the file is removed whatever closing does.
        """
        try:
            if not self._file.closed:
                self._file.close()
        except OSError:
            pass
        finally:
            self._temp_path.unlink(missing_ok=True)


#: Bytes read from a file at a time by :func:`read_attributes`.
_READ_CHUNK = 64 * 1024


def read_attributes(
    path: str | os.PathLike[str], keywords: Iterable[str], *, max_value: int = 64 * 1024
) -> Dataset:
    """The named top-level attributes of a Part 10 file, and its Specific
    Character Set, as a small Dataset, read as a stream.

    Unlike ``dcmread(..., stop_before_pixels=True)``, it never holds a value
    longer than ``max_value`` bytes (a 300 MB private element before the
    patient's name is skipped, not read) and stops as soon as the last
    attribute asked for has gone by; a deflated data set is inflated in
    bounded steps only that far (a deflate bomb costs no memory).  ValueError
    (or DataSetStructureError, a ValueError) for a file that is not Part 10
    or whose data set ends before the attributes are passed, cut short.
    """
    meta, offset = read_part10_meta(pathlib.Path(path))
    tags = [tag_for_keyword(keyword) for keyword in keywords]
    keep = [int(tag) for tag in tags if tag is not None] + [0x00080005]
    scanner = DataSetScanner(str(meta.TransferSyntaxUID), keep=keep, max_kept_value=max_value)
    with open(path, "rb") as f:
        f.seek(offset)
        while chunk := f.read(_READ_CHUNK):
            scanner.feed(chunk)
            if scanner.passed_kept:
                break
        else:
            scanner.finish()
    return scanner.kept_dataset()


def fsync_directory(path: pathlib.Path) -> None:
    """Make the names in ``path`` durable (a rename or a new entry)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_temporary(directory: pathlib.Path) -> tuple[int, pathlib.Path]:
    """A new file ``.incoming-<random>.part`` in ``directory``, open for
    writing.  Unlike :func:`tempfile.mkstemp` (always 0600), its mode is 0666
    less the umask, as any file a program writes: a stored instance is as
    readable to the site's other programs as DCMTK storescp's files are."""
    for _ in range(100):
        path = directory / f".incoming-{secrets.token_hex(8)}.part"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {directory}")
