"""storescu: send DICOM files to a storage SCP (C-STORE SCU, PS3.4 Annex B).

Files and directories (searched recursively) are read only as far as their
file meta information: the presentation contexts come from their SOP classes
and transfer syntaxes (per SOP class, one context per syntax among its files,
offering that syntax alone, and one offering the fallback syntaxes of -x=,
-xe, -xb or -xi; none with -nf), and each data set is streamed from disk as it is, never
decoded, when its own syntax is accepted; otherwise it is re-encoded into a
fallback syntax (native ones across byte orders, RLE Lossless decoded
first).  Files needing more than the 128 contexts one association can carry
go over several associations, one after the other (as DCMTK dcmsend does).
A progress bar (files and bytes) goes to stderr when it is a terminal; a
summary line to stdout at the end.  The exit status is non-zero if an
association failed or any file was not stored.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from . import _cli, _tls

if TYPE_CHECKING:
    import logging

    from dicomul_common.outgoing import Outgoing

    from dicomul import ProposedContext
    from dicomul_sync.association import Association


def build_parser() -> argparse.ArgumentParser:
    p = _cli.parser(
        "storescu",
        "DICOM storage (C-STORE) SCU: send DICOM files, and the DICOM files of "
        "directories (recursively), to a storage SCP.",
    )
    p.add_argument("peer", help="hostname of DICOM peer")
    p.add_argument("port", type=_cli.port_number, help="tcp/ip port number of peer")
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
    for names, key, about in (
        (
            ("-x=", "--propose-uncompr"),
            "little",
            "fall back to the uncompressed syntaxes, explicit VR local byte order "
            "(little endian) first (default)",
        ),
        (
            ("-xe", "--propose-little"),
            "little",
            "fall back to the uncompressed syntaxes, explicit VR little endian first",
        ),
        (
            ("-xb", "--propose-big"),
            "big",
            "fall back to the uncompressed syntaxes, explicit VR big endian first",
        ),
        (("-xi", "--propose-implicit"), "implicit", "fall back to implicit VR little endian only"),
        (
            ("-nf", "--no-fallback"),
            "none",
            "propose each file's own syntax only: a file is never re-encoded",
        ),
    ):
        proposal.add_argument(*names, dest="proposal", action="store_const", const=key, help=about)
    p.add_argument_group("presentation contexts").add_argument(
        "-R",
        "--required",
        action="store_true",
        help="propose only the contexts the files need (always done; DCMTK's switch, kept)",
    )
    p.set_defaults(proposal="little")
    scan = p.add_argument_group("input files")
    for names, about in (
        (("+sd", "--scan-directories"), "scan directories for input files (always done)"),
        (("+r", "--recurse"), "recurse within specified directories (always done)"),
    ):
        scan.add_argument(*names, action="store_true", help=about)  # DCMTK's spelling, kept
    associations = p.add_argument_group("associations").add_mutually_exclusive_group()
    associations.add_argument(
        "+ma",
        "--multi-associations",
        dest="multiple",
        action="store_true",
        help="use further associations, one after the other, when the files need "
        "more than 128 presentation contexts (default)",
    )
    associations.add_argument(
        "-ma",
        "--single-association",
        dest="multiple",
        action="store_false",
        help="use one association: files needing contexts past the first 128 fail",
    )
    p.set_defaults(multiple=True)
    _tls.add_tls_options(p, server=False)
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
    from dicomul_common.outgoing import Outgoing  # noqa: PLC0415 - after parsing

    items = []
    for path in find_files(paths, log):
        try:
            items.append(Outgoing.of(path))
        except Exception as exc:  # not Part 10, unreadable, no meta UIDs
            log.warning("%s is not a DICOM file (%s); skipping it", path, exc)
    return items


class Progress:
    """Files and bytes sent, as one line redrawn on stderr (a terminal only),
    as each part of a file goes (a large file moves the bar as it is sent)."""

    def __init__(self, total_files: int, total_bytes: int) -> None:
        self.enabled = sys.stderr.isatty()
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.files = 0
        self.bytes = 0  # of the files done
        self.current = 0  # of the file being sent
        self.size = 0  # of the file being sent

    def start(self, size: int) -> None:
        self.current, self.size = 0, size

    def sent(self, count: int) -> None:
        """Part of the current file was sent."""
        self.current = min(self.size, self.current + count)
        self._draw()

    def advance(self) -> None:
        """The current file is done (sent or not)."""
        self.files += 1
        self.bytes += self.size
        self.current = self.size = 0
        self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        done = self.bytes + self.current
        fraction = done / self.total_bytes if self.total_bytes else 1.0
        width = 30
        bar = "#" * int(fraction * width)
        sys.stderr.write(
            f"\r[{bar:<{width}}] {self.files}/{self.total_files} files, "
            f"{_megabytes(done)}/{_megabytes(self.total_bytes)} MB"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.files:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


#: The fallback context's syntaxes per proposal switch (native files are
#: re-encoded into one of them if their own syntax is refused).
FALLBACKS = {
    "little": ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2"),
    "big": ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"),
    "implicit": ("1.2.840.10008.1.2",),
    "none": (),
}


def plan(
    items: Sequence[Outgoing],
    log: logging.Logger,
    fallback: Sequence[str] = FALLBACKS["little"],
    multiple: bool = True,
) -> list[tuple[tuple[ProposedContext, ...], range]]:
    """The associations to send ``items`` on: the presentation contexts each
    proposes and the items it carries, from the core's
    :func:`dicomul.association_batches` (each file's own syntax, then the
    ``fallback`` syntaxes; at most 128 contexts each, PS3.8 9.3.2.2).  With
    ``multiple`` false, one association with the first 128 contexts."""
    from dicomul import association_batches, contexts_to_send  # noqa: PLC0415

    pairs = [(i.sop_class_uid, i.transfer_syntax) for i in items]
    if multiple:
        batches = list(association_batches(pairs, fallback))
        if len(batches) > 1:
            log.info("%d associations needed: over 128 presentation contexts", len(batches))
        return batches
    contexts, left_out = contexts_to_send(pairs, fallback)
    if left_out:
        log.warning(
            "%d presentation contexts needed past the 128 allowed: files needing them may fail",
            left_out,
        )
    return [(contexts, range(len(items)))]


class Totals:
    """What the run sent, for the summary line and the exit status."""

    def __init__(self) -> None:
        self.sent = self.warnings = self.failures = self.sent_bytes = 0


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

    from dicomul_sync.ae import AE  # noqa: PLC0415 - after parsing: fast --help

    ae = AE(ae_title=args.calling_aet)
    started = time.monotonic()
    totals = Totals()
    progress = Progress(len(items), sum(_size(item) for item in items))
    try:
        batches = plan(items, log, FALLBACKS[args.proposal], args.multiple)
        for n, (contexts, run) in enumerate(batches):
            assoc = _cli.associate(ae, args, contexts)
            if not assoc.is_established:
                # Refused, rejected, aborted or timed out (logged): the next
                # association would fare no better.
                left = sum(len(later) for _, later in batches[n:])
                totals.failures += left
                break
            if not _cli.accepted(assoc):  # "No Acceptable Presentation Contexts"
                totals.failures += len(run)
                continue
            sent_all = send_files(assoc, [items[i] for i in run], totals, progress, log)
            if assoc.is_established:
                assoc.release()
            if not sent_all:
                totals.failures += sum(len(later) for _, later in batches[n + 1 :])
                break
    finally:
        progress.close()
    elapsed = time.monotonic() - started
    if not args.quiet:
        print(
            f"sent {totals.sent}, warnings {totals.warnings}, failures {totals.failures} "
            f"({totals.sent_bytes} bytes in {elapsed:.2f} s)",
            flush=True,
        )
    return 1 if totals.failures else 0


def send_files(
    assoc: Association,
    items: Sequence[Outgoing],
    totals: Totals,
    progress: Progress,
    log: logging.Logger,
) -> bool:
    """C-STORE each of ``items`` on ``assoc``, counting outcomes in
    ``totals``; False if the association ended before all were sent."""
    from dicomul import Status  # noqa: PLC0415

    for n, item in enumerate(items):
        size = _size(item)
        log.info("Sending file: %s", item.path)
        progress.start(size)
        response = assoc.send_c_store(item.path or item, on_sent=progress.sent)
        progress.advance()
        if response is None:
            totals.failures += 1  # logged: no accepted context, or the association ended
            if not assoc.is_established:
                totals.failures += len(items) - n - 1
                log.error("association ended: %d files not sent", len(items) - n - 1)
                return False
            continue
        status = Status(int(response.Status))
        if status == "Success":
            totals.sent += 1
            totals.sent_bytes += size
        elif status == "Warning":
            totals.sent += 1
            totals.warnings += 1
            totals.sent_bytes += size
            log.warning("Store of %s: warning status 0x%04X", item.path, int(status))
        else:
            totals.failures += 1
            log.error(
                "Store Failed, file: %s: status 0x%04X (%s)",
                item.path,
                int(status),
                status.meaning("store"),
            )
    return True
