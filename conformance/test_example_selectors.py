"""examples/selectors_scp.py, the core driven from the ``selectors`` module,
against DCMTK's echoscu and storescu (issue 15, section 4): each stored file
holds the data set sent, byte for byte; association after association is
served and released; peers that send garbage, or nothing, are aborted or
timed out while the others are served."""

from __future__ import annotations

import contextlib
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from corpus import SYNTAXES, assert_same_data_set, image, write
from dcmtk_tools import dcmtk_path
from peers import HOST, free_port, wait_listening

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "selectors_scp.py"
#: ARTIM (and ACSE) timeout given to the example: how long a silent peer is kept.
ARTIM = 2.0
#: A-ABORT PDU type (PS3.8 9.3.8).
A_ABORT = 0x07


@contextlib.contextmanager
def example(*target: str) -> Iterator[int]:
    """The example serving on a free port with ``target`` (DIR or --discard)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), str(port), *target, "--acse-timeout", str(ARTIM)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_listening(port)
        yield port
        assert proc.poll() is None, "the server died"
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert "Traceback" not in output, output


def dcmtk(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [dcmtk_path(tool), "-v", *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    """An image in each syntax the example accepts, and a 2 MB one (many PDUs)."""
    root = tmp_path_factory.mktemp("selectors-corpus")
    files = {
        name: write(image(seed=n), root / f"{name}.dcm", SYNTAXES[name])
        for n, name in enumerate(("explicit", "implicit"))
    }
    files["large"] = write(
        image(seed=9, rows=1024, columns=1024), root / "large.dcm", SYNTAXES["explicit"]
    )
    return files


def stored_file(directory: pathlib.Path, source: pathlib.Path) -> pathlib.Path:
    from pydicom import dcmread

    return directory / f"{dcmread(source, stop_before_pixels=True).SOPInstanceUID}.dcm"


def test_echo_twice(tmp_path: pathlib.Path) -> None:
    with example(str(tmp_path)) as port:
        for _ in range(2):
            done = dcmtk("echoscu", HOST, str(port))
            assert done.returncode == 0, done.stderr
            assert "Received Echo Response (Success)" in done.stderr
            assert "Releasing Association" in done.stderr
            assert "Abort" not in done.stderr


def test_stored_files_hold_the_data_sets_sent(
    tmp_path: pathlib.Path, corpus: dict[str, pathlib.Path]
) -> None:
    """One association per file (each its own, each released), every file
    stored durably with its data set as sent; no temporary file is left."""
    with example(str(tmp_path)) as port:
        for name, path in corpus.items():
            propose = "-xi" if name == "implicit" else "-xe"
            done = dcmtk("storescu", propose, HOST, str(port), str(path))
            assert done.returncode == 0, (name, done.stderr)
            assert "Received Store Response (Success)" in done.stderr
            assert "Releasing Association" in done.stderr
    for path in corpus.values():
        assert_same_data_set(stored_file(tmp_path, path), path)
    assert len(list(tmp_path.iterdir())) == len(corpus)


def test_several_files_on_one_association(
    tmp_path: pathlib.Path, corpus: dict[str, pathlib.Path]
) -> None:
    with example(str(tmp_path)) as port:
        done = dcmtk("storescu", HOST, str(port), *map(str, corpus.values()))
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("Received Store Response (Success)") == len(corpus)
    assert {p.name for p in tmp_path.iterdir()} == {
        stored_file(tmp_path, p).name for p in corpus.values()
    }


def test_discard_answers_success_and_keeps_nothing(
    tmp_path: pathlib.Path, corpus: dict[str, pathlib.Path]
) -> None:
    with example("--discard") as port:
        done = dcmtk("storescu", HOST, str(port), str(corpus["explicit"]))
    assert done.returncode == 0, done.stderr
    assert "Received Store Response (Success)" in done.stderr


def read_until_closed(sock: socket.socket, limit: float) -> bytes:
    """Everything ``sock`` receives until the server closes it (within ``limit`` s)."""
    sock.settimeout(limit)
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


def test_garbage_is_aborted_and_the_next_client_is_served(tmp_path: pathlib.Path) -> None:
    with example(str(tmp_path)) as port:
        with socket.create_connection((HOST, port)) as hostile:
            hostile.sendall(b"\xff" * 64)  # no PDU type this is (PS3.8 9.3.1)
            answer = read_until_closed(hostile, ARTIM + 5)
        assert answer[:1] == bytes([A_ABORT])
        done = dcmtk("echoscu", HOST, str(port))
        assert done.returncode == 0, done.stderr


def test_a_silent_peer_blocks_no_one_and_is_dropped_after_artim(tmp_path: pathlib.Path) -> None:
    """A peer that connects and sends nothing (and one that stops half-way
    through a PDU) is closed once ARTIM expires; meanwhile others are served."""
    with example(str(tmp_path)) as port:
        silent = socket.create_connection((HOST, port))
        halfway = socket.create_connection((HOST, port))
        halfway.sendall(b"\x01\x00\x00\x00\x00\xcd\x00\x01")  # an A-ASSOCIATE-RQ header only
        started = time.monotonic()
        done = dcmtk("echoscu", HOST, str(port))
        assert done.returncode == 0, done.stderr
        assert time.monotonic() - started < ARTIM  # not held up by the silent ones
        for sock in (silent, halfway):
            with sock:
                read_until_closed(sock, ARTIM + 5)  # closed by the server, not timed out here
        assert time.monotonic() - started >= ARTIM - 0.5
