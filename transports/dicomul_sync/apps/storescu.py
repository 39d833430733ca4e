"""storescu: send DICOM files to a storage SCP (C-STORE SCU, PS3.4 Annex B).

Files and directories (searched recursively) are read only as far as their
file meta information: the presentation contexts come from their SOP classes
and transfer syntaxes (one context per compressed syntax, one offering the
native ones, at most 128), and each data set is streamed from disk as it is,
never decoded.  A progress bar (files and bytes) goes to stderr when it is a
terminal; a summary line to stdout at the end.  The exit status is non-zero
if the association failed or any file was not stored.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from . import _cli

if TYPE_CHECKING:
    import logging

    from dicomul import ProposedContext
    from dicomul_sync._outgoing import Outgoing


def build_parser() -> argparse.ArgumentParser:
    p = _cli.parser(
        "storescu",
        "DICOM storage (C-STORE) SCU: send DICOM files, and the DICOM files of "
        "directories (recursively), to a storage SCP.",
    )
    p.add_argument("peer", help="hostname of DICOM peer")
    p.add_argument("port", type=int, help="tcp/ip port number of peer")
    p.add_argument(
        "paths",
        nargs="+",
        metavar="file-or-dir",
        help="DICOM file or directory to send (directories are searched recursively)",
    )
    _cli.add_logging_options(p)
    _cli.add_calling_titles(p, aetitle="STORESCU")
    _cli.add_timeout_options(p, connecting=True)
    proposal = p.add_argument_group(
        "proposed transmission transfer syntaxes (each file's own syntax is always proposed)"
    ).add_mutually_exclusive_group()
    for short, long, key, about in (
        (
            "-xe",
            "--propose-little",
            "little",
            "fall back to explicit, then implicit VR LE (default)",
        ),
        ("-xi", "--propose-implicit", "implicit", "fall back to implicit VR little endian only"),
        ("-R", "--required", "required", "propose each file's own syntax only, no fallback"),
    ):
        proposal.add_argument(
            short, long, dest="proposal", action="store_const", const=key, help=about
        )
    p.set_defaults(proposal="little")
    _cli.add_tls_options(p, server=False)
    return p


def find_files(paths: Sequence[str], log: logging.Logger) -> Iterator[pathlib.Path]:
    """Each file named, and every file under each directory named, in name order."""
    for name in paths:
        path = pathlib.Path(name)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for file in sorted(files):
                    yield pathlib.Path(root, file)
        elif path.is_file():
            yield path
        else:
            log.warning("cannot access %s: no such file or directory; skipping it", name)


def describe(paths: Sequence[str], log: logging.Logger) -> list[Outgoing]:
    """The DICOM Part 10 files among ``paths``; the others are skipped with a warning."""
    from dicomul_sync._outgoing import Outgoing  # noqa: PLC0415 - after parsing

    items = []
    for path in find_files(paths, log):
        try:
            items.append(Outgoing.of(path))
        except Exception as exc:  # not Part 10, unreadable, no meta UIDs
            log.warning("%s is not a DICOM file (%s); skipping it", path, exc)
    return items


class Progress:
    """Files and bytes sent, as one line redrawn on stderr (a terminal only)."""

    def __init__(self, total_files: int, total_bytes: int) -> None:
        self.enabled = sys.stderr.isatty()
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.files = 0
        self.bytes = 0

    def advance(self, size: int) -> None:
        self.files += 1
        self.bytes += size
        if not self.enabled:
            return
        fraction = self.bytes / self.total_bytes if self.total_bytes else 1.0
        width = 30
        bar = "#" * int(fraction * width)
        sys.stderr.write(
            f"\r[{bar:<{width}}] {self.files}/{self.total_files} files, "
            f"{_megabytes(self.bytes)}/{_megabytes(self.total_bytes)} MB"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.files:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


#: The fallback context's syntaxes per proposal switch (native little-endian
#: files are re-encoded into one of them if their own syntax is refused).
FALLBACKS = {
    "little": ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2"),
    "implicit": ("1.2.840.10008.1.2",),
    "required": (),
}


def propose(
    items: Sequence[Outgoing], log: logging.Logger, fallback: Sequence[str] = FALLBACKS["little"]
) -> list[ProposedContext]:
    """The presentation contexts for ``items``: the core's
    :func:`dicomul.contexts_to_send` (each file's own syntax, then the
    ``fallback`` syntaxes), at most 128 (PS3.8 9.3.2.2)."""
    from dicomul import contexts_to_send  # noqa: PLC0415

    pairs = ((i.sop_class_uid, i.transfer_syntax) for i in items)
    contexts, left_out = contexts_to_send(pairs, fallback)
    if left_out:
        log.warning(
            "%d presentation contexts needed past the 128 allowed: files needing them may fail",
            left_out,
        )
    return list(contexts)


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.1f}"


def _size(item: Outgoing) -> int:
    assert item.path is not None
    try:
        return item.path.stat().st_size - item.offset
    except OSError:
        return 0


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    log = _cli.setup_logging(args, "storescu")
    items = describe(args.paths, log)
    if not items:
        log.error("no DICOM files to send")
        return 1

    from dicomul import Status  # noqa: PLC0415 - after parsing: fast --help
    from dicomul_sync.ae import AE  # noqa: PLC0415

    contexts = propose(items, log, FALLBACKS[args.proposal])
    ae = AE(ae_title=args.calling_aet)
    ae.connection_timeout = args.timeout
    ae.acse_timeout = args.acse_timeout
    ae.dimse_timeout = args.dimse_timeout
    started = time.monotonic()
    assoc = ae.associate(
        args.peer,
        args.port,
        ae_title=args.called_aet,
        max_pdu=args.max_pdu or None,
        contexts=contexts,
        ssl_context=_cli.client_tls(args),
    )
    sent = warnings = failures = sent_bytes = 0
    if not assoc.is_established:
        failures = len(items)  # the reason is logged (refused, rejected, aborted, timed out)
    elif assoc.negotiated is None or not assoc.negotiated.contexts:
        assoc.abort()  # "No Acceptable Presentation Contexts" is logged
        failures = len(items)
    else:
        progress = Progress(len(items), sum(_size(item) for item in items))
        try:
            for n, item in enumerate(items):
                size = _size(item)
                log.info("Sending file: %s", item.path)
                response = assoc.send_c_store(item.path or item)
                progress.advance(size)
                if response is None:
                    failures += 1  # logged: no accepted context, or the association ended
                    if not assoc.is_established:
                        failures += len(items) - n - 1
                        log.error("association ended: %d files not sent", len(items) - n - 1)
                        break
                    continue
                status = Status(int(response.Status))
                if status == "Success":
                    sent += 1
                    sent_bytes += size
                elif status == "Warning":
                    sent += 1
                    warnings += 1
                    sent_bytes += size
                    log.warning("Store of %s: warning status 0x%04X", item.path, int(status))
                else:
                    failures += 1
                    log.error(
                        "Store Failed, file: %s: status 0x%04X (%s)",
                        item.path,
                        int(status),
                        status.meaning("store"),
                    )
        finally:
            progress.close()
        if assoc.is_established:
            assoc.release()
    elapsed = time.monotonic() - started
    if not args.quiet:
        print(
            f"sent {sent}, warnings {warnings}, failures {failures} "
            f"({sent_bytes} bytes in {elapsed:.2f} s)",
            flush=True,
        )
    return 1 if failures else 0
