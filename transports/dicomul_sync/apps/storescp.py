"""storescp: receive DICOM files (C-STORE SCP, PS3.4 Annex B) into a directory.

Each data set is written as it arrives, undecoded, to a temporary file in
the output directory, then flushed, fsynced and renamed to
``<SOP Instance UID>.dcm`` before Success is answered (``AE.store_directory``).
``--sort-by-study`` puts each file in a folder named by its Study Instance
UID; ``--ignore`` receives and discards (for benchmarks).  Serves until
interrupted (SIGINT or SIGTERM).
"""

from __future__ import annotations

import argparse
import pathlib
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from . import _cli, _server
from ._server import PREFERENCES, VERIFICATION

if TYPE_CHECKING:
    import logging

    from dicomul_sync import ServiceRequest, StoreSink

#: Accepted beside the native syntaxes unless -xi: Deflated, RLE Lossless and
#: the common JPEG, JPEG-LS and JPEG 2000 syntaxes (PS3.5 A.4-A.6, PS3.6 A).
COMPRESSED = (
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51",  # JPEG Extended (Process 2 & 4)
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless, Non-Hierarchical (Process 14)
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless, first-order prediction (Process 14 SV1)
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Lossy (Near-Lossless)
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 (Lossless Only)
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
)

_UID = re.compile(r"[0-9]+(\.[0-9]+)*\Z")


def build_parser() -> argparse.ArgumentParser:
    p = _cli.parser(
        "storescp",
        "DICOM storage (C-STORE) SCP: receive DICOM files into a directory, durably.",
    )
    _server.add_server_options(p, aetitle="STORESCP")
    output = p.add_argument_group("output")
    _cli.add_output_directory(output)
    output.add_argument(
        "--sort-by-study",
        action="store_true",
        help="put each object in a subdirectory named by its Study Instance UID",
    )
    output.add_argument(
        "--ignore",
        action="store_true",
        help="receive data but discard it, answering Success (for benchmarks)",
    )
    return p


class Discard:
    """--ignore: take the bytes, keep nothing, answer Success."""

    def write(self, data: bytes | memoryview) -> None:
        pass

    def commit(self) -> int | None:
        return None

    def discard(self) -> None:
        pass


def study_sorted_sink(
    directory: pathlib.Path, log: logging.Logger
) -> Callable[[ServiceRequest], StoreSink]:
    """An ``on_c_store_stream`` handler writing ``directory/<Study UID>/<SOP UID>.dcm``."""
    from dicomul_common.storage import DurableFile, read_attributes  # noqa: PLC0415

    def study_folder(file: DurableFile) -> pathlib.Path:
        """The folder of the instance's study, read back from what was written
        (as a stream, up to the Study Instance UID: no large value is read)."""
        file.flush()
        ds = read_attributes(file.temporary_path, ["StudyInstanceUID"])
        study = str(ds.get("StudyInstanceUID", "")).strip("\0 ")
        if not _UID.match(study) or len(study) > 64:
            log.warning("no usable Study Instance UID (%r): storing at the top", study)
            return directory
        return directory / study

    class Sink:
        def __init__(self, request: ServiceRequest) -> None:
            self.file = DurableFile(
                directory,
                sop_class_uid=request.sop_class_uid,
                sop_instance_uid=request.sop_instance_uid or "",
                transfer_syntax=request.transfer_syntax,
            )

        def write(self, data: bytes | memoryview) -> None:
            self.file.write(data)

        def commit(self) -> int | None:
            try:
                folder = study_folder(self.file)
            except BaseException:
                self.file.discard()
                raise
            log.info("Stored %s", self.file.commit(into=folder))
            return None

        def discard(self) -> None:
            self.file.discard()

    return Sink


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    log = _cli.setup_logging(args, "storescp")
    directory = pathlib.Path(args.output_directory)
    if not args.ignore and not directory.is_dir():
        log.error("output directory does not exist: %s", directory)
        return 1

    from dicomul_common.sop_classes import storage_classes_to_accept  # noqa: PLC0415 - fast --help

    from dicomul_sync.ae import AE  # noqa: PLC0415

    syntaxes = PREFERENCES[args.preference]
    if args.preference != "implicit":
        syntaxes += COMPRESSED
    ae = AE(
        ae_title=args.aetitle,
        port=args.port,
        scp_sop_class=[VERIFICATION, *storage_classes_to_accept()],
        transfer_syntax=syntaxes,
    )
    _server.configure(ae, args)
    if args.ignore:

        def ignore(request: ServiceRequest) -> StoreSink:
            return Discard()

        ae.on_c_store_stream = ignore
    elif args.sort_by_study:
        ae.on_c_store_stream = study_sorted_sink(directory, log)
    else:
        ae.store_directory = str(directory)

        def stored(path: pathlib.Path) -> None:
            log.info("Stored %s", path)

        ae.on_c_stored = stored  # type: ignore[method-assign]
    return _server.serve(ae, args)
