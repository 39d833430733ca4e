"""storescp's placement of received files and its commands on reception and
at the end of a study (DCMTK storescp's -su, -uf, -fe, -xcr, -xcs, -tos, -xs).

Where a file goes: the output directory, or a folder per study (the Study
Instance UID, after a prefix and ``_`` with -su); its name: ``<SOP Instance
UID>.dcm``, or with -uf ``<prefix>.<SOP Instance UID>`` and the -fe extension,
the prefix naming the SOP class as DCMTK's storescp does for the common
classes (``CT``, ``MR``, ``SC``...), else the data set's Modality, else
``UNKNOWN``.  Each file is checked whole and made durable
(:class:`dicomul_common.store_sink.CheckedStore`,
:class:`dicomul_common.storage.DurableFile`) before Success is answered and
before any command runs.

Commands: the text is split into words as a POSIX shell would
(:func:`shlex.split`), the placeholders are replaced inside each word
(``#p`` the file's folder, or the study's for -xcs, ``#f`` the file name,
``#a`` the calling and ``#c`` the called AE title, ``#r`` the peer's IP
address), and the program runs without a shell, so that what a peer sends
(an AE title, a UID) is never read as shell syntax.  A command wanting pipes
or redirections runs a script (or ``sh -c '...'`` with care).  As with
DCMTK, a command runs in the background (the association goes on at once)
unless -xs; a study ends when a file of another study is stored (any
association), or -tos seconds after its last file.
"""

from __future__ import annotations

import logging
import pathlib
import re
import shlex
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dicomul_common.storage import DurableFile
    from dicomul_common.store_sink import CheckedStore

    from dicomul_sync import ServiceRequest, StoreSink

__all__ = ["Commands", "Placement", "receiver"]

LOGGER = logging.getLogger("dicomul.app.storescp")

#: File name prefixes (-uf) of the common storage SOP classes, as DCMTK's
#: storescp names their files.
PREFIXES = {
    "1.2.840.10008.5.1.4.1.1.1": "CR",
    "1.2.840.10008.5.1.4.1.1.1.1": "DX",
    "1.2.840.10008.5.1.4.1.1.1.2": "DXm",
    "1.2.840.10008.5.1.4.1.1.1.2.1": "DPm",
    "1.2.840.10008.5.1.4.1.1.2": "CT",
    "1.2.840.10008.5.1.4.1.1.2.1": "CTe",
    "1.2.840.10008.5.1.4.1.1.3.1": "USm",
    "1.2.840.10008.5.1.4.1.1.4": "MR",
    "1.2.840.10008.5.1.4.1.1.4.1": "MRe",
    "1.2.840.10008.5.1.4.1.1.6.1": "US",
    "1.2.840.10008.5.1.4.1.1.7": "SC",
    "1.2.840.10008.5.1.4.1.1.11.1": "PSg",
    "1.2.840.10008.5.1.4.1.1.12.1": "XA",
    "1.2.840.10008.5.1.4.1.1.12.2": "RF",
    "1.2.840.10008.5.1.4.1.1.13.1.3": "BT",
    "1.2.840.10008.5.1.4.1.1.20": "NM",
    "1.2.840.10008.5.1.4.1.1.66.4": "SG",
    "1.2.840.10008.5.1.4.1.1.77.1.4": "VLp",
    "1.2.840.10008.5.1.4.1.1.88.11": "SRt",
    "1.2.840.10008.5.1.4.1.1.88.22": "SRe",
    "1.2.840.10008.5.1.4.1.1.88.33": "SRc",
    "1.2.840.10008.5.1.4.1.1.88.59": "KO",
    "1.2.840.10008.5.1.4.1.1.104.1": "PDF",
    "1.2.840.10008.5.1.4.1.1.128": "PI",
    "1.2.840.10008.5.1.4.1.1.481.1": "RI",
    "1.2.840.10008.5.1.4.1.1.481.2": "RD",
    "1.2.840.10008.5.1.4.1.1.481.3": "RS",
    "1.2.840.10008.5.1.4.1.1.481.5": "RP",
}

_UID = re.compile(r"[0-9]+(\.[0-9]+)*\Z")
_MODALITY = re.compile(r"[A-Za-z0-9]{1,16}\Z")
_PLACEHOLDER = re.compile(r"#[pfacr]")


@dataclass(frozen=True, slots=True)
class Placement:
    """Where files go: ``directory``; per study (``study_prefix`` None: no
    folder per study; "" the UID alone, as --sort-by-study; else prefix and
    ``_``); DCMTK's names with ``dcmtk_names``, plus ``extension``."""

    directory: pathlib.Path
    study_prefix: str | None = None
    dcmtk_names: bool = False
    extension: str = ""

    def wanted(self, sop_class_uid: str, *, study: bool = False) -> list[str]:
        """The attributes to read back from a received file to place it
        (and its study, with ``study``)."""
        keywords = []
        if study or self.study_prefix is not None:
            keywords.append("StudyInstanceUID")
        if self.dcmtk_names and sop_class_uid not in PREFIXES:
            keywords.append("Modality")
        return keywords

    def folder(self, study: str) -> pathlib.Path:
        if self.study_prefix is None:
            return self.directory
        if not _UID.match(study) or len(study) > 64:
            LOGGER.warning("no usable Study Instance UID (%r): storing at the top", study)
            return self.directory
        prefix = f"{self.study_prefix}_" if self.study_prefix else ""
        return self.directory / f"{prefix}{study}"

    def name(self, sop_class_uid: str, sop_instance_uid: str, modality: str) -> str | None:
        """The file name with -uf (None: the default ``<UID>.dcm``)."""
        if not self.dcmtk_names:
            return None
        prefix = PREFIXES.get(sop_class_uid) or (
            modality if _MODALITY.match(modality) else "UNKNOWN"
        )
        return f"{prefix}.{sop_instance_uid}{self.extension}"


@dataclass(frozen=True, slots=True)
class Received:
    """A file stored, and what the placeholders of a command say of it."""

    path: pathlib.Path
    study: str
    study_folder: pathlib.Path
    calling: str
    called: str
    peer: str


class Commands:
    """-xcr and -xcs: run ``on_reception`` after each file is stored and
    ``on_end_of_study`` once a study is over (see the module docstring)."""

    def __init__(
        self,
        on_reception: str | None,
        on_end_of_study: str | None,
        *,
        wait: bool = False,
        study_timeout: float | None = None,
    ) -> None:
        self.on_reception = on_reception
        self.on_end_of_study = on_end_of_study
        self.wait = wait
        self.study_timeout = study_timeout
        self._lock = threading.Lock()
        self._current: Received | None = None
        self._timer: threading.Timer | None = None

    def stored(self, received: Received) -> None:
        if self.on_reception is not None:
            self._run(self.on_reception, _values(received, received.path.parent))
        if self.on_end_of_study is None:
            return
        with self._lock:
            previous, self._current = self._current, received
            ended = previous if previous and previous.study != received.study else None
            if self._timer is not None:
                self._timer.cancel()
            if self.study_timeout is not None:
                self._timer = threading.Timer(self.study_timeout, self._timed_out, (received,))
                self._timer.daemon = True
                self._timer.start()
        if ended is not None:
            self._end_of_study(ended)

    def close(self) -> None:
        """Stop the end-of-study timer (at shutdown)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()

    def _timed_out(self, received: Received) -> None:
        with self._lock:
            if self._current is not received:
                return  # another file came meanwhile
            self._current = None
        LOGGER.info("End of study %s: %g s without a file", received.study, self.study_timeout)
        self._end_of_study(received)

    def _end_of_study(self, last: Received) -> None:
        assert self.on_end_of_study is not None
        self._run(self.on_end_of_study, _values(last, last.study_folder))

    def _run(self, template: str, values: Mapping[str, str]) -> None:
        argv = [
            _PLACEHOLDER.sub(lambda m: values[m.group()], word) for word in shlex.split(template)
        ]
        LOGGER.info("Executing: %s", shlex.join(argv))
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        except OSError as exc:
            LOGGER.error("cannot execute %s: %s", argv[0] if argv else "''", exc)
            return
        if self.wait:
            proc.wait()
        else:  # reaped in the background: no zombie, no wait here
            threading.Thread(target=proc.wait, daemon=True).start()


def _values(received: Received, folder: pathlib.Path) -> dict[str, str]:
    return {
        "#p": str(folder),
        "#f": received.path.name,
        "#a": received.calling,
        "#c": received.called,
        "#r": received.peer,
    }


def receiver(
    placement: Placement, commands: Commands | None
) -> Callable[[ServiceRequest], StoreSink]:
    """An ``on_c_store_stream`` handler: each data set checked, made
    durable where ``placement`` says, then ``commands`` told."""
    from dicomul_common.storage import DurableFile, read_attributes  # noqa: PLC0415
    from dicomul_common.store_sink import CheckedStore  # noqa: PLC0415

    class Sink:
        def __init__(self, request: ServiceRequest) -> None:
            self.request = request
            self.check: CheckedStore = CheckedStore(request.command, request.transfer_syntax, None)
            self.file: DurableFile = DurableFile(
                placement.directory,
                sop_class_uid=request.sop_class_uid,
                sop_instance_uid=request.sop_instance_uid or "",
                transfer_syntax=request.transfer_syntax,
            )

        def write(self, data: bytes | memoryview) -> None:
            self.check.write(data)
            if self.check.failure is None:
                self.file.write(data)

        def commit(self) -> int | None:
            status = self.check.finish()
            if status:
                self.file.discard()
                return int(status)
            request = self.request
            try:
                wanted = placement.wanted(
                    request.sop_class_uid,
                    study=commands is not None and commands.on_end_of_study is not None,
                )
                values = {}
                if wanted:
                    self.file.flush()
                    ds = read_attributes(self.file.temporary_path, wanted)
                    values = {k: str(ds.get(k, "")).strip("\0 ") for k in wanted}
                folder = placement.folder(values.get("StudyInstanceUID", ""))
                name = placement.name(
                    request.sop_class_uid,
                    request.sop_instance_uid or "",
                    values.get("Modality", ""),
                )
                if name is not None:
                    self.file.final_path = self.file.directory / name
                path = self.file.commit(into=folder)
            except BaseException:
                self.file.discard()
                raise
            LOGGER.info("Stored %s", path)
            if commands is not None:
                negotiated = request.negotiated
                commands.stored(
                    Received(
                        path=path,
                        study=values.get("StudyInstanceUID", ""),
                        study_folder=folder,
                        calling=negotiated.calling_ae_title.strip(),
                        called=negotiated.called_ae_title.strip(),
                        peer=request.peer_address or "",
                    )
                )
            return None

        def discard(self) -> None:
            self.file.discard()

    return Sink
