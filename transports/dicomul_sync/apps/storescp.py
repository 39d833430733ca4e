"""storescp: receive DICOM files (C-STORE SCP, PS3.4 Annex B) into a directory.

Each data set is written as it arrives, undecoded, to a temporary file in
the output directory, then flushed, fsynced and renamed to
``<SOP Instance UID>.dcm`` before Success is answered (``AE.store_directory``).
``--sort-by-study`` puts each file in a folder named by its Study Instance
UID (``-su p``: ``p_<UID>``), ``-uf`` names files as DCMTK does, ``-xcr`` and
``-xcs`` run commands (see ``_reception``); ``--ignore`` receives and
discards (for benchmarks).  Serves until interrupted (SIGINT or SIGTERM).
``--fork`` (DCMTK's) serves each association in a child process forked for
it: on SIGINT or SIGTERM the parent stops accepting and waits for the
children to finish their associations (they ignore SIGINT, so a Ctrl-C
reaching the whole process group lets them finish; SIGTERM sent to a child
ends it).
"""

from __future__ import annotations

import argparse
import os
import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import _cli, _dcmtk, _server
from ._server import PREFERENCES, VERIFICATION

if TYPE_CHECKING:
    from dicomul_sync import ServiceRequest, StoreSink

#: Accepted beside the native syntaxes unless -xi (shared with getscu/movescu's +xa).
COMPRESSED = _cli.COMPRESSED


def build_parser() -> argparse.ArgumentParser:
    p = _cli.parser(
        "storescp",
        "DICOM storage (C-STORE) SCP: receive DICOM files into a directory, durably.",
    )
    _server.add_server_options(p, aetitle="STORESCP")
    output = p.add_argument_group("output")
    _cli.add_output_directory(output)
    sorting = output.add_mutually_exclusive_group()
    sorting.add_argument(
        "--sort-by-study",
        dest="study_prefix",
        action="store_const",
        const="",
        help="put each object in a subdirectory named by its Study Instance UID",
    )
    sorting.add_argument(
        "-su",
        "--sort-on-study-uid",
        dest="study_prefix",
        metavar="[p]refix",
        help="put each object in a subdirectory named p_<Study Instance UID> (as DCMTK)",
    )
    output.add_argument(
        "-uf",
        "--default-filenames",
        action="store_true",
        help="name files as DCMTK's storescp does, <prefix>.<SOP Instance UID> (CT.1.2.3...; "
        "the prefix names the SOP class, else the Modality, else UNKNOWN); default: "
        "<SOP Instance UID>.dcm",
    )
    output.add_argument(
        "-fe",
        "--filename-extension",
        default="",
        metavar="[e]xtension",
        help="append e to the file names of -uf (DCMTK's: none)",
    )
    network = p.add_argument_group("network")
    network.add_argument(
        "--refuse",
        action="store_true",
        help="refuse every association (rejected permanent, no reason given: for testing "
        "a requestor)",
    )
    network.add_argument(
        "--reject",
        action="store_true",
        help="reject an association whose request has no implementation class UID "
        "(rejected permanent, service user, no reason given, as DCMTK)",
    )
    network.add_argument(
        "-pm",
        "--promiscuous",
        action="store_true",
        help="accept any SOP class, private and unknown ones too, and store what comes",
    )
    network.add_argument(
        "--fork",
        action="store_true",
        help="fork a child process for each association (POSIX only; not with -xcs); "
        "--max-associations counts the children",
    )
    output.add_argument(
        "--ignore",
        action="store_true",
        help="receive data but discard it, answering Success (for benchmarks)",
    )
    events = p.add_argument_group(
        "event options (placeholders: #p folder, #f file name, #a calling AE title, "
        "#c called AE title, #r peer IP address; run without a shell)"
    )
    events.add_argument(
        "-xcr",
        "--exec-on-reception",
        metavar="[c]ommand",
        help="run c after each object is durably stored",
    )
    events.add_argument(
        "-xcs",
        "--exec-on-eostudy",
        metavar="[c]ommand",
        help="run c once all objects of a study are stored: when one of another study "
        "arrives, or -tos seconds after its last one (#p is the study's folder)",
    )
    events.add_argument(
        "-tos",
        "--eostudy-timeout",
        type=_cli.seconds,
        metavar="[t]imeout",
        help="a study ends t seconds after its last object (with -xcs)",
    )
    events.add_argument(
        "-xs",
        "--exec-sync",
        action="store_true",
        help="wait for each command before answering the C-STORE (default: run it in the "
        "background, as DCMTK does)",
    )
    p.set_defaults(study_prefix=None)
    _cli.refuse_options(p, "storescp", REFUSED)
    _dcmtk.refuse_the_rest(p, "storescp")
    return p


#: DCMTK storescp options this one does not have, and why (refused by name).
REFUSED = {
    "-ss": "sorting by a timestamp is not done: use -su or --sort-by-study",
    "--sort-conc-studies": "sorting by a timestamp is not done: use -su or --sort-by-study",
    "-sp": "sorting by patient name is not done: use -su or --sort-by-study",
    "--sort-on-patientname": "sorting by patient name is not done: use -su or --sort-by-study",
    "+uf": "unique file names are not made: use -uf or the default naming",
    "--unique-filenames": "unique file names are not made: use -uf or the default naming",
    "-tn": "file names from the time are not made: use -uf or the default naming",
    "--timenames": "file names from the time are not made: use -uf or the default naming",
    "-rns": "files are not renamed at the end of a study",
    "--rename-on-eostudy": "files are not renamed at the end of a study",
    "-F": "files are always written in the Part 10 format",
    "--write-dataset": "files are always written in the Part 10 format",
    "-xf": "association profiles from a configuration file are not read",
    "--config-file": "association profiles from a configuration file are not read",
    "-id": "no inetd mode: run it as a service",
    "--inetd": "no inetd mode: run it as a service",
}


class Discard:
    """--ignore: take the bytes, keep nothing, answer Success."""

    def write(self, data: bytes | memoryview) -> None:
        pass

    def commit(self) -> int | None:
        return None

    def discard(self) -> None:
        pass


def _words(command: str) -> list[str]:
    """``command`` split as sh would ([] if it cannot be: an open quote)."""
    import shlex  # noqa: PLC0415

    try:
        return shlex.split(command)
    except ValueError:
        return []


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    for option, command in (("-xcr", args.exec_on_reception), ("-xcs", args.exec_on_eostudy)):
        if command is not None and not _words(command):
            build_parser().error(
                f"{option}: {command!r} is not a command (words as sh splits them)"
            )
    if args.fork and not hasattr(os, "fork"):
        build_parser().error("--fork: this system cannot fork processes (POSIX only)")
    if args.fork and args.exec_on_eostudy:
        # A study ends across associations: each child would see only its own.
        build_parser().error(
            "--fork cannot be combined with -xcs/--exec-on-eostudy: the end of a study "
            "is tracked across associations, in one process"
        )
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
    ae.accept_unknown_sop_classes = args.promiscuous
    ae.refuse_associations = args.refuse
    ae.require_implementation_class_uid = args.reject
    ae.fork_associations = args.fork
    commands = None
    if args.ignore:

        def ignore(request: ServiceRequest) -> StoreSink:
            return Discard()

        ae.on_c_store_stream = ignore
    elif (
        args.study_prefix is not None
        or args.default_filenames
        or args.exec_on_reception
        or args.exec_on_eostudy
    ):
        from ._reception import Commands, Placement, receiver  # noqa: PLC0415

        placement = Placement(
            directory, args.study_prefix, args.default_filenames, args.filename_extension
        )
        if args.exec_on_reception or args.exec_on_eostudy:
            commands = Commands(
                args.exec_on_reception,
                args.exec_on_eostudy,
                wait=args.exec_sync,
                study_timeout=args.eostudy_timeout,
            )
        ae.on_c_store_stream = receiver(placement, commands)
    else:
        ae.store_directory = str(directory)

        def stored(path: pathlib.Path) -> None:
            log.info("Stored %s", path)

        ae.on_c_stored = stored  # type: ignore[method-assign]
    try:
        return _server.serve(ae, args)
    finally:
        if commands is not None:
            commands.close()
