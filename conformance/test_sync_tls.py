"""TLS (PS3.15 B.1) on dicomul_sync's SCU and SCP: between themselves, and
against DCMTK's TLS-enabled echoscu and storescp; a peer that cannot complete
the handshake never stops the server."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess

import pytest
from dcmtk_tools import dcmtk_path
from dicomul_sync import AE
from peers import HOST, free_port, wait_listening
from peers import serving as serving_plain
from test_sync_seed_examples import ct_file
from tls_certs import Pki, make_pki

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_scp(pki: Pki, *, require_client: bool = True) -> AE:
    ae = AE(ae_title="TLSSCP", scp_sop_class=[VERIFICATION, CT])
    ae.ssl_context = pki.server_context(require_client=require_client)
    ae.acse_timeout = 5
    return ae


def test_our_scu_and_scp_over_mutual_tls(pki: Pki, tmp_path: pathlib.Path) -> None:
    scp = tls_scp(pki)
    scp.store_directory = str(tmp_path)
    path = ct_file(tmp_path / "ct.src")
    with serving_plain(scp) as port:
        scu = AE(scu_sop_class=[VERIFICATION, CT])
        assoc = scu.associate(HOST, port, "TLSSCP", ssl_context=pki.client_context())
        assert assoc.is_established
        echo = assoc.send_c_echo()
        assert echo is not None
        assert echo.Status == 0
        stored = assoc.send_c_store(path)
        assert stored is not None
        assert stored.Status == 0
        assoc.release()
        assert assoc.is_released
    assert len(list(tmp_path.glob("*.dcm"))) == 1


def test_failed_handshakes_leave_the_server_serving(pki: Pki) -> None:
    scp = tls_scp(pki)
    scu = AE(scu_sop_class=[VERIFICATION])
    with serving_plain(scp) as port:
        # No client certificate, while the server requires one.
        anonymous = scu.associate(
            HOST, port, ssl_context=pki.client_context(with_certificate=False)
        )
        assert not anonymous.is_established
        # A client that does not trust the server's CA.
        import ssl

        untrusting = scu.associate(HOST, port, ssl_context=ssl.create_default_context())
        assert untrusting.is_aborted
        assert not untrusting.is_established
        # Plain DICOM at a TLS port.
        plain = scu.associate(HOST, port)
        assert not plain.is_established
        # A connection that never says anything holds only its own worker.
        with socket.create_connection((HOST, port)):
            good = scu.associate(HOST, port, ssl_context=pki.client_context())
            assert good.is_established
            echo = good.send_c_echo()
            assert echo is not None
            assert echo.Status == 0
            good.release()


def run_dcmtk(*args: str) -> subprocess.CompletedProcess[str]:
    tool, *rest = args
    return subprocess.run(
        [dcmtk_path(tool), *rest],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TCP_NODELAY": "1"},
    )


def test_dcmtk_echoscu_over_tls_to_our_scp(pki: Pki) -> None:
    scp = tls_scp(pki)
    with serving_plain(scp) as port:
        done = run_dcmtk(
            "echoscu", "-aec", "TLSSCP", "+tls", str(pki.client_key), str(pki.client_cert),
            "+cf", str(pki.ca), HOST, str(port),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout
        # Without TLS, DCMTK fails and the server goes on.
        plain = run_dcmtk("echoscu", "-to", "5", "-aec", "TLSSCP", HOST, str(port))
        assert plain.returncode != 0


def test_our_scu_over_tls_to_dcmtk_storescp(pki: Pki, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [
            dcmtk_path("storescp"),
            "+tls",
            str(pki.server_key),
            str(pki.server_cert),
            "+cf",
            str(pki.ca),
            "-od",
            str(out),
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TCP_NODELAY": "1"},
    )
    try:
        wait_listening(port)
        path = ct_file(tmp_path / "ct.dcm")
        scu = AE(scu_sop_class=[VERIFICATION, CT])
        assoc = scu.associate(HOST, port, ssl_context=pki.client_context())
        assert assoc.is_established
        stored = assoc.send_c_store(path)
        assert stored is not None
        assert stored.Status == 0
        assoc.release()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert len([p for p in out.iterdir() if p.is_file()]) == 1
