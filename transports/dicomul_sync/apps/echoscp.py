"""echoscp: answer C-ECHO requests (Verification SCP, PS3.4 Annex A).

The options and ``-v`` output of the pynetdicom3 documentation's echoscp
(``I: Association Received``, ``I: Received Echo Request (MsgID 1)``, ...);
serves until interrupted (SIGINT or SIGTERM).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import _cli, _server


def build_parser() -> argparse.ArgumentParser:
    p = _cli.parser("echoscp", "DICOM verification (C-ECHO) SCP: answer C-ECHO requests.")
    _server.add_server_options(p, aetitle="ECHOSCP")
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    _cli.setup_logging(args, "echoscp")

    from dicomul_sync.ae import AE  # noqa: PLC0415 - after parsing: fast --help

    ae = AE(
        ae_title=args.aetitle,
        port=args.port,
        scp_sop_class=[_server.VERIFICATION],
        transfer_syntax=_server.PREFERENCES[args.preference],
    )
    _server.configure(ae, args)
    return _server.serve(ae, args)
