"""movescu: have a peer send the matches to an AE with C-MOVE (PS3.4 C.4.2).

``-aem`` names the move destination (default: our own calling AE title);
with ``+P port`` this app listens there itself as a storage SCP for the
sub-operations, writing what arrives durably under ``-od``.  DCMTK movescu's
query options (``-P -S -O``, ``-k``, a query file);
``+x=`` ... ``+xa`` for the syntaxes its own storage SCP accepts (``+xa``:
JPEG, JPEG-LS, JPEG 2000, RLE and deflated too, stored as they come),
``--ignore``, ``--repeat``, ``--cancel`` and ``--abort``.  Prints the
sub-operation counts at the end; the exit status is non-zero if the
association fails, any sub-operation fails or the retrieve ends other than
in Success or Warning.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import _cli, _dcmtk, _query, _tls

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomul_sync.ae import AE

VERIFICATION = "1.2.840.10008.1.1"


def build_parser() -> argparse.ArgumentParser:
    p = _query.build_parser(
        "movescu",
        "DICOM retrieve (C-MOVE) SCU: have the matches sent to an AE.",
        models="PSO",
        aet="MOVESCU",
    )
    move = p.add_argument_group("move destination")
    move.add_argument(
        "-aem",
        "--move",
        dest="move_aet",
        type=_cli.ae_title,
        metavar="[a]etitle",
        help="set move destination to a (default: my calling AE title)",
    )
    move.add_argument(
        "+P",
        "--port",
        dest="listen_port",
        type=_cli.port_number,
        metavar="[n]umber",
        help="port number for incoming associations: store the sub-operations here",
    )
    move.add_argument(
        "--no-port",
        dest="listen_port",
        action="store_const",
        const=None,
        help="no port for incoming associations (default): the sub-operations go to "
        "the move destination's own SCP",
    )
    output = p.add_argument_group("output")
    _cli.add_output_directory(output)
    _query.add_incoming_options(p)
    p.add_argument_group("network").add_argument(
        "-dhl",
        "--disable-host-lookup",
        action="store_true",
        help="disable hostname lookup (always; DCMTK's switch)",
    )
    _dcmtk.refuse_the_rest(p, "movescu")
    return p


def main(argv: Sequence[str]) -> int:
    args = _query.parse_args(build_parser(), argv)
    log = _cli.setup_logging(args, "movescu")
    if args.listen_port is not None and not os.path.isdir(args.output_directory):
        log.error("no such output directory: %s", args.output_directory)
        return 1

    query = _query.identifier(args, log)
    if query is None:
        return 1
    move_aet = args.move_aet or args.calling_aet
    receiver = None
    if args.listen_port is not None:
        receiver = Receiver(storage_scp(args, move_aet), log)
        if not receiver.start():
            return 1
    try:
        return move(args, query, move_aet, log)
    finally:
        if receiver is not None:
            receiver.stop()


def move(args: argparse.Namespace, query: Dataset, move_aet: str, log: logging.Logger) -> int:
    """The C-MOVE itself; its exit status."""
    from dicomul import MOVE_MODELS  # noqa: PLC0415
    from dicomul_sync.ae import AE  # noqa: PLC0415 - after parsing: --help stays fast

    ae = AE(ae_title=args.calling_aet, scu_sop_class=[MOVE_MODELS[args.model]])
    assoc = _cli.associate(ae, args)
    if not _cli.accepted(assoc):
        return 1  # why is logged
    _query.log_identifiers_when_sent(assoc, log, query, MOVE_MODELS[args.model])
    return _query.retrieve(
        "Move",
        assoc,
        lambda: assoc.send_c_move(query, move_aet, query_model=args.model),
        log,
        args,
    )


def storage_scp(args: argparse.Namespace, ae_title: str) -> AE:
    """Our own storage SCP for the sub-operations (every storage SOP class)."""
    from dicomul_common.sop_classes import storage_classes_to_accept  # noqa: PLC0415

    from dicomul_sync.ae import AE  # noqa: PLC0415

    scp = AE(
        ae_title=ae_title,
        port=args.listen_port,
        scp_sop_class=[*storage_classes_to_accept(), VERIFICATION],
        transfer_syntax=args.incoming,
    )
    if args.ignore:
        scp.on_c_store_stream = lambda request: _query.Discard()
    else:
        scp.store_directory = args.output_directory
    scp.ssl_context = _tls.incoming_tls(args)  # TLS out, TLS in
    # -i6: the peer reaches us over IPv6 too (every interface, as DCMTK's movescu).
    scp.bind_address = "::" if args.ip_version == _cli.IPV6 else ""
    scp.acse_timeout = args.acse_timeout
    scp.dimse_timeout = args.dimse_timeout
    if args.max_pdu:
        scp.maximum_pdu_size = args.max_pdu
    return scp


class Receiver:
    """The storage SCP, serving in a thread while the C-MOVE runs."""

    def __init__(self, ae: AE, log: logging.Logger) -> None:
        self.ae = ae
        self.log = log
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, name="movescu-scp", daemon=True)

    def _serve(self) -> None:
        try:
            self.ae.start()
        except BaseException as exc:  # reported by start()'s caller
            self.error = exc
            self.ae.listening.set()  # wake start(): it failed

    def start(self) -> bool:
        self.thread.start()
        self.ae.listening.wait(10)
        if self.error is not None or not self.thread.is_alive():
            self.log.error(
                "cannot listen on port %s: %s", self.ae.port, self.error or "the server stopped"
            )
            return False
        self.log.info("Listening on port %s for the sub-operations", self.ae.port)
        return True

    def stop(self) -> None:
        self.ae.stop()
        self.thread.join(10)
