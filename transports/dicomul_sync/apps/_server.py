"""What the server apps (echoscp, storescp, qrscp) share: their common
options, the AE settings those options make, and serving until a signal."""

from __future__ import annotations

import argparse
import logging
import signal
from typing import TYPE_CHECKING

from dicomul import DEFAULT_DISPLACE_IDLE_AFTER

from . import _cli, _tls

if TYPE_CHECKING:
    from dicomul_sync.ae import AE

__all__ = ["PREFERENCES", "VERIFICATION", "add_server_options", "configure", "serve"]

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


def add_server_options(p: argparse.ArgumentParser, *, aetitle: str) -> None:
    """The port, logging, ``-aet``, timeouts, ``-pdu``, transfer syntax
    preferences, ``--max-associations`` and TLS options of every server app."""
    p.add_argument("port", type=_cli.port_number, help="tcp/ip port number to listen on")
    _cli.add_logging_options(p)
    titles = p.add_argument_group("application entity titles")
    titles.add_argument(
        "-aet",
        "--aetitle",
        type=_cli.ae_title,
        default=aetitle,
        metavar="[a]etitle",
        help=f"set my AE title (default: {aetitle})",
    )
    _cli.add_timeout_options(p, connecting=False)
    group = p.add_argument_group("preferred transfer syntaxes").add_mutually_exclusive_group()
    # The seed's echoscp writes these -x=, -xe...; DCMTK's storescp +x=,
    # +xe...: both spellings are taken.
    for names, key, about in (
        (
            ("-x=", "+x=", "--prefer-uncompr"),
            "uncompr",
            "prefer explicit VR local byte order (default)",
        ),
        (
            ("-xe", "+xe", "--prefer-little"),
            "little",
            "prefer explicit VR little endian transfer syntax",
        ),
        (
            ("-xb", "+xb", "--prefer-big"),
            "big",
            "prefer explicit VR big endian transfer syntax",
        ),
        (
            ("-xi", "+xi", "--implicit"),
            "implicit",
            "accept implicit VR little endian transfer syntax only",
        ),
        (
            ("+xa", "--accept-all"),
            "uncompr",
            "accept all supported transfer syntaxes (as the default does: the storage "
            "apps accept Deflated, RLE, JPEG, JPEG-LS and JPEG 2000 too, stored as they are)",
        ),
    ):
        group.add_argument(*names, dest="preference", action="store_const", const=key, help=about)
    p.set_defaults(preference="uncompr")
    server = p.add_argument_group("server")
    server.add_argument(
        "-dhl",
        "--disable-host-lookup",
        action="store_true",
        help="disable hostname lookup (always: peers are known by IP address; DCMTK's switch)",
    )
    server.add_argument(
        "--max-associations",
        type=_cli.positive_int,
        default=10,
        metavar="[n]umber",
        help="serve at most n associations at once (default: 10); at the limit, a new "
        "peer displaces the association idle longest (no operation in progress, no "
        f"progress from its peer) if idle {DEFAULT_DISPLACE_IDLE_AFTER:g} s or more",
    )
    _cli.add_ip_options(p, server=True)
    _tls.add_tls_options(p, server=True)


def configure(ae: AE, args: argparse.Namespace) -> None:
    """Set the AE's timeouts and limits from the common options."""
    ae.network_timeout = args.timeout
    ae.acse_timeout = args.acse_timeout
    ae.dimse_timeout = args.dimse_timeout
    ae.maximum_pdu_size = args.max_pdu or None
    ae.maximum_associations = args.max_associations
    ae.bind_address = _cli.listen_address(args)


def serve(ae: AE, args: argparse.Namespace) -> int:
    """Run ``ae.start()`` (TLS if the options ask) until SIGINT or SIGTERM;
    0 on a clean stop, 1 if the port cannot be listened on."""

    def stop(signum: int, frame: object) -> None:
        ae.stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    try:
        ae.start(ssl_context=_tls.server_tls(args))
    except OSError as exc:
        logging.getLogger("dicomul.app").error("Cannot listen on port %s: %s", ae.port, exc)
        return 1
    return 0
