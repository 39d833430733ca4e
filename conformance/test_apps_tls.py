"""The apps' TLS defaults, as DCMTK's: a client trusts only the
certificates it is given (``+cf``, ``+cd``; the system's store only with
``--add-system-certs``) and checks the host name or IP address it connected
to; a server requires a client certificate unless told ``-vc`` or ``-ic``.

Every run here sees a "system store" the test controls (OpenSSL's
SSL_CERT_FILE and SSL_CERT_DIR), never the machine's, and no network: the
certificates are made for the test.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest
from peers import HOST, free_port, storescp
from test_apps_echo import DICOMUL, ENV, dcmtk, dicomul, echoscp
from tls_certs import Pki, make_pki

#: Every app, and whether it requests associations (has ``+tla``).
APPS = {
    "echoscu": True,
    "storescu": True,
    "findscu": True,
    "getscu": True,
    "movescu": True,
    "echoscp": False,
    "storescp": False,
    "qrscp": False,
}
OPTIONS = (
    "-tls --disable-tls +tls --enable-tls +ps --std-passwd +pw --use-passwd -pw --null-passwd "
    "+cf --add-cert-file +cd --add-cert-dir --add-system-certs "
    "-rc --require-peer-cert -vc --verify-peer-cert -ic --ignore-peer-cert"
)
PASSWORD = "s3cret"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    pki.new_ca("stranger-ca")
    pki.issue("stranger", ca="stranger-ca")  # right names, a CA nobody trusts
    pki.issue("elsewhere", names="DNS:elsewhere.invalid")  # trusted CA, another host
    pki.issue("named", names="DNS:localhost")  # trusted CA, no IP address
    return pki


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An empty system store."""
    empty = tmp_path_factory.mktemp("no-system-store")
    (empty / "none.pem").write_text("")
    return {**ENV, "SSL_CERT_FILE": str(empty / "none.pem"), "SSL_CERT_DIR": str(empty)}


@pytest.fixture(scope="module")
def system(env: dict[str, str], pki: Pki) -> dict[str, str]:
    """A system store that holds the test CA, as if it were a public one."""
    return {**env, "SSL_CERT_FILE": str(pki.ca)}


def own(pki: Pki, name: str) -> list[str]:
    """``+tls`` with the certificate ``name`` of ``pki``."""
    return ["+tls", str(pki.directory / f"{name}.key"), str(pki.directory / f"{name}.crt")]


def serving_as(pki: Pki, name: str) -> list[str]:
    """A server app's options: ``+tls`` with ``name``, trusting the test CA
    (so that a client presenting ``client`` passes, as it did before)."""
    return [*own(pki, name), "+cf", str(pki.ca)]


def echo(port: int, *options: str, env: dict[str, str], host: str = HOST) -> tuple[int, str]:
    """``dicomul echoscu options host port``: exit status and stderr."""
    done = dicomul("echoscu", *options, host, str(port), env=env)
    return done.returncode, done.stderr


# ------------------------------------------------------------ client apps


def test_a_client_app_trusts_only_the_certificates_it_is_given(
    pki: Pki, env: dict[str, str], system: dict[str, str], tmp_path: pathlib.Path
) -> None:
    """Before, with no +cf the system's store was trusted: any certificate
    a public CA signed passed.  Now nothing is trusted unless +cf, +cd or
    --add-system-certs says so."""
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    shutil.copy(pki.ca, trusted)
    shutil.copy(pki.server_key, trusted)  # not a certificate: passed over
    me = own(pki, "client")
    with echoscp(*serving_as(pki, "server"), env=env) as server:
        status, said = echo(server.port, *me, env=system)
        assert status == 1
        assert "E: -rc (the default) verifies the server's certificate, but no certificate" in said
        for trust in (["--add-system-certs"], ["+cf", str(pki.ca)], ["+cd", str(trusted)]):
            assert echo(server.port, *me, *trust, env=system) == (0, ""), trust
        status, said = echo(server.port, *me, "+cd", str(tmp_path), env=system)
        assert status == 1
        assert f"E: no certificate in trusted certificate directory {tmp_path}" in said
        # --add-system-certs trusts the system's store, not any CA.
        status, said = echo(server.port, *me, "--add-system-certs", env=env)
        assert status == 1
        assert "CERTIFICATE_VERIFY_FAILED" in said


@pytest.mark.parametrize(
    ("certificate", "host", "refusal"),
    [
        ("elsewhere", HOST, "IP address mismatch"),
        ("elsewhere", "localhost", "Hostname mismatch"),
        ("named", HOST, "IP address mismatch"),  # an IP address is checked as one
        ("named", "localhost", None),
        ("server", HOST, None),
    ],
)
def test_a_client_app_checks_the_name_it_connected_to(
    pki: Pki, env: dict[str, str], certificate: str, host: str, refusal: str | None
) -> None:
    """Before, a certificate the trusted CA issued to any host passed."""
    me = own(pki, "client")
    with echoscp(*serving_as(pki, certificate), env=env) as server:
        status, said = echo(server.port, *me, "+cf", str(pki.ca), env=env, host=host)
    if refusal is None:
        assert (status, said) == (0, "")
    else:
        assert status == 1
        assert "CERTIFICATE_VERIFY_FAILED" in said
        assert refusal in said


def test_ignore_peer_cert_on_a_client_accepts_any_server_and_says_so(
    pki: Pki, env: dict[str, str]
) -> None:
    me = own(pki, "client")
    with echoscp(*serving_as(pki, "stranger"), env=env) as server:
        status, said = echo(server.port, *me, "+cf", str(pki.ca), env=env)
        assert status == 1
        assert "CERTIFICATE_VERIFY_FAILED" in said
        status, said = echo(server.port, *me, "-ic", env=env)
        assert status == 0
        assert said.startswith("W: -ic: the certificates of the servers this app connects")


# ------------------------------------------------------------ server apps


@pytest.mark.parametrize(
    ("mode", "anonymous", "stranger"),
    [
        ((), False, False),  # -rc, the default
        (("-rc",), False, False),
        (("--require-peer-cert",), False, False),
        (("-vc",), True, False),
        (("-ic",), True, True),
    ],
)
def test_a_server_app_requires_a_client_certificate_unless_told(
    pki: Pki, env: dict[str, str], mode: tuple[str, ...], anonymous: bool, stranger: bool
) -> None:
    """Before, a server app accepted anonymous clients unless told
    --require-peer-cert; -vc and -rc did not exist."""
    trust = ["+cf", str(pki.ca)]
    with echoscp(*own(pki, "server"), *trust, *mode, env=env) as server:
        assert (echo(server.port, "+tla", *trust, env=env)[0] == 0) is anonymous
        assert (echo(server.port, *own(pki, "stranger"), *trust, env=env)[0] == 0) is stranger
        assert echo(server.port, *own(pki, "client"), *trust, env=env)[0] == 0


def test_a_server_app_trusts_only_the_certificates_it_is_given(
    pki: Pki, system: dict[str, str]
) -> None:
    """Before, a server app verifying clients trusted the system's store."""
    done = dicomul("echoscp", *own(pki, "server"), str(free_port()), env=system, timeout=10)
    assert done.returncode == 1
    assert "E: -rc (the default) verifies the client's certificate, but no" in done.stderr
    with echoscp(*own(pki, "server"), "--add-system-certs", env=system) as server:
        assert echo(server.port, *own(pki, "client"), "-ic", env=system)[0] == 0
        assert echo(server.port, *own(pki, "stranger"), "-ic", env=system)[0] != 0


def test_a_private_key_password(pki: Pki, env: dict[str, str]) -> None:
    """+pw gives the encrypted key's password, +ps (the default) reads it
    from the terminal or, without one, from stdin; -pw is an empty one."""
    key = pki.encrypted_key(pki.client_key, PASSWORD)
    client = ["+tls", str(key), str(pki.client_cert), "+cf", str(pki.ca)]
    with echoscp("-v", *own(pki, "server"), "+cf", str(pki.ca), env=env) as server:
        assert echo(server.port, *client, "+pw", PASSWORD, env=env) == (0, "")
        for wrong in (["+pw", "wrong"], ["-pw"]):
            status, said = echo(server.port, *client, *wrong, env=env)
            assert status == 1
            assert said.startswith(f"E: cannot load TLS private key {key}")
        asked = subprocess.run(
            [DICOMUL, "echoscu", *client, HOST, str(server.port)],
            input=f"{PASSWORD}\n",
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=env,
            start_new_session=True,  # no terminal: the password comes from stdin
        )
        assert asked.returncode == 0, asked.stderr
    assert server.output.count("Received Echo Request") == 2, server.output


@pytest.mark.parametrize(("app", "client"), APPS.items())
def test_every_app_has_the_tls_options(app: str, *, client: bool) -> None:
    done = dicomul(app, "--help")
    assert done.returncode == 0
    shown = set(done.stdout.replace(",", " ").split())
    options = OPTIONS + (" +tla --anonymous-tls" if client else "")
    assert set(options.split()) <= shown
    assert "--add-system-certs" in done.stdout


@pytest.mark.parametrize("mode", [(), ("-ic",)])
def test_qrscp_checks_the_move_destination_it_connects_to(
    pki: Pki, env: dict[str, str], tmp_path: pathlib.Path, mode: tuple[str, ...]
) -> None:
    """qrscp's C-MOVE sub-operations are a client's association: the
    destination's certificate (movescu's +P port, here one for another host)
    is checked against the address connected to, unless -ic.  Before, any
    certificate the trusted CA signed passed."""
    from test_apps_qrscp import make_archive, qrscp, study_uid

    database = tmp_path / "db"
    database.mkdir()
    wanted = {sop for sop in make_archive(database) if sop.startswith(study_uid("C") + ".")}
    moved = tmp_path / "moved"
    moved.mkdir()
    port = free_port()
    known = ["--known-ae", f"MOVESCU={HOST}:{port}"]
    with qrscp(database, *serving_as(pki, "peer"), *mode, *known) as server:
        done = dicomul(
            "movescu", *serving_as(pki, "elsewhere"), "-aem", "MOVESCU", "+P", str(port),
            "-od", str(moved), "-S", "-k", "QueryRetrieveLevel=STUDY",
            "-k", f"StudyInstanceUID={study_uid('C')}", HOST, str(server.port),
            env=env,
        )  # fmt: skip
    if mode:
        assert done.returncode == 0, done.stderr
        assert len(list(moved.iterdir())) == len(wanted) == 2
    else:
        assert done.returncode == 1
        assert not list(moved.iterdir())
        assert "IP address mismatch" in server.output, server.output


# ---------------------------------------------------------------- DCMTK


def test_dcmtk_clients_and_our_server_app(pki: Pki, env: dict[str, str]) -> None:
    """DCMTK's echoscu (+tla, then +tls) against our echoscp: an anonymous
    client is refused by default, as DCMTK's storescp refuses it, and
    accepted with -vc."""
    trust = ["+cf", str(pki.ca)]
    with echoscp(*own(pki, "server"), *trust, env=env) as server:
        assert dcmtk("echoscu", "+tla", *trust, HOST, str(server.port)).returncode != 0
        signed = dcmtk("echoscu", *own(pki, "client"), *trust, HOST, str(server.port))
        assert signed.returncode == 0, signed.stderr
    with echoscp(*own(pki, "server"), *trust, "-vc", env=env) as server:
        anonymous = dcmtk("echoscu", "+tla", *trust, HOST, str(server.port))
        assert anonymous.returncode == 0, anonymous.stderr


def test_our_client_app_and_dcmtk_storescp(
    pki: Pki, env: dict[str, str], system: dict[str, str], tmp_path: pathlib.Path
) -> None:
    """Our echoscu against DCMTK's storescp: DCMTK requires our certificate
    by default; we require a trusted one for the address we connected to."""
    trust = ["+cf", str(pki.ca)]
    with storescp(*own(pki, "server"), *trust, "-od", str(tmp_path)) as port:
        assert echo(port, *own(pki, "client"), *trust, env=env) == (0, "")
        assert echo(port, *own(pki, "client"), env=system)[0] == 1  # not told to trust it
        assert echo(port, "+tla", *trust, env=env)[0] == 1  # DCMTK requires a certificate
    with storescp(*own(pki, "elsewhere"), "-vc", "-od", str(tmp_path)) as port:
        status, said = echo(port, "+tla", *trust, env=env)
        assert status == 1
        assert "IP address mismatch" in said
        assert echo(port, "+tla", "-ic", env=env)[0] == 0
