"""A throw-away PKI for the TLS tests: a CA, and a server, a client and a
peer (both uses: an AE that connects and is connected to) certificate it
signed (for 127.0.0.1 / localhost), made with the openssl command line so
that DCMTK's TLS tools can read them too."""

from __future__ import annotations

import dataclasses
import pathlib
import ssl
import subprocess

__all__ = ["Pki", "make_pki"]


@dataclasses.dataclass(frozen=True)
class Pki:
    ca: pathlib.Path
    server_key: pathlib.Path
    server_cert: pathlib.Path
    client_key: pathlib.Path
    client_cert: pathlib.Path
    peer_key: pathlib.Path
    peer_cert: pathlib.Path

    def server_context(self, *, require_client: bool = True) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=self.ca)
        context.load_cert_chain(self.server_cert, self.server_key)
        context.verify_mode = ssl.CERT_REQUIRED if require_client else ssl.CERT_NONE
        return context

    def client_context(self, *, with_certificate: bool = True) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca)
        if with_certificate:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context


def _openssl(*args: str, cwd: pathlib.Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(directory: pathlib.Path) -> Pki:
    """Create the CA and the three certificates under ``directory``."""
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=dicomul test CA", "-keyout", "ca.key", "-out", "ca.crt",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    for name, usage in (
        ("server", "serverAuth"),
        ("client", "clientAuth"),
        ("peer", "serverAuth,clientAuth"),
    ):
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr",
            cwd=directory,
        )  # fmt: skip
        extensions = directory / f"{name}.ext"
        extensions.write_text(
            f"subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n"
            "basicConstraints=CA:FALSE\n"
        )
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", extensions.name,
            "-out", f"{name}.crt",
            cwd=directory,
        )  # fmt: skip
    return Pki(
        ca=directory / "ca.crt",
        server_key=directory / "server.key",
        server_cert=directory / "server.crt",
        client_key=directory / "client.key",
        client_cert=directory / "client.crt",
        peer_key=directory / "peer.key",
        peer_cert=directory / "peer.crt",
    )
