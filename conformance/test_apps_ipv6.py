"""IPv6 and the bind address in the apps (issue 17): ``-i4/--ipv4``,
``-i6/--ipv6``, ``-i0/--ip-auto`` (DCMTK 3.6.9's spellings) and ``--bind``.

Servers listen on ``::`` with -i6 and on one address with --bind; clients
connect to IPv6 literals.  The peers: our own apps, pynetdicom on ``::1``,
and DCMTK when the installed one speaks IPv6 (3.6.7 does not: its echoscu
takes no ``::1`` and its storescp listens on 0.0.0.0 only; both tests say
so when skipped)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from dcmtk_tools import dcmtk_path
from peers import free_port, pynetdicom_scp, pynetdicom_scu
from test_apps_echo import DICOMUL, ENV, app_server, dcmtk, dicomul

VERIFICATION = "1.2.840.10008.1.1"


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)"
)


def _dcmtk_has_ipv6() -> bool:
    return "--ipv6" in dcmtk("echoscu", "--help").stdout


def _dcmtk_version() -> str:
    first = dcmtk("echoscu", "--version").stdout.split("\n")[0]
    return first.strip("$ ").removeprefix("dcmtk: ")


def _connects(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def bound_server(app: str, address: str, *options: str) -> Iterator[int]:
    """``dicomul <app> --bind address`` on a free port, once it accepts there."""
    port = free_port()
    proc = subprocess.Popen(
        [DICOMUL, app, "--bind", address, *options, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    try:
        deadline = time.monotonic() + 10
        while not _connects(address, port):
            assert proc.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server never listened"
            time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("app", ["echoscp", "storescp"])
def test_server_i6_listens_on_ipv6(app: str, tmp_path: object) -> None:
    """-i6: the server listens on ``::``; an echo to ``::1`` succeeds."""
    options = ("-od", str(tmp_path)) if app == "storescp" else ()
    with app_server(app, "-i6", *options) as server:
        done = dicomul("echoscu", "::1", str(server.port))
        assert done.returncode == 0, done.stderr
        assert _connects("::1", server.port)


def test_pynetdicom_reaches_our_server_on_ipv6(tmp_path: object) -> None:
    """pynetdicom 3 associates with our storescp -i6 at ``::1`` and echoes."""
    with app_server("storescp", "-i6", "-od", str(tmp_path)) as server:
        assoc = pynetdicom_scu("PYNETDICOM", {VERIFICATION: None}).associate("::1", server.port)
        try:
            assert assoc.is_established
            assert assoc.send_c_echo().Status == 0x0000
        finally:
            assoc.release()


def test_server_default_is_ipv4_only() -> None:
    """Without -i6 (DCMTK's -i4 default) nothing listens on ``::1``."""
    with app_server("echoscp") as server:
        assert not _connects("::1", server.port)
        assert dicomul("echoscu", "-i4", "127.0.0.1", str(server.port)).returncode == 0


def test_bind_listens_on_that_address_only() -> None:
    with bound_server("echoscp", "::1") as port:
        assert dicomul("echoscu", "-i6", "::1", str(port)).returncode == 0
        assert not _connects("127.0.0.1", port)
        refused = dicomul("echoscu", "127.0.0.1", str(port))
        assert refused.returncode == 1
        assert "Connection refused" in refused.stderr


def test_bind_and_i6_are_exclusive() -> None:
    done = dicomul("echoscp", "-i6", "--bind", "::1", "104")
    assert done.returncode == 2
    assert "not allowed with argument" in done.stderr


def test_clients_reach_pynetdicom_on_ipv6() -> None:
    """Our SCUs (echoscu here; findscu, getscu, movescu and storescu share
    the connecting code) associate with pynetdicom listening on ``::1``."""
    with pynetdicom_scp("ANY-SCP", [VERIFICATION], [], host="::1") as port:
        for options in ([], ["-i6"], ["-i0"]):
            done = dicomul("echoscu", *options, "::1", str(port))
            assert done.returncode == 0, (options, done.stderr)
        wrong = dicomul("echoscu", "-i4", "::1", str(port))
        assert wrong.returncode == 1
        assert "no IPv4 address for ::1" in wrong.stderr


def test_client_i6_takes_only_ipv6_addresses() -> None:
    """-i6 with a name or literal that has no IPv6 address fails at once, by name."""
    done = dicomul("echoscu", "-i6", "127.0.0.1", str(free_port()))
    assert done.returncode == 1
    assert "no IPv6 address for 127.0.0.1" in done.stderr


def test_scus_take_the_ip_options() -> None:
    for app in ("echoscu", "storescu", "findscu", "getscu", "movescu"):
        text = dicomul(app, "--help").stdout
        for option in ("-i4, --ipv4", "-i6, --ipv6", "-i0, --ip-auto"):
            assert option in text, (app, option)
    for app in ("echoscp", "storescp", "qrscp"):
        text = dicomul(app, "--help").stdout
        for option in ("-i4, --ipv4", "-i6, --ipv6", "--bind [a]ddress"):
            assert option in text, (app, option)


def test_dcmtk_echoscu_to_our_storescp_on_ipv6(tmp_path: object) -> None:
    if not _dcmtk_has_ipv6():
        pytest.skip(f"the installed DCMTK ({_dcmtk_version()}) has no IPv6: no -i6 in echoscu")
    with app_server("storescp", "-i6", "-od", str(tmp_path)) as server:
        done = dcmtk("echoscu", "-i6", "::1", str(server.port))
        assert done.returncode == 0, done.stderr


def test_our_echoscu_to_dcmtk_storescp_on_ipv6() -> None:
    if "--ipv6" not in dcmtk("storescp", "--help").stdout:
        pytest.skip(f"the installed DCMTK ({_dcmtk_version()}) has no IPv6: no -i6 in storescp")
    port = free_port()
    proc = subprocess.Popen(
        [dcmtk_path("storescp"), "-i6", "--ignore", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _connects("::1", port):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        done = dicomul("echoscu", "-i6", "::1", str(port))
        assert done.returncode == 0, done.stderr
    finally:
        proc.terminate()
        proc.wait(10)
