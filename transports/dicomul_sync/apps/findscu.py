"""findscu: query a peer with C-FIND (PS3.4 C.4.1, and K.4 for worklists).

DCMTK findscu's options: ``-P -S -O -W`` for the information model,
``-k key=value`` query keys (a keyword or ``gggg,eeee``; an empty value asks
for the attribute), an optional query file, ``-X`` to write each response
identifier to ``rsp0001.dcm``, ``rsp0002.dcm``...  Each match is shown as
``I: Find Response: n (Pending)`` and its data set, as DCMTK's findscu shows
them (even without ``-v``; not with ``-X`` unless ``+sr``; never with
``-sr``).  The exit status
is non-zero if the association fails or the query ends other than in
Success or Warning.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import _cli, _dcmtk, _query

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomul import Status
    from dicomul_sync.association import Association


def build_parser() -> argparse.ArgumentParser:
    p = _query.build_parser(
        "findscu",
        "DICOM query (C-FIND) SCU: find what a peer holds.",
        models="WPSO",
        aet="FINDSCU",
        default_model="W",
    )
    output = p.add_argument_group("output")
    shown = output.add_mutually_exclusive_group()
    shown.add_argument(
        "+sr",
        "--show-responses",
        dest="show_responses",
        action="store_true",
        default=None,
        help="always output responses to the logger (default, unless -X)",
    )
    shown.add_argument(
        "-sr",
        "--hide-responses",
        dest="show_responses",
        action="store_false",
        help="do not output responses to the logger",
    )
    output.add_argument(
        "-X",
        "--extract",
        action="store_true",
        help="extract responses to file (rsp0001.dcm, ...)",
    )
    _cli.add_output_directory(output, "the extracted responses")
    _dcmtk.refuse_the_rest(p, "findscu")
    return p


def main(argv: Sequence[str]) -> int:
    args = _query.parse_args(build_parser(), argv)
    log = _cli.setup_logging(args, "findscu")
    if args.extract and not os.path.isdir(args.output_directory):
        log.error("no such output directory: %s", args.output_directory)
        return 1

    # After parsing: --help stays fast.
    from dicomul import FIND_MODELS  # noqa: PLC0415
    from dicomul_sync.ae import AE  # noqa: PLC0415

    query = _query.identifier(args, log)
    if query is None:
        return 1
    sop_class = FIND_MODELS[args.model]
    ae = AE(ae_title=args.calling_aet, scu_sop_class=[sop_class])
    assoc = _cli.associate(ae, args)
    if not _cli.accepted(assoc):
        return 1  # why is logged
    syntax = _query.context_syntax(assoc, sop_class)
    shown = response_logger(args)
    _query.log_identifiers_when_sent(assoc, log, query, sop_class)
    finals = []
    for _ in range(args.repeat):
        final = find(
            assoc, args, query=query, shown=shown, log=log, syntax=syntax, sop_class=sop_class
        )
        if final is None:
            log.error("Find SCU Failed: the association ended before the final response")
            return 1  # why is logged
        finals.append(final)
    last_response = assoc.last_response
    _query.end(assoc, args)
    failed = [final for final in finals if final not in ("Success", "Warning", "Cancel")]
    if not failed:
        return 0
    comment = last_response.get("ErrorComment") if last_response else None
    log.error(
        "Find SCU Failed: %s: %s%s",
        _query.status_text(failed[-1]),
        failed[-1].meaning("find"),
        f" ({comment})" if comment else "",
    )
    return 1


def find(
    assoc: Association,
    args: argparse.Namespace,
    *,
    query: Dataset,
    shown: logging.Logger,
    log: logging.Logger,
    syntax: str | None,
    sop_class: str,
) -> Status | None:
    """One C-FIND: its matches shown (and extracted with -X), a C-CANCEL
    after --cancel of them; its final status (None if the association
    ended first)."""
    responses = assoc.send_c_find(query, query_model=args.model)
    for matches, (status, answer) in enumerate(
        _query.cancel_after(assoc, responses, args.cancel), start=1
    ):
        if status != "Pending":
            return status
        if shown.isEnabledFor(logging.INFO):
            shown.info("---------------------------")
            shown.info("Find Response: %d (%s)", matches, _query.status_text(status))
            if answer is not None:
                _query.log_dataset(shown, answer, syntax, received=True)
        else:
            log.info("Received Find Response %d (%s)", matches, _query.status_text(status))
        if args.extract and answer is not None:
            path = os.path.join(args.output_directory, f"rsp{matches:04d}.dcm")
            write_response(answer, path, sop_class)
            log.info("Writing response dataset to file: %s", path)
    return None


def response_logger(args: argparse.Namespace) -> logging.Logger:
    """Where each match is shown: at INFO even without -v, as DCMTK's
    findscu does, unless -sr, -X (without +sr) or -q."""
    shown = logging.getLogger("dicomul.app.findscu.responses")
    show = args.show_responses if args.show_responses is not None else not args.extract
    # Not inherited from -v: shown at INFO, or not at all.
    shown.setLevel(logging.INFO if show and not args.quiet else logging.WARNING)
    return shown


def write_response(answer: object, path: str, sop_class: str) -> None:
    """A response identifier as a Part 10 file (Explicit VR Little Endian),
    as DCMTK's -X writes it; the temporary name keeps a half-written file
    from ever having the final one."""
    from pydicom.dataset import Dataset, FileMetaDataset  # noqa: PLC0415
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid  # noqa: PLC0415

    from dicomul import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME  # noqa: PLC0415

    assert isinstance(answer, Dataset)
    answer.file_meta = FileMetaDataset()
    answer.file_meta.MediaStorageSOPClassUID = answer.get("SOPClassUID", sop_class)
    answer.file_meta.MediaStorageSOPInstanceUID = answer.get("SOPInstanceUID", generate_uid())
    answer.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    answer.file_meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)  # ours
    answer.file_meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    partial = path + ".part"
    answer.save_as(partial, enforce_file_format=True)
    os.replace(partial, path)
