"""Turning what a user hands over (a pydicom Dataset or a Part 10 file) into
a C-STORE request on an accepted presentation context.

Both C-STORE senders use it: an SCU's ``send_c_store`` and an SCP serving a
C-GET, whose matches go back as C-STORE sub-operations (PS3.4 C.4.3.3).
"""

from __future__ import annotations

import mmap
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dicomul import (
    RLE_LOSSLESS,
    Command,
    DataSetSource,
    Negotiated,
    c_store_rq,
    part10_data_set_offset,
    part10_file_meta,
)

if TYPE_CHECKING:
    import pathlib

    from pydicom.dataset import Dataset, FileMetaDataset

__all__ = ["FILE_CHUNK", "CannotSendError", "Outgoing", "read_part10_meta", "store_request"]

#: Chunk size for streaming a file's data set from disk.
FILE_CHUNK = 1024 * 1024


class CannotSendError(Exception):
    """No accepted presentation context can carry this data set as it is."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A data set to store, described without reading it: a pydicom Dataset,
    or a Part 10 file whose data set starts at ``offset``."""

    sop_class_uid: str
    sop_instance_uid: str
    #: The data set's transfer syntax; None for a Dataset without file meta
    #: (encodable in any native syntax).
    transfer_syntax: str | None
    dataset: Dataset | None = None
    path: pathlib.Path | None = None
    offset: int = 0

    @classmethod
    def of(cls, item: Dataset | str | os.PathLike[str]) -> Outgoing:
        """Describe a Dataset or the path of a Part 10 file.

        A file's UIDs are read from its File Meta Information by the core
        (:func:`dicomul.part10_file_meta`), without pydicom (a few
        microseconds where pydicom took a good part of a small file's
        C-STORE); pydicom reads only a file whose UIDs are missing or not
        plain (then its errors are the ones raised).
        """
        return cls.read(item)[0]

    @classmethod
    def read(cls, item: Dataset | str | os.PathLike[str]) -> tuple[Outgoing, memoryview | None]:
        """:meth:`of`, and for a file shorter than :data:`FIRST_READ` its data
        set's bytes as read to describe it: to be sent at once
        (:func:`store_request`'s ``data``), so that a small file is opened
        and read once.  None for a longer file, and for a Dataset.  (A
        description kept for later, as storescu describes every file before
        sending any, does not hold the bytes: :meth:`of`.)"""
        if isinstance(item, str | os.PathLike):
            import pathlib  # noqa: PLC0415 - slow to import: not for an app that sends no file

            path = pathlib.Path(item)
            head, complete = _head(path, FIRST_READ)
            try:
                found = part10_file_meta(head, complete=complete)
            except ValueError as exc:
                raise ValueError(f"{path} is not a DICOM Part 10 file: {exc}") from None
            assert found is not None
            offset, values = found
            uids = [_plain_uid(values.get(element)) for element in (0x0002, 0x0003, 0x0010)]
            data = memoryview(head)[offset:] if complete else None
            if None in uids:
                data = None  # pydicom says where the data set starts
                meta, offset = read_part10_meta(path)
                uids = [
                    str(meta.MediaStorageSOPClassUID),
                    str(meta.MediaStorageSOPInstanceUID),
                    str(meta.TransferSyntaxUID),
                ]
            sop_class, instance, syntax = uids
            assert sop_class is not None
            assert instance is not None
            return cls(sop_class, instance, syntax, path=path, offset=offset), data
        original = getattr(getattr(item, "file_meta", None), "TransferSyntaxUID", None)
        described = cls(
            str(item.SOPClassUID),
            str(item.SOPInstanceUID),
            None if original is None else str(original),
            dataset=item,
        )
        return described, None


def store_request(
    negotiated: Negotiated,
    item: Outgoing,
    message_id: int,
    *,
    requestor_as_scp: bool = False,
    originator: tuple[str, int] | None = None,
    priority: int | str = 0,
    data: memoryview | None = None,
) -> tuple[int, Command, DataSetSource]:
    """The context ID, C-STORE-RQ and data set to send ``item``.

    A Dataset is encoded in the accepted transfer syntax; a file's data set
    is sent as it is on disk, in chunks, never decoded, when its own transfer
    syntax was accepted, and otherwise re-encoded into an accepted native
    syntax if it is native or RLE Lossless (other compressed data cannot be).
    ``originator`` is the C-MOVE originator's AE title and message ID for a
    C-MOVE sub-operation (PS3.7 9.3.1.1); ``priority`` the request's
    Priority (PS3.7 9.1; MEDIUM, 0, by default).  ``data``, for a small
    file, is its data set as :meth:`Outgoing.read` read it (then it is not
    read again).  Raises :class:`CannotSendError` when no context fits, or
    RLE data do not decode.
    """
    context = negotiated.context_to_send(
        item.sop_class_uid, item.transfer_syntax, requestor_as_scp=requestor_as_scp
    )
    if context is None:
        raise CannotSendError(
            f"no accepted presentation context carries {item.sop_class_uid} "
            f"in {item.transfer_syntax}"
        )
    body: DataSetSource
    if item.path is not None and context.transfer_syntax == item.transfer_syntax:
        small = data if data is not None else _small_data_set(item.path, item.offset)
        if small is not None:  # read whole, once, and sent from memory
            _check_whole_data_set(small, context.transfer_syntax, item.path)
            body = small
        else:
            _check_whole(item.path, item.offset, context.transfer_syntax)
            body = _file_chunks(item.path, item.offset)  # as it is on disk
    else:
        # A syntax the peer did not accept: re-encode into a native one it
        # did (lossless between the native syntaxes, PS3.5 A.1, A.2, A.5;
        # RLE Lossless decoded first, Annex G).
        from dicomul import decompress_rle, encode_dataset  # noqa: PLC0415

        try:
            dataset = item.dataset if item.path is None else _read_dataset(item)
            assert dataset is not None
            if item.transfer_syntax == RLE_LOSSLESS and context.transfer_syntax != RLE_LOSSLESS:
                dataset = decompress_rle(dataset)
            body = encode_dataset(dataset, context.transfer_syntax)
        except Exception as exc:  # a file pydicom cannot read, RLE that does not decode...
            # One data set that cannot be re-encoded is that one's failure,
            # not the end of a run of many.
            raise CannotSendError(
                f"cannot re-encode it into {context.transfer_syntax}: {type(exc).__name__}: {exc}"
            ) from exc
    command = c_store_rq(
        message_id,
        item.sop_class_uid,
        item.sop_instance_uid,
        move_originator=originator,
        priority=priority,
    )
    return context.context_id, command, body


def read_part10_meta(path: pathlib.Path) -> tuple[FileMetaDataset, int]:
    """A Part 10 file's meta information, and the offset where its data set starts.

    PS3.10 7.1: a 128-byte preamble, "DICM", then group 0002 in explicit VR
    little endian; a file whose group lacks its group length (0002,0000) is
    read too, as DCMTK and pynetdicom read it (the group ends at the first
    element of another).  ValueError if it is not a Part 10 file.
    """
    from pydicom.filereader import read_file_meta_info  # noqa: PLC0415

    offset = _data_set_offset(path)
    return read_file_meta_info(path), offset


#: The most of a file read to find its data set: a File Meta Information
#: group larger than this (kilobytes in practice) is refused.
MAX_FILE_META = 1024 * 1024


def _data_set_offset(path: pathlib.Path) -> int:
    """Where the data set of the Part 10 file at ``path`` starts, reading as
    little of the file as :func:`dicomul.part10_data_set_offset` needs."""
    wanted = 4096
    with path.open("rb") as f:
        head = f.read(wanted)
        while True:
            try:
                offset = part10_data_set_offset(head, complete=len(head) < wanted)
            except ValueError as exc:
                raise ValueError(f"{path} is not a DICOM Part 10 file: {exc}") from None
            if offset is not None:
                return offset
            if wanted >= MAX_FILE_META:
                raise ValueError(f"{path}: File Meta Information over {MAX_FILE_META} bytes")
            head += f.read(wanted)
            wanted *= 2


#: Bytes read first to describe a file, and to send it: a file shorter than
#: this is sent from one read (the usual single image of a few kilobytes).
FIRST_READ = 64 * 1024
#: A UID as files mostly hold it: digits and dots, NUL or space padded.
_PLAIN_UID = re.compile(rb"[0-9.]{1,64}\Z")


def _small_data_set(path: pathlib.Path, offset: int) -> memoryview | None:
    """The data set of a file shorter than FIRST_READ bytes, read in one
    go (one open and one read, not a map to check it and another open to
    send it); None for a longer file."""
    head, complete = _head(path, FIRST_READ)
    return memoryview(head)[offset:] if complete else None


def _head(path: pathlib.Path, wanted: int) -> tuple[bytes, bool]:
    """The file's first bytes, up to the end of its File Meta Information
    at least (up to MAX_FILE_META), and whether they are the whole file."""
    with path.open("rb") as f:
        head = f.read(wanted)
        while len(head) == wanted:
            try:
                if part10_data_set_offset(head, complete=False) is not None:
                    break
            except ValueError:
                break  # not Part 10: part10_file_meta says why
            if wanted >= MAX_FILE_META:
                raise ValueError(f"{path}: File Meta Information over {MAX_FILE_META} bytes")
            head += f.read(wanted)
            wanted *= 2
    return head, len(head) < wanted


def _plain_uid(raw: bytes | None) -> str | None:
    """A UID value of the File Meta Information as pydicom reads it, if plain."""
    if raw is None:
        return None
    value = raw.rstrip(b"\0 ")
    return value.decode("ascii") if _PLAIN_UID.match(value) else None


def _check_whole_data_set(data: memoryview, transfer_syntax: str, path: pathlib.Path) -> None:
    """:func:`_check_whole` for a data set in memory."""
    from dicomul import DataSetScanner, DataSetStructureError  # noqa: PLC0415

    if not len(data):
        return  # an empty data set is whole
    try:
        scanner = DataSetScanner(transfer_syntax)
        scanner.feed(data)
        scanner.finish()
    except DataSetStructureError as exc:
        raise CannotSendError(f"{path} is not a whole DICOM file: {exc}") from None


def _check_whole(path: pathlib.Path, offset: int, transfer_syntax: str) -> None:
    """Raise CannotSendError if the file's data set is not whole (a file cut
    short, a deflated one that does not inflate or inflates past
    MAX_INFLATED_SIZE): a peer would store it and answer Success.  Element
    headers only, through a memory map; a deflated data set is inflated in
    bounded steps, never held."""
    from dicomul import DataSetScanner, DataSetStructureError  # noqa: PLC0415

    with path.open("rb") as f:
        if os.fstat(f.fileno()).st_size <= offset:
            return  # an empty data set is whole
        problem = None
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            part = view[offset:]
            try:
                scanner = DataSetScanner(transfer_syntax)
                scanner.feed(part)
                scanner.finish()
            except DataSetStructureError as exc:
                problem = str(exc)  # not the exception: its frames would pin the map
            finally:
                part.release()
                view.release()
    if problem is not None:
        raise CannotSendError(f"{path} is not a whole DICOM file: {problem}")


def _read_dataset(item: Outgoing) -> Dataset:
    """The data set of a file to re-encode, decoded: a deflated one through
    the core's bounded inflater (pydicom would inflate it whole, unbounded),
    any other with pydicom."""
    from pydicom import dcmread  # noqa: PLC0415 - pydicom only when storing

    from dicomul import decode_dataset, transfer_syntax_encoding  # noqa: PLC0415

    assert item.path is not None
    if item.transfer_syntax and transfer_syntax_encoding(item.transfer_syntax)[2]:
        with item.path.open("rb") as f:
            f.seek(item.offset)
            return decode_dataset(f.read(), item.transfer_syntax)
    return dcmread(item.path)


def _file_chunks(path: pathlib.Path, offset: int) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(offset)
        while chunk := f.read(FILE_CHUNK):
            yield chunk
