"""storescu: send DICOM files to a storage SCP (C-STORE SCU, PS3.4 Annex B).

Files and directories (searched recursively, or top level only with -r, or
with +sd without +r as DCMTK's storescu does) are read only as far as their
file meta information: the presentation contexts come from their SOP classes
and transfer syntaxes (per SOP class, one context per syntax among its files,
offering that syntax alone, and one offering the fallback syntaxes of -x=,
-xe, -xb, -xi or a compressed switch such as -xd; none with -nf), and each
data set is streamed from disk as it is, never
decoded, when its own syntax is accepted; otherwise it is re-encoded into a
fallback syntax (native ones across byte orders, RLE Lossless decoded
first).  Files needing more than the 128 contexts one association can carry
go over several associations, one after the other (as DCMTK dcmsend does).
As DCMTK's storescu, the run stops at the first file not stored (a failure
status, a file that cannot be sent, a named file that is not DICOM) unless
-nh; warnings do not stop it.
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

from . import _cli, _dcmtk, _tls

if TYPE_CHECKING:
    import logging

    from dicomul_common.outgoing import Outgoing

    from dicomul import ProposedContext, UserIdentity
    from dicomul_sync.ae import AE
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
        help="DICOM file or directory to send (directories are searched recursively "
        "unless -r, or +sd without +r)",
    )
    _cli.add_logging_options(p)
    _cli.add_calling_titles(p, aetitle="STORESCU")
    _cli.add_timeout_options(p, connecting=True)
    _cli.add_ip_options(p, server=False)
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
        *(
            (
                names,
                key,
                f"propose {about} in the fallback context too, beside the uncompressed "
                "syntaxes (a file goes in its own syntax when the peer takes it; this "
                "storescu compresses nothing but deflate)",
            )
            for names, key, about in COMPRESSED_SWITCHES
        ),
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
    scan.add_argument(
        "+sd",
        "--scan-directories",
        action="store_true",
        help="scan directories for input files (always done; given, the directories are "
        "searched as DCMTK's storescu does: top level only unless +r)",
    )
    recursion = scan.add_mutually_exclusive_group()
    recursion.add_argument(
        "-r",
        "--no-recurse",
        dest="recurse",
        action="store_false",
        help="do not recurse within directories (default with +sd)",
    )
    recursion.add_argument(
        "+r",
        "--recurse",
        dest="recurse",
        action="store_true",
        help="recurse within directories (default without +sd)",
    )
    scan.add_argument(
        "-rn",
        "--no-rename",
        action="store_true",
        help="do not rename processed files (always done; DCMTK's switch, kept)",
    )
    p.set_defaults(recurse=None)
    run = p.add_argument_group("run")
    run.add_argument(
        "-nh",
        "--no-halt",
        action="store_true",
        help="go on after a file that is not stored (default: stop at the first, as "
        "DCMTK's storescu does; the exit status is non-zero either way)",
    )
    run.add_argument(
        "--repeat",
        type=_cli.positive_int,
        default=1,
        metavar="[n]umber",
        help="send the files n times, each time on new associations",
    )
    run.add_argument(
        "--abort",
        action="store_true",
        help="abort the association instead of releasing it",
    )
    identity = p.add_argument_group("user identity negotiation (PS3.7 D.3.3.7)")
    identity.add_argument(
        "-usr", "--user", metavar="[u]ser name", help="authenticate using user name u"
    )
    identity.add_argument(
        "-pwd",
        "--password",
        metavar="[p]assword",
        help="authenticate using password p (with -usr)",
    )
    identity.add_argument(
        "-kt", "--kerberos", metavar="[f]ilename", help="read a Kerberos ticket from file f"
    )
    identity.add_argument("--saml", metavar="[f]ilename", help="read a SAML assertion from file f")
    identity.add_argument("--jwt", metavar="[f]ilename", help="read a JSON web token from file f")
    identity.add_argument(
        "-rsp",
        "--pos-response",
        action="store_true",
        help="ask for a positive response; the association is aborted without one",
    )
    _cli.refuse_options(p, "storescu", REFUSED)
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
    _dcmtk.refuse_the_rest(p, "storescu")
    return p


def find_files(
    paths: Sequence[str], log: logging.Logger, *, recurse: bool = True
) -> Iterator[tuple[pathlib.Path, bool]]:
    """Each file named, and every file under each directory named (only
    those directly in it unless ``recurse``), in name order; with each,
    whether it was named."""
    for name in paths:
        path = pathlib.Path(name)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                if not recurse:
                    dirs.clear()
                for file in sorted(files):
                    yield pathlib.Path(root, file), False
        elif path.is_file():
            yield path, True
        else:
            log.warning("cannot access %s: no such file or directory; skipping it", name)


def describe(
    paths: Sequence[str], log: logging.Logger, *, recurse: bool = True, halt: bool = False
) -> list[Outgoing] | None:
    """The DICOM Part 10 files among ``paths``.  Files found in directories
    that are not DICOM are skipped with a warning; so is a named one, or
    with ``halt`` it is an error and None is returned (DCMTK's storescu
    sends nothing then, unless -nh)."""
    from dicomul_common.outgoing import Outgoing  # noqa: PLC0415 - after parsing

    items = []
    for path, named in find_files(paths, log, recurse=recurse):
        try:
            items.append(Outgoing.of(path))
        except Exception as exc:  # not Part 10, unreadable, no meta UIDs
            if named and halt:
                log.error("%s is not a DICOM file (%s): nothing sent (-nh skips it)", path, exc)
                return None
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


DEFLATED = "1.2.840.10008.1.2.1.99"
_UNCOMPRESSED = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2")

#: DCMTK storescu's compressed proposal switches: (names, syntax, what).
#: Deflated, which this storescu can produce, goes first in the fallback
#: context; the others (never produced here: a file already in one is sent
#: in its own context anyway) after the uncompressed syntaxes, so that a
#: peer taking the first it knows still takes one native files can use.
COMPRESSED_SWITCHES = (
    (("-xs", "--propose-lossless"), "1.2.840.10008.1.2.4.70", "JPEG Lossless (SV1)"),
    (("-xy", "--propose-jpeg8"), "1.2.840.10008.1.2.4.50", "JPEG Baseline"),
    (("-xx", "--propose-jpeg12"), "1.2.840.10008.1.2.4.51", "JPEG Extended"),
    (("-xv", "--propose-j2k-lossless"), "1.2.840.10008.1.2.4.90", "JPEG 2000 lossless"),
    (("-xw", "--propose-j2k-lossy"), "1.2.840.10008.1.2.4.91", "JPEG 2000"),
    (("-xt", "--propose-jls-lossless"), "1.2.840.10008.1.2.4.80", "JPEG-LS lossless"),
    (("-xu", "--propose-jls-lossy"), "1.2.840.10008.1.2.4.81", "JPEG-LS near-lossless"),
    (("-xr", "--propose-rle"), "1.2.840.10008.1.2.5", "RLE Lossless"),
    (("-xd", "--propose-deflated"), "1.2.840.10008.1.2.1.99", "deflated explicit VR LE"),
)

#: DCMTK storescu options this one does not have, and why (refused by name).
REFUSED = {
    "+rn": "renaming sent files (.done/.bad) is not done",
    "--rename": "renaming sent files (.done/.bad) is not done",
    "-xf": "association profiles from a configuration file are not read",
    "--config-file": "association profiles from a configuration file are not read",
    "+sp": "no scan pattern: name the files, or a directory",
    "--scan-pattern": "no scan pattern: name the files, or a directory",
    "+II": "UIDs are never invented: files are sent as they are",
    "--invent-instance": "UIDs are never invented: files are sent as they are",
    "-epw": "an empty passcode is not sent (PS3.7 D.3.3.7): use -usr alone",
    "--empty-password": "an empty passcode is not sent (PS3.7 D.3.3.7): use -usr alone",
}

#: The fallback context's syntaxes per proposal switch (native files are
#: re-encoded into one of them if their own syntax is refused).
FALLBACKS = {
    "little": ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2"),
    "big": ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"),
    "implicit": ("1.2.840.10008.1.2",),
    "none": (),
    **{
        key: (key, *_UNCOMPRESSED) if key == DEFLATED else (*_UNCOMPRESSED, key)
        for _, key, _ in COMPRESSED_SWITCHES
    },
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
        #: Files left unsent when the run stopped at a failure (no -nh).
        self.not_sent = 0


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.1f}"


def _size(item: Outgoing) -> int:
    assert item.path is not None
    try:
        return item.path.stat().st_size - item.offset
    except OSError:
        return 0


def user_identity(args: argparse.Namespace) -> UserIdentity | None:
    """The identity the options assert (PS3.7 D.3.3.7), or None; a usage
    error for -pwd without -usr, or a file that cannot be read."""
    from dicomul import UserIdentity, UserIdentityType  # noqa: PLC0415

    if args.password is not None and args.user is None:
        build_parser().error("-pwd needs -usr")
    if args.password == "":
        build_parser().error("-pwd: an empty password cannot be sent (PS3.7 D.3.3.7)")
    kinds = [
        (UserIdentityType.KERBEROS, args.kerberos),
        (UserIdentityType.SAML, args.saml),
        (UserIdentityType.JWT, args.jwt),
    ]
    given = [(kind, name) for kind, name in kinds if name is not None]
    if len(given) + (args.user is not None) > 1:
        build_parser().error("one of -usr, -kt, --saml, --jwt at most")
    rsp = bool(args.pos_response)
    if args.user is not None:
        return UserIdentity.username(args.user, args.password, positive_response_requested=rsp)
    if not given:
        if rsp:
            build_parser().error("-rsp needs one of -usr, -kt, --saml, --jwt")
        return None
    ((kind, name),) = given
    try:
        data = pathlib.Path(name).read_bytes()
    except OSError as exc:
        build_parser().error(f"cannot read {name}: {exc.strerror}")
    return UserIdentity(identity_type=kind, primary_field=data, positive_response_requested=rsp)


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    log = _cli.setup_logging(args, "storescu")
    identity = user_identity(args)
    recurse = args.recurse if args.recurse is not None else not args.scan_directories
    items = describe(args.paths, log, recurse=recurse, halt=not args.no_halt)
    if items is None:
        return 1
    if not items:
        log.error("no DICOM files to send")
        return 1

    from dicomul_sync.ae import AE  # noqa: PLC0415 - after parsing: fast --help

    ae = AE(ae_title=args.calling_aet)
    started = time.monotonic()
    totals = Totals()
    progress = Progress(len(items) * args.repeat, sum(_size(item) for item in items) * args.repeat)
    try:
        batches = plan(items, log, FALLBACKS[args.proposal], args.multiple)
        for repeat in range(args.repeat):
            if not send_batches(
                ae,
                args,
                identity=identity,
                items=items,
                batches=batches,
                totals=totals,
                progress=progress,
                log=log,
            ):
                totals.not_sent += len(items) * (args.repeat - repeat - 1)
                break
    finally:
        progress.close()
    elapsed = time.monotonic() - started
    if not args.quiet:
        not_sent = f", not sent {totals.not_sent}" if totals.not_sent else ""
        print(
            f"sent {totals.sent}, warnings {totals.warnings}, failures {totals.failures}"
            f"{not_sent} ({totals.sent_bytes} bytes in {elapsed:.2f} s)",
            flush=True,
        )
    return 1 if totals.failures or totals.not_sent else 0


def send_batches(
    ae: AE,
    args: argparse.Namespace,
    *,
    identity: UserIdentity | None,
    items: Sequence[Outgoing],
    batches: Sequence[tuple[tuple[ProposedContext, ...], range]],
    totals: Totals,
    progress: Progress,
    log: logging.Logger,
) -> bool:
    """Send ``items`` once, over the associations of ``batches``; False if
    the run is to stop (an association failed, or a file failed without -nh)."""
    halt = not args.no_halt
    for n, (contexts, run) in enumerate(batches):
        assoc = _cli.associate(ae, args, contexts, user_identity=identity)
        if not assoc.is_established:
            # Refused, rejected, aborted or timed out (logged): the next
            # association would fare no better.
            totals.failures += sum(len(later) for _, later in batches[n:])
            return False
        if not identity_confirmed(assoc, identity, log):
            assoc.abort()
            totals.failures += sum(len(later) for _, later in batches[n:])
            return False
        if not _cli.accepted(assoc):  # "No Acceptable Presentation Contexts"
            totals.failures += len(run)
            if halt:
                totals.not_sent += sum(len(later) for _, later in batches[n + 1 :])
                return False
            continue
        outcome = send_files(assoc, [items[i] for i in run], totals, progress, log, halt=halt)
        if assoc.is_established:
            if args.abort:
                assoc.abort()  # logged by the library
            else:
                assoc.release()
        if outcome != "done":
            later = sum(len(later) for _, later in batches[n + 1 :])
            if outcome == "ended":
                totals.failures += later
            else:
                totals.not_sent += later
            return False
    return True


def identity_confirmed(
    assoc: Association, identity: UserIdentity | None, log: logging.Logger
) -> bool:
    """With -rsp, whether the peer's A-ASSOCIATE-AC answered the user
    identity (PS3.7 D.3.3.7.2); an error is logged if not."""
    if identity is None or not identity.positive_response_requested:
        return True
    response = assoc.negotiated.user_identity_response if assoc.negotiated else None
    if response is None:
        log.error("User Identity Negotiation failed: positive response requested, none received")
        return False
    log.info("User Identity Negotiation: positive response received (%d bytes)", len(response))
    return True


def send_files(
    assoc: Association,
    items: Sequence[Outgoing],
    totals: Totals,
    progress: Progress,
    log: logging.Logger,
    *,
    halt: bool = False,
) -> str:
    """C-STORE each of ``items`` on ``assoc``, counting outcomes in
    ``totals``: "done", "ended" if the association ended before all were
    sent, or "halted" after the first file not stored, with ``halt``."""
    from dicomul import Status  # noqa: PLC0415

    for n, item in enumerate(items):
        size = _size(item)
        log.info("Sending file: %s", item.path)
        progress.start(size)
        response = assoc.send_c_store(item.path or item, on_sent=progress.sent)
        progress.advance()
        left = len(items) - n - 1
        if response is None:
            totals.failures += 1  # logged: no accepted context, or the association ended
            if not assoc.is_established:
                totals.failures += left
                log.error("association ended: %d files not sent", left)
                return "ended"
        else:
            status = Status(int(response.Status))
            if status == "Success":
                totals.sent += 1
                totals.sent_bytes += size
                continue
            if status == "Warning":
                totals.sent += 1
                totals.warnings += 1
                totals.sent_bytes += size
                log.warning("Store of %s: warning status 0x%04X", item.path, int(status))
                continue
            totals.failures += 1
            log.error(
                "Store Failed, file: %s: status 0x%04X (%s)",
                item.path,
                int(status),
                status.meaning("store"),
            )
        if halt:
            totals.not_sent += left
            if left:
                log.error("halting: %d files not sent (-nh goes on after a failure)", left)
            return "halted"
    return "done"
