"""What every app shares: DCMTK-style option parsing and logging.

Options are written as DCMTK writes them (``-aet``, ``--max-pdu``, ``+tls``):
argparse with ``-`` and ``+`` as prefixes and no abbreviations.  Log lines go
to stderr as ``I: message`` (DCMTK's level letter), from the library's
``dicomul`` loggers and the app's own.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from dicomul import PROGRESS_BYTES

from ._exit import fail
from ._tls import client_tls

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dicomul import ProposedContext, UserIdentity
    from dicomul_sync.ae import AE
    from dicomul_sync.association import Association

__all__ = ["add_logging_options", "parser", "setup_logging"]

#: The compressed transfer syntaxes the apps take in C-STOREs beside the
#: native ones (storescp and qrscp unless -xi, getscu/movescu with +xa):
#: Deflated, RLE Lossless and the common JPEG, JPEG-LS and JPEG 2000
#: syntaxes (PS3.5 A.4-A.6, PS3.6 A), stored as they come.
COMPRESSED = (
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51",  # JPEG Extended (Process 2 & 4)
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless, Non-Hierarchical (Process 14)
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless, first-order prediction (Process 14 SV1)
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Lossy (Near-Lossless)
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 (Lossless Only)
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
)

LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}

#: DCMTK's letters for the levels ("W: ...", "E: ...").
_LETTERS = {
    logging.CRITICAL: "F",
    logging.ERROR: "E",
    logging.WARNING: "W",
    logging.INFO: "I",
    logging.DEBUG: "D",
}


class DcmtkFormatter(logging.Formatter):
    """``L: message``, one prefix per line of a multi-line message."""

    def format(self, record: logging.LogRecord) -> str:
        letter = _LETTERS.get(record.levelno, "I")
        text = record.getMessage()
        if record.exc_info and record.levelno >= logging.ERROR:
            text += "\n" + self.formatException(record.exc_info)
        return "\n".join(f"{letter}: {line}" for line in text.split("\n"))


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, told the terminal's width (as ``shutil`` works
    it out) so that it does not import ``shutil``: argparse makes one for
    every option it adds, and that import was 4% of a ``dicomul echoscu``
    process (issue 16)."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        super().__init__(prog, indent_increment, max_help_position, width or _help_width())


def _help_width() -> int:
    """What argparse would use: ``$COLUMNS``, else the terminal's, else 80; less 2."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    from dicomul import __version__  # noqa: PLC0415 - the core is imported by every app anyway

    p = argparse.ArgumentParser(
        prog=f"dicomul {prog}",
        description=description,
        prefix_chars="-+",
        allow_abbrev=False,
        formatter_class=_HelpFormatter,
    )
    p.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print version"
    )
    return p


class _Refused(argparse.Action):
    """A DCMTK option the app does not have: refused by name, with why,
    rather than misread (``-dhl`` as ``-d -h -l``, ``+rn`` as ``+r n``)."""

    def __init__(self, option_strings: list[str], dest: str, *, why: str, app: str) -> None:
        super().__init__(option_strings, dest, nargs=0, help=argparse.SUPPRESS)
        self.why, self.app = why, app

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        parser.error(f"{option_string}: DCMTK {self.app}'s option is not supported: {self.why}")


def refuse_options(p: argparse.ArgumentParser, app: str, refused: dict[str, str]) -> None:
    """Refuse each DCMTK spelling of ``refused`` (option -> why) by name."""
    for name, why in refused.items():
        p.add_argument(name, action=_Refused, why=why, app=app, dest=f"refused{name}")


def add_logging_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("logging")
    verbosity = group.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="quiet mode, prints no warnings or errors"
    )
    verbosity.add_argument(
        "-v", "--verbose", action="store_true", help="verbose mode, prints processing details"
    )
    verbosity.add_argument(
        "-d", "--debug", action="store_true", help="debug mode, prints debugging information"
    )
    verbosity.add_argument(
        "-ll",
        "--log-level",
        metavar="[l]evel",
        choices=list(LEVELS),
        help="one of critical, error, warning, info, debug: prints logging messages "
        "with that level or higher",
    )
    group.add_argument(
        "-lc",
        "--log-config",
        metavar="[f]ilename",
        help="use the Python logging config file f for the logger",
    )


def setup_logging(args: argparse.Namespace, *names: str) -> logging.Logger:
    """Configure the ``dicomul`` loggers (and ``names``) from the options; the app's logger."""
    app = logging.getLogger(f"dicomul.app.{names[0]}" if names else "dicomul.app")
    if args.log_config:
        from logging import config  # noqa: PLC0415 - only for --log-config: slow to import

        try:
            config.fileConfig(args.log_config, disable_existing_loggers=False)
        except Exception as exc:  # missing file, missing sections, bad values
            fail(f"cannot use log config file {args.log_config}: {type(exc).__name__}: {exc}")
        return app
    if args.quiet:
        level = logging.CRITICAL + 1
    elif args.debug:
        level = logging.DEBUG
    elif args.verbose:
        level = logging.INFO
    elif args.log_level:
        level = LEVELS[args.log_level]
    else:
        level = logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(DcmtkFormatter())
    root = logging.getLogger("dicomul")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    return app


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def port_number(text: str) -> int:
    """A TCP port, 1 to 65535."""
    value = _number(text, int)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (1-65535)")
    return value


def seconds(text: str) -> float:
    """A timeout: a positive number of seconds."""
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def pdu_length(text: str) -> int:
    """A maximum PDU length to receive: 0 for no limit (PS3.8 D.1), or 4096
    (DCMTK's least) to 2**32 - 1 bytes."""
    value = _number(text, int)
    if value != 0 and not 4096 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"{value} is not 0 (no limit) or 4096 to 4294967295")
    return value


def ae_title(text: str) -> str:
    """An AE title, by the library's rule (:func:`dicomul.ae_title_problem`:
    1 to 16 characters of the default repertoire, no backslash or control
    character, not only spaces; PS3.5 6.2, VR AE)."""
    from dicomul import AE_TITLE_RULE, ae_title_problem  # noqa: PLC0415 - fast --help

    problem = ae_title_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{text!r} {problem}: {AE_TITLE_RULE}")
    return text


def _number(text: str, kind: Callable[[str], _N]) -> _N:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


_N = TypeVar("_N", int, float)


def add_timeout_options(p: argparse.ArgumentParser, *, connecting: bool) -> None:
    group = p.add_argument_group("miscellaneous DICOM")
    group.add_argument(
        "-to",
        "--timeout",
        type=seconds,
        metavar="[s]econds",
        help="timeout for connection requests (default: unlimited)"
        + (
            ""
            if connecting
            else f"; an association without progress ({PROGRESS_BYTES} bytes or a whole "
            "message) this long is aborted"
        ),
    )
    group.add_argument(
        "-ta",
        "--acse-timeout",
        type=seconds,
        default=30.0,
        metavar="[s]econds",
        help="timeout for ACSE messages (default: 30)",
    )
    if connecting:
        _add_socket_timeout(group)
    group.add_argument(
        "-td",
        "--dimse-timeout",
        type=seconds,
        metavar="[s]econds",
        help="timeout for DIMSE messages (default: unlimited)"
        + (
            ": a response is waited for until -ts, or for ever with -ts 0; "
            "a response to no request of ours aborts at once"
            if connecting
            else ""
        )
        + f"; a minimum rate, not reset by every byte: {PROGRESS_BYTES} bytes or a whole "
        "message must arrive within s seconds",
    )
    group.add_argument(
        "-pdu",
        "--max-pdu",
        type=pdu_length,
        default=16384,
        metavar="[n]umber of bytes",
        help="set maximum receive PDU bytes to n bytes (default: 16384; 0: no limit; "
        "else 4096 or more)",
    )


#: DCMTK's clients give up on a peer silent for this long (their -ts default).
SOCKET_TIMEOUT = 60.0


def _add_socket_timeout(group: argparse._ArgumentGroup) -> None:
    """``-ts/--socket-timeout``: how long a client waits on a silent peer.

    DCMTK's -td is unlimited by default, but its socket timeout (60 s) ends
    the association of echoscu, storescu, findscu and getscu when the peer
    sends nothing (its movescu waits for ever); the library's default
    (dimse_timeout and network_timeout None) would wait for ever.  All five
    apps here give up after 60 s of silence from the peer, so that none
    hangs by default.
    """
    group.add_argument(
        "-ts",
        "--socket-timeout",
        type=_seconds_or_none,
        default=SOCKET_TIMEOUT,
        metavar="[s]econds",
        help=f"give up on a peer that sends nothing for s seconds, the association "
        f"aborted (default: {SOCKET_TIMEOUT:g}, DCMTK's socket timeout; 0 for none: "
        "wait for ever)",
    )


def _seconds_or_none(text: str) -> float | None:
    """A timeout of ``seconds``, or 0 for none (None)."""
    return None if _number(text, float) == 0 else seconds(text)


#: The IP protocol version options (DCMTK 3.6.9's spellings: its echoscu,
#: storescu, findscu, getscu and movescu write -i4/--ipv4, -i6/--ipv6,
#: -i0/--ip-auto; DCMTK 3.6.7, installed here, has none of them).
IPV4, IPV6, IP_AUTO = 4, 6, 0


def add_ip_options(p: argparse.ArgumentParser, *, server: bool) -> None:
    """``-i4/--ipv4``, ``-i6/--ipv6`` (and for a client ``-i0/--ip-auto``;
    for a server ``--bind``): the IP version a client connects with, the
    address a server listens on."""
    group = p.add_argument_group("IP protocol version").add_mutually_exclusive_group()
    if server:
        group.add_argument(
            "-i4",
            "--ipv4",
            dest="ip_version",
            action="store_const",
            const=IPV4,
            help="listen on every IPv4 interface, 0.0.0.0 (default)",
        )
        group.add_argument(
            "-i6",
            "--ipv6",
            dest="ip_version",
            action="store_const",
            const=IPV6,
            help="listen on every IPv6 interface, :: (IPv4 too where the system has "
            "dual-stack sockets)",
        )
        group.add_argument(
            "--bind",
            dest="bind_address",
            metavar="[a]ddress",
            help="listen on address a only, IPv4 or IPv6 (e.g. 127.0.0.1, ::1); "
            "not a DCMTK option",
        )
    else:
        for names, const, about in (
            (("-i4", "--ipv4"), IPV4, "connect over IPv4 only (DCMTK's default)"),
            (("-i6", "--ipv6"), IPV6, "connect over IPv6 only"),
            (("-i0", "--ip-auto"), IP_AUTO, "connect over IPv4 or IPv6, as the name resolves"),
        ):
            group.add_argument(
                *names, dest="ip_version", action="store_const", const=const, help=about
            )
        p.epilog = (p.epilog or "") + (
            "Without -i4, -i6 or -i0 the peer is connected to as -i0 does: an IPv6 "
            "literal (::1) over IPv6, a name by each address it resolves to in turn."
        )
    p.set_defaults(ip_version=None)


def listen_address(args: argparse.Namespace) -> str:
    """The address a server's options name: ``--bind``'s, ``::`` with
    ``-i6``, else every IPv4 interface (the library's ``''``)."""
    if getattr(args, "bind_address", None):
        return str(args.bind_address)
    return "::" if args.ip_version == IPV6 else ""


def peer_address(args: argparse.Namespace) -> str:
    """``args.peer`` as the IP version options want it: unchanged without
    one of them (or with -i0); with -i4 or -i6 its first address of that
    family (a literal of the other family fails: exit status 1)."""
    if args.ip_version in (None, IP_AUTO):
        return str(args.peer)
    import socket  # noqa: PLC0415 - the association imports it anyway

    family = socket.AF_INET if args.ip_version == IPV4 else socket.AF_INET6
    try:
        infos = socket.getaddrinfo(args.peer, args.port, family, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        version = "IPv4" if family == socket.AF_INET else "IPv6"
        fail(f"Association Request Failed: no {version} address for {args.peer}: {exc}")
    return str(infos[0][4][0])


def add_calling_titles(p: argparse.ArgumentParser, *, aetitle: str) -> None:
    """``-aet/--calling-aet`` (default ``aetitle``) and ``-aec/--called-aet``
    (default ANY-SCP), as the seed's echoscu names them."""
    titles = p.add_argument_group("application entity titles")
    titles.add_argument(
        "-aet",
        "--calling-aet",
        "--aetitle",  # DCMTK's long spelling
        type=ae_title,
        default=aetitle,
        metavar="[a]etitle",
        help=f"set the local AE title (default: {aetitle})",
    )
    titles.add_argument(
        "-aec",
        "--called-aet",
        "--call",  # DCMTK's long spelling
        type=ae_title,
        default="ANY-SCP",
        metavar="[a]etitle",
        help="set the called AE title for the peer AE (default: ANY-SCP)",
    )


def add_output_directory(group: argparse._ArgumentGroup, what: str = "received objects") -> None:
    """``-od/--output-directory`` (default ``.``), where ``what`` is written."""
    group.add_argument(
        "-od",
        "--output-directory",
        default=".",
        metavar="[d]irectory",
        help=f"write {what} to existing directory d (default: .)",
    )


def associate(
    ae: AE,
    args: argparse.Namespace,
    contexts: Sequence[ProposedContext] | None = None,
    *,
    user_identity: UserIdentity | None = None,
) -> Association:
    """The association the options ask for (peer, port, called AE title,
    timeouts, maximum PDU, TLS), with ``contexts`` or the AE's own, and
    ``user_identity`` if given; see ``is_established`` (the reason it is
    not is logged)."""
    ae.connection_timeout = args.timeout
    ae.acse_timeout = args.acse_timeout
    ae.dimse_timeout = args.dimse_timeout
    ae.network_timeout = args.socket_timeout

    peer = peer_address(args)
    return ae.associate(
        peer,
        args.port,
        ae_title=args.called_aet,
        max_pdu=args.max_pdu or None,
        contexts=contexts,
        ssl_context=client_tls(args),
        server_hostname=args.peer if peer != args.peer else None,
        user_identity=user_identity,
    )


def accepted(assoc: Association) -> bool:
    """Whether the association is up with a context accepted; if it is up
    without one, it is aborted ("No Acceptable Presentation Contexts" is
    logged)."""
    if not assoc.is_established:
        return False
    if assoc.negotiated is None or not assoc.negotiated.contexts:
        assoc.abort()
        return False
    return True
