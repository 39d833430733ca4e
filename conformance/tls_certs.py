"""A throw-away PKI for the TLS tests: a CA, and a server, a client and a
peer (both uses: an AE that connects and is connected to) certificate it
signed (for 127.0.0.1 / localhost), made with the openssl command line so
that DCMTK's TLS tools can read them too.  :meth:`Pki.issue` makes more:
for other names, from another CA, with an encrypted key."""

from __future__ import annotations

import dataclasses
import pathlib
import ssl
import subprocess

__all__ = ["LOCAL_NAMES", "Pki", "make_pki"]

#: The subject alternative names of the standard certificates.
LOCAL_NAMES = "IP:127.0.0.1,DNS:localhost"


@dataclasses.dataclass(frozen=True)
class Pki:
    ca: pathlib.Path
    server_key: pathlib.Path
    server_cert: pathlib.Path
    client_key: pathlib.Path
    client_cert: pathlib.Path
    peer_key: pathlib.Path
    peer_cert: pathlib.Path

    @property
    def directory(self) -> pathlib.Path:
        return self.ca.parent

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

    def issue(
        self,
        name: str,
        *,
        names: str = LOCAL_NAMES,
        usage: str = "serverAuth,clientAuth",
        ca: str = "ca",
    ) -> tuple[pathlib.Path, pathlib.Path]:
        """A key and a certificate ``name`` for the subject alternative
        ``names``, signed by the CA ``ca`` (made by :meth:`new_ca` unless
        it is this PKI's own)."""
        _issue(self.directory, name, usage=usage, names=names, ca=ca)
        return self.directory / f"{name}.key", self.directory / f"{name}.crt"

    def new_ca(self, name: str) -> pathlib.Path:
        """Another CA, which nothing trusts unless told to; its certificate."""
        _make_ca(self.directory, name)
        return self.directory / f"{name}.crt"

    def encrypted_key(self, key: pathlib.Path, password: str) -> pathlib.Path:
        """``key`` encrypted with ``password`` (AES-256), beside it."""
        encrypted = key.with_name(f"{key.stem}-encrypted.key")
        _openssl(
            "pkey", "-in", str(key), "-aes256", "-passout", f"pass:{password}",
            "-out", str(encrypted),
            cwd=self.directory,
        )  # fmt: skip
        return encrypted


def _openssl(*args: str, cwd: pathlib.Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(directory: pathlib.Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", f"/CN=dicomul test {name}", "-keyout", f"{name}.key", "-out", f"{name}.crt",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip


def _issue(directory: pathlib.Path, name: str, *, usage: str, names: str, ca: str) -> None:
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
        "-keyout", f"{name}.key", "-out", f"{name}.csr",
        cwd=directory,
    )  # fmt: skip
    extensions = directory / f"{name}.ext"
    extensions.write_text(
        f"subjectAltName={names}\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n"
    )
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-days", "2", "-extfile", extensions.name,
        "-out", f"{name}.crt",
        cwd=directory,
    )  # fmt: skip


def make_pki(directory: pathlib.Path) -> Pki:
    """Create the CA and the three certificates under ``directory``."""
    _make_ca(directory, "ca")
    for name, usage in (
        ("server", "serverAuth"),
        ("client", "clientAuth"),
        ("peer", "serverAuth,clientAuth"),
    ):
        _issue(directory, name, usage=usage, names=LOCAL_NAMES, ca="ca")
    return Pki(
        ca=directory / "ca.crt",
        server_key=directory / "server.key",
        server_cert=directory / "server.crt",
        client_key=directory / "client.key",
        client_cert=directory / "client.crt",
        peer_key=directory / "peer.key",
        peer_cert=directory / "peer.crt",
    )
