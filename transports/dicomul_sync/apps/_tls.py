"""TLS for the apps (PS3.15 B.1, Basic TLS Secure Transport Connection
Profile), with DCMTK's options, spellings and defaults.

Trust is explicit: only the certificates named by ``+cf`` (files) and
``+cd`` (directories) are trusted; the system's store only when asked for
with ``--add-system-certs``.  What is done with the peer's certificate is
one of DCMTK's three choices, the same on every app:

- ``-rc`` (default): a client verifies the server's certificate, and that it
  is for the host name or IP address connected to; a server requires a
  client certificate and verifies it.
- ``-vc``: a server verifies a client certificate if one is presented; a
  client does as with ``-rc`` (a TLS server always presents one).
- ``-ic``: no verification; a server does not ask for a certificate, a
  client warns that anyone on the way can pose as the server.

These are the apps' defaults only: the library takes whatever
:class:`ssl.SSLContext` it is given.  ``ssl`` itself is imported only when a
context is built, so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
from typing import TYPE_CHECKING

from ._exit import fail

if TYPE_CHECKING:
    import pathlib
    import ssl
    from collections.abc import Callable

__all__ = ["TlsOptions", "add_tls_options", "client_tls", "incoming_tls", "server_tls"]

LOGGER = logging.getLogger("dicomul.app.tls")

REQUIRE, VERIFY, IGNORE = "require", "verify", "ignore"


def add_tls_options(p: argparse.ArgumentParser, *, server: bool) -> None:
    """DCMTK's TLS option groups: the transport (``-tls``, ``+tls``, and for
    clients ``+tla``), the private key password (``+ps``, ``+pw``, ``-pw``),
    the trusted certificates (``+cf``, ``+cd``, and ours,
    ``--add-system-certs``) and peer authentication (``-rc``, ``-vc``,
    ``-ic``)."""
    _add_transport(p, server=server)
    _add_password(p)
    _add_trust(p)
    _add_peer_authentication(p, server=server)


def _add_transport(p: argparse.ArgumentParser, *, server: bool) -> None:
    group = p.add_argument_group("transport layer security (TLS)")
    stack = group.add_mutually_exclusive_group()
    stack.add_argument(
        "-tls",
        "--disable-tls",
        dest="enable_tls",
        action="store_const",
        const=None,
        help="use normal TCP/IP connection (default)",
    )
    stack.add_argument(
        "+tls",
        "--enable-tls",
        nargs=2,
        metavar=("[p]rivate-key", "[c]ertificate"),
        help="use TLS with this PEM private key and certificate",
    )
    if server:
        p.set_defaults(anonymous_tls=False)
    else:
        stack.add_argument(
            "+tla",
            "--anonymous-tls",
            action="store_true",
            help="use TLS without a certificate of our own",
        )


def _add_password(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("TLS private key password (only with +tls)")
    password = group.add_mutually_exclusive_group()
    password.add_argument(
        "+ps",
        "--std-passwd",
        dest="key_password",
        action="store_const",
        const=None,
        help="if the private key is encrypted, ask for its password on the terminal "
        "(or read it from stdin) (default)",
    )
    password.add_argument(
        "+pw", "--use-passwd", dest="key_password", metavar="[p]assword", help="use password p"
    )
    password.add_argument(
        "-pw",
        "--null-passwd",
        dest="key_password",
        action="store_const",
        const="",
        help="use an empty password",
    )


def _add_trust(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group(
        "TLS certification authority",
        "Only the certificates named here are trusted: the system's store\n"
        "too only with --add-system-certs.",
    )
    group.add_argument(
        "+cf",
        "--add-cert-file",
        action="append",
        default=[],
        metavar="[f]ilename",
        help="add the certificates in PEM file f to the trusted ones; may be repeated",
    )
    group.add_argument(
        "+cd",
        "--add-cert-dir",
        action="append",
        default=[],
        metavar="[d]irectory",
        help="add the certificates in the PEM files in directory d to the trusted "
        "ones; may be repeated",
    )
    group.add_argument(
        "--add-system-certs",
        action="store_true",
        help="trust the system's CA certificates too (OpenSSL's default store, which "
        "SSL_CERT_FILE and SSL_CERT_DIR override)",
    )


def _add_peer_authentication(p: argparse.ArgumentParser, *, server: bool) -> None:
    group = p.add_argument_group("TLS peer authentication")
    mode = group.add_mutually_exclusive_group()
    peer = "client" if server else "peer"
    for names, const, about in (
        (
            ("-rc", "--require-peer-cert"),
            REQUIRE,
            f"verify the {peer}'s certificate against the trusted ones, fail if "
            + (
                "absent (default)"
                if server
                else "absent or not for the host name or IP address connected to (default)"
            ),
        ),
        (
            ("-vc", "--verify-peer-cert"),
            VERIFY,
            "verify the client's certificate if present"
            if server
            else "as -rc (a TLS server always presents a certificate)",
        ),
        (
            ("-ic", "--ignore-peer-cert"),
            IGNORE,
            f"don't verify the {peer}'s certificate"
            + ("" if server else " (unsafe: anyone on the way can pose as the server)"),
        ),
    ):
        mode.add_argument(*names, dest="peer_cert", action="store_const", const=const, help=about)
    p.set_defaults(peer_cert=REQUIRE)


@dataclasses.dataclass(frozen=True)
class TlsOptions:
    """The TLS options of a command line, hashable: a context is built
    once per set of options however many associations use it."""

    key_and_certificate: tuple[str, str] | None
    anonymous: bool
    key_password: str | None
    cert_files: tuple[str, ...]
    cert_dirs: tuple[str, ...]
    system_certs: bool
    peer_cert: str

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TlsOptions:
        own = args.enable_tls
        return cls(
            key_and_certificate=(own[0], own[1]) if own else None,
            anonymous=args.anonymous_tls,
            key_password=args.key_password,
            cert_files=tuple(args.add_cert_file),
            cert_dirs=tuple(args.add_cert_dir),
            system_certs=args.add_system_certs,
            peer_cert=args.peer_cert,
        )

    @property
    def trusts_something(self) -> bool:
        return bool(self.cert_files or self.cert_dirs or self.system_certs)


def client_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The context for the associations this app requests (a client app's,
    or qrscp's C-MOVE sub-operations): TLS with ``+tls`` or ``+tla``."""
    options = TlsOptions.from_args(args)
    if not (options.key_and_certificate or options.anonymous):
        return None
    return _context(options, server=False)


def server_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The context for the associations this app accepts: TLS with ``+tls``."""
    options = TlsOptions.from_args(args)
    if not options.key_and_certificate:
        return None
    return _context(options, server=True)


def incoming_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    """For a client app's own listener (movescu ``+P``): TLS if it connects
    with TLS and a certificate of its own (``+tls``), which it then serves
    with, authenticating the peers that connect back as a server app does."""
    if args.anonymous_tls:
        fail("receiving over TLS (+P) needs a certificate of our own: +tls KEY CERT")
    return server_tls(args)


@functools.cache
def _context(options: TlsOptions, *, server: bool) -> ssl.SSLContext:
    """The context ``options`` ask for, the server's or the client's side of
    the handshake; TLS 1.2 at least (the BCP 195 profiles of PS3.15 Annex B)."""
    import ssl  # noqa: PLC0415 - only for TLS

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if options.key_and_certificate:
        _load_own(context, *options.key_and_certificate, password=options.key_password)
    _load_trusted(context, options, server=server)
    mode = options.peer_cert
    # A client checks the name it connected to (a host name, or an IP
    # address against the certificate's IP addresses) with the chain.
    context.check_hostname = not server and mode != IGNORE
    context.verify_mode = _verify_mode(mode, server=server)
    if context.verify_mode == ssl.CERT_REQUIRED and not options.trusts_something:
        fail(
            f"{'-vc' if mode == VERIFY else '-rc (the default)'} verifies the "
            f"{'client' if server else 'server'}'s certificate, but no certificate is "
            "trusted: add +cf FILE, +cd DIRECTORY or --add-system-certs, or -ic to not "
            "verify it"
        )
    if not server and mode == IGNORE:
        LOGGER.warning(
            "-ic: the certificates of the servers this app connects to are not verified; "
            "anyone on the way can pose as them and read and change what is sent"
        )
    return context


def _verify_mode(mode: str, *, server: bool) -> ssl.VerifyMode:
    """The peer authentication ``mode`` as OpenSSL's verify mode.  On a
    client CERT_OPTIONAL would be CERT_REQUIRED anyway."""
    import ssl  # noqa: PLC0415 - only for TLS

    if mode == IGNORE:
        return ssl.CERT_NONE
    if mode == VERIFY and server:
        return ssl.CERT_OPTIONAL
    return ssl.CERT_REQUIRED


def _load_own(context: ssl.SSLContext, key: str, cert: str, *, password: str | None) -> None:
    try:
        context.load_cert_chain(cert, key, password=_password(key, password))
    except OSError as exc:  # ssl.SSLError is one
        fail(f"cannot load TLS private key {key} and certificate {cert}: {exc}")


def _password(key: str, password: str | None) -> str | Callable[[], str]:
    """``+pw``'s password, ``-pw``'s empty one, or (``+ps``) a prompt for
    it, which OpenSSL calls only if the key is encrypted."""
    if password is not None:
        return password
    return functools.partial(_ask_password, key)


def _ask_password(key: str) -> str:
    """The password typed on the terminal, or the first line of stdin
    without one (DCMTK reads it from stdin)."""
    import getpass  # noqa: PLC0415
    import warnings  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", getpass.GetPassWarning)  # no terminal: stdin
        try:
            return getpass.getpass(f"Enter the password of the private key {key}: ")
        except EOFError:
            return ""  # nothing to read: the key fails to load, which is reported


def _load_trusted(context: ssl.SSLContext, options: TlsOptions, *, server: bool) -> None:
    """Trust ``+cf``'s files, ``+cd``'s directories and, if asked, the
    system's store: nothing else."""
    import ssl  # noqa: PLC0415 - only for TLS

    for cafile in options.cert_files:
        try:
            context.load_verify_locations(cafile)
        except OSError as exc:
            fail(f"cannot load trusted certificate file {cafile}: {exc}")
    for directory in options.cert_dirs:
        import pathlib  # noqa: PLC0415 - only for a directory of certificates

        _load_directory(context, pathlib.Path(directory))
    if options.system_certs:
        context.load_default_certs(ssl.Purpose.CLIENT_AUTH if server else ssl.Purpose.SERVER_AUTH)


def _load_directory(context: ssl.SSLContext, directory: pathlib.Path) -> None:
    """Trust the certificates of every PEM file in ``directory`` (hashed
    names, as ``openssl rehash`` makes, or not); files without one (keys,
    requests) are passed over.  A directory with none is an error."""
    import ssl  # noqa: PLC0415 - only for TLS

    try:
        paths = sorted(path for path in directory.iterdir() if path.is_file())
    except OSError as exc:
        fail(f"cannot read trusted certificate directory {directory}: {exc}")
    loaded = 0
    for path in paths:
        try:
            context.load_verify_locations(path)
        except ssl.SSLError:
            LOGGER.debug("%s holds no certificate: not trusted", path)
        except OSError as exc:
            fail(f"cannot load trusted certificate file {path}: {exc}")
        else:
            loaded += 1
    if not loaded:
        fail(f"no certificate in trusted certificate directory {directory}")
