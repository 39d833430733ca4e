"""qrscp's AE titles, each with its storage area and access rules (``-c``).

Each AE title of the configuration (:mod:`._qrconfig`, dcmqrscp's AETable)
serves its own directory and index: a C-FIND, C-GET or C-MOVE sees only the
area of the AE title it was called by, a C-STORE is written there.  The
rules, checked for every request against the association's called and
calling AE titles:

* an association whose called AE title is none of the configured ones is
  rejected by the acceptor (A-ASSOCIATE-RJ permanent, service user, reason
  7 "called-AE-title-not-recognized", PS3.8 9.3.4), as is one from a
  calling AE title and host that the called AE title's peers do not name
  (reason 7 too: what dcmqrscp answers): the AE's ``require_called_aet``
  and ``permitted_peers``;
* a peer not in the called AE title's peer list (none gets this far), a C-STORE to an area that
  is not writable (access R), or a C-FIND, C-GET or C-MOVE of one that is
  not readable (access W), is answered "Refused: Not Authorized" (0x0124,
  a failure status PS3.7 Annex C defines for every DIMSE service; PS3.4
  gives C-STORE, C-FIND, C-GET and C-MOVE no status of their own for it),
  and nothing is stored, matched or sent.  (dcmqrscp rejects such an
  association, or refuses the storage presentation contexts of a read-only
  area; one listening AE answering several titles negotiates the same
  contexts for all of them, so here the refusal comes per request.)

Each AE title's quota, ``(maxStudies, maxBytesPerStudy)``, is kept as
dcmqrscp keeps it (DCMTK's dcmqrscp manual: it "will delete images if its
quota restrictions have been exceeded"; dcmqrset.txt step 8 warns that
sending to an area may delete the original images; the rules below are
those of DCMTK's index database, dcmqrdbi.cc, checked side by side in
``conformance/test_apps_qrscp_access.py``), after each C-STORE is written:

* a file larger than maxBytesPerStudy is refused, 0xA700 "Refused: Out of
  Resources" (PS3.4 B.2.3), and removed;
* a file that takes its study over maxBytesPerStudy deletes the study's
  oldest files (by modification time) until it fits;
* a file of a new study, when the area holds maxStudies studies already,
  deletes the study stored into least recently, every file of it.

A size written without a unit (``(10, 1024)``) sets no byte limit, and
maxStudies 0 none on the number of studies.  As in dcmqrscp, maxStudies is
500 at most and maxBytesPerStudy 1 GiB (1073741824) at most: a larger
value is lowered to it, with a warning, when the configuration is read.
Deleted files are removed from the disk and the index.
"""

from __future__ import annotations

import logging
import os
import pathlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from dicomul import GeneralStatus, StoreStatus

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomul_sync import ServiceRequest

    from ._qrconfig import StorageArea
    from ._qrindex import Index

__all__ = ["NOT_AUTHORIZED", "Areas"]

LOGGER = logging.getLogger("dicomul.app.qrscp")

#: PS3.7 Annex C, "Refused: Not Authorized".
NOT_AUTHORIZED = int(GeneralStatus.NOT_AUTHORIZED)


class Areas:
    """The configured AE titles, their areas and the indexes of those areas
    (one per directory, shared by titles naming the same one)."""

    def __init__(
        self,
        areas: Mapping[str, StorageArea],
        indexes: Mapping[str, Index],
        find: Callable[[Index, Dataset], Iterator[Dataset | tuple[int, Dataset]]],
        retrieve: Callable[[Index, Dataset], list[str | tuple[int, None]]],
    ) -> None:
        self.areas = dict(areas)
        self.indexes = dict(indexes)
        #: One lock per index: a quota is checked and kept one C-STORE at a time.
        self._quota_locks = {id(index): threading.Lock() for index in self.indexes.values()}
        #: qrscp's C-FIND and retrieve over one index.
        self._find = find
        self._retrieve = retrieve

    def _refusal(self, request: ServiceRequest, *, write: bool) -> tuple[StorageArea, int | None]:
        """The called AE title's area, and the status refusing ``request``
        (None: allowed)."""
        negotiated = request.negotiated
        called, calling = negotiated.called_ae_title.strip(), negotiated.calling_ae_title.strip()
        area = self.areas[called]  # the acceptor rejected any other called title
        if not area.permits(calling):
            problem = f"{calling!r} is not a peer of {called!r}"
        elif write and not area.writable:
            problem = f"{called!r} is read-only (access R)"
        elif not write and not area.readable:
            problem = f"{called!r} is write-only (access W)"
        else:
            return area, None
        LOGGER.warning("Refused: not authorized (%s): answering 0x%04X", problem, NOT_AUTHORIZED)
        return area, NOT_AUTHORIZED

    def _current(self) -> tuple[Index, int | None]:
        from dicomul_sync import current_request  # noqa: PLC0415

        area, refusal = self._refusal(current_request(), write=False)
        return self.indexes[area.title], refusal

    def find(self, identifier: Dataset) -> Iterator[Dataset | tuple[int, Dataset]]:
        """C-FIND on the called AE title's area, if the peer may read it."""
        from pydicom.dataset import Dataset  # noqa: PLC0415

        index, refusal = self._current()
        if refusal is not None:
            return iter([(refusal, Dataset())])
        return self._find(index, identifier)

    def retrieve(self, identifier: Dataset) -> list[str | tuple[int, None]]:
        """C-GET or C-MOVE from the called AE title's area, if the peer may read it."""
        index, refusal = self._current()
        if refusal is not None:
            return [(refusal, None)]
        return self._retrieve(index, identifier)

    def store_sink(self, request: ServiceRequest) -> AreaSink:
        """Where a C-STORE's data set goes: the called AE title's area, or
        nowhere (refused) if the peer may not write it."""
        area, refusal = self._refusal(request, write=True)
        index = self.indexes[area.title]
        quota = Quota(area.quota, index, self._quota_locks[id(index)])
        return AreaSink(request, area.directory, index, refusal, quota)


class Quota:
    """An area's ``(maxStudies, maxBytesPerStudy)``, kept after each file
    stored (see the module docstring)."""

    def __init__(self, limits: tuple[int, int] | None, index: Index, lock: threading.Lock) -> None:
        self.max_studies, self.max_bytes = limits if limits is not None else (0, -1)
        self.index = index
        self.lock = lock

    def keep(self, path: pathlib.Path) -> int | None:
        """Apply the quota to the file just stored at ``path`` (indexed):
        None if it is kept, else the status refusing it (it is removed)."""
        with self.lock:
            size = os.path.getsize(path)
            if 0 <= self.max_bytes < size:
                LOGGER.warning(
                    "Refused: %s is %d bytes, more than the %d bytes a study may take: "
                    "answering 0x%04X", path, size, self.max_bytes, StoreStatus.OUT_OF_RESOURCES,
                )  # fmt: skip
                self.index.delete(path)
                return int(StoreStatus.OUT_OF_RESOURCES)
            study = self.index.study_of(path)
            if study is None:
                return None
            others = [(p, n) for p, n in self.index.study_files(study) if p != str(path)]
            if others:
                self._fit(study, others, size)
            else:
                self._make_room(study)
        return None

    def _fit(self, study: str, others: list[tuple[str, int]], size: int) -> None:
        """Delete the study's oldest files until it holds maxBytesPerStudy."""
        total = size + sum(n for _, n in others)
        for old, n in others:
            if self.max_bytes < 0 or total <= self.max_bytes:
                return
            LOGGER.warning("Quota: study %s over %d bytes: deleting %s", study,
                           self.max_bytes, old)  # fmt: skip
            self.index.delete(old)
            total -= n

    def _make_room(self, study: str) -> None:
        """Delete the least recently stored studies past maxStudies."""
        if self.max_studies <= 0:
            return
        older = [s for s in self.index.studies() if s != study]
        for victim in older[: max(0, len(older) + 1 - self.max_studies)]:
            LOGGER.warning("Quota: more than %d studies: deleting the oldest, %s",
                           self.max_studies, victim)  # fmt: skip
            for old, _ in self.index.study_files(victim):
                self.index.delete(old)


class AreaSink:
    """A C-STORE into one storage area (written durably, as the storage SCP
    does, then indexed), or refused with ``refusal`` and its data dropped."""

    def __init__(
        self,
        request: ServiceRequest,
        directory: pathlib.Path,
        index: Index,
        refusal: int | None,
        quota: Quota | None = None,
    ) -> None:
        from dicomul_common.store_sink import CheckedStore  # noqa: PLC0415

        self.index = index
        self.refusal = refusal
        self.quota = quota
        self.store = (
            None
            if refusal is not None
            else CheckedStore(request.command, request.transfer_syntax, str(directory))
        )

    def write(self, data: bytes | memoryview) -> None:
        if self.store is not None:
            self.store.write(data)

    def commit(self) -> int:
        if self.store is None:
            assert self.refusal is not None
            return self.refusal
        status = self.store.finish()
        if self.store.path is not None:
            indexed = self.index.add(self.store.path)
            LOGGER.info("Stored %s%s", self.store.path, "" if indexed else " (not indexed)")
            if indexed and self.quota is not None:
                refused = self.quota.keep(pathlib.Path(self.store.path))
                if refused is not None:
                    return refused
        return int(status)

    def discard(self) -> None:
        if self.store is not None:
            self.store.discard()
