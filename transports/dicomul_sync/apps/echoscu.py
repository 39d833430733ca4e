"""echoscu: send C-ECHO requests to a peer (Verification SCU, PS3.4 Annex A).

The options and output of the pynetdicom3 documentation's echoscu, which
follow DCMTK's: silent on success, ``E:`` lines and a non-zero exit status on
any failure.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from dicomul import GeneralStatus

from . import _cli, _dcmtk, _tls

VERIFICATION = "1.2.840.10008.1.1"
#: What --propose-ts n takes the first n of (PS3.5 A.1, A.2, A.3... in this order).
TRANSFER_SYNTAXES = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2")


def build_parser() -> argparse.ArgumentParser:
    p = _cli.parser("echoscu", "DICOM verification (C-ECHO) SCU: check that a peer answers DICOM.")
    p.add_argument("peer", help="hostname of DICOM peer")
    p.add_argument("port", type=_cli.port_number, help="tcp/ip port number of peer")
    _cli.add_logging_options(p)
    _cli.add_calling_titles(p, aetitle="ECHOSCU")
    debugging = p.add_argument_group("association negotiation debugging")
    debugging.add_argument(
        "-ppc",
        "--propose-pc",
        type=_cli.positive_int,
        default=1,
        metavar="[n]umber",
        help="propose n presentation contexts, all for Verification (1-128)",
    )
    debugging.add_argument(
        "-pts",
        "--propose-ts",
        type=int,
        choices=range(1, len(TRANSFER_SYNTAXES) + 1),
        default=1,
        metavar="[n]umber",
        help="propose n transfer syntaxes (1-3)",
    )
    _cli.add_timeout_options(p, connecting=True)
    _cli.add_ip_options(p, server=False)
    misc = p.add_argument_group("echo")
    misc.add_argument(
        "--repeat",
        type=_cli.positive_int,
        default=1,
        metavar="[n]umber",
        help="repeat echo n times",
    )
    misc.add_argument(
        "--abort", action="store_true", help="abort association instead of releasing it"
    )
    _tls.add_tls_options(p, server=False)
    _dcmtk.refuse_the_rest(p, "echoscu")
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.propose_pc > 128:
        build_parser().error("--propose-pc takes 1 to 128 (PS3.8 9.3.2.2)")
    log = _cli.setup_logging(args, "echoscu")

    from dicomul import ProposedContext  # noqa: PLC0415 - after parsing: fast --help
    from dicomul_sync.ae import AE  # noqa: PLC0415

    ae = AE(ae_title=args.calling_aet, scu_sop_class=[VERIFICATION])
    syntaxes = TRANSFER_SYNTAXES[: args.propose_ts]
    contexts = [
        ProposedContext(
            context_id=2 * n + 1, abstract_syntax=VERIFICATION, transfer_syntaxes=syntaxes
        )
        for n in range(args.propose_pc)
    ]
    assoc = _cli.associate(ae, args, contexts)
    if not _cli.accepted(assoc):
        return 1  # why is logged (refused, rejected, aborted, timed out, no context)
    failed = False
    for _ in range(args.repeat):
        response = assoc.echo()  # a Command: no pydicom import, a faster start
        if response is None:
            return 1  # the association ended: logged
        if response.status != GeneralStatus.SUCCESS:
            log.error("Echo Failed: status 0x%04X", response.status or 0)
            failed = True
    if args.abort:
        assoc.abort()
    else:
        assoc.release()
    return 1 if failed else 0
