"""echoscp: answer C-ECHO requests (Verification SCP, PS3.4 Annex A).

The options and ``-v`` output of the pynetdicom3 documentation's echoscp
(``I: Association Received``, ``I: Received Echo Request (MsgID 1)``, ...);
serves until interrupted (SIGINT or SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import _cli

if TYPE_CHECKING:
    import ssl

    from dicomul_sync.ae import AE

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
EXPLICIT_BIG = "1.2.840.10008.1.2.2"

#: Accepted transfer syntaxes, in order of preference, per -x= / -xe / -xb / -xi.
PREFERENCES = {
    "uncompr": (EXPLICIT_LITTLE, EXPLICIT_BIG, IMPLICIT),  # local byte order: little
    "little": (EXPLICIT_LITTLE, EXPLICIT_BIG, IMPLICIT),
    "big": (EXPLICIT_BIG, EXPLICIT_LITTLE, IMPLICIT),
    "implicit": (IMPLICIT,),
}


def add_preference_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("preferred transfer syntaxes").add_mutually_exclusive_group()
    for short, long, key, about in (
        ("-x=", "--prefer-uncompr", "uncompr", "prefer explicit VR local byte order (default)"),
        ("-xe", "--prefer-little", "little", "prefer explicit VR little endian transfer syntax"),
        ("-xb", "--prefer-big", "big", "prefer explicit VR big endian transfer syntax"),
        ("-xi", "--implicit", "implicit", "accept implicit VR little endian transfer syntax only"),
    ):
        group.add_argument(
            short, long, dest="preference", action="store_const", const=key, help=about
        )
    p.set_defaults(preference="uncompr")


def build_parser() -> argparse.ArgumentParser:
    p = _cli.parser("echoscp", "DICOM verification (C-ECHO) SCP: answer C-ECHO requests.")
    p.add_argument("port", type=int, help="tcp/ip port number to listen on")
    _cli.add_logging_options(p)
    titles = p.add_argument_group("application entity titles")
    titles.add_argument(
        "-aet",
        "--aetitle",
        default="ECHOSCP",
        metavar="[a]etitle",
        help="set my AE title (default: ECHOSCP)",
    )
    _cli.add_timeout_options(p, connecting=False)
    add_preference_options(p)
    server = p.add_argument_group("server")
    server.add_argument(
        "--max-associations",
        type=_cli.positive_int,
        default=10,
        metavar="[n]umber",
        help="serve at most n associations at once (default: 10)",
    )
    _cli.add_tls_options(p, server=True)
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    _cli.setup_logging(args, "echoscp")

    from dicomul_sync.ae import AE  # noqa: PLC0415 - after parsing: fast --help

    ae = AE(
        ae_title=args.aetitle,
        port=args.port,
        scp_sop_class=[VERIFICATION],
        transfer_syntax=PREFERENCES[args.preference],
    )
    ae.network_timeout = args.timeout
    ae.acse_timeout = args.acse_timeout
    ae.dimse_timeout = args.dimse_timeout
    ae.maximum_pdu_size = args.max_pdu or None
    ae.maximum_associations = args.max_associations
    return serve(ae, _cli.server_tls(args))


def serve(ae: AE, ssl_context: ssl.SSLContext | None) -> int:
    """Run ``ae.start()`` until SIGINT or SIGTERM; 0 on a clean stop."""

    def stop(signum: int, frame: object) -> None:
        ae.stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    try:
        ae.start(ssl_context=ssl_context)
    except OSError as exc:
        import logging  # noqa: PLC0415

        logging.getLogger("dicomul.app").error("Cannot listen on port %s: %s", ae.port, exc)
        return 1
    return 0
