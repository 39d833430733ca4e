"""``dicomul storescu`` and ``dicomul storescp``: against DCMTK, pynetdicom's
apps and each other, the data sets compared byte for byte after transfer."""

from __future__ import annotations

import contextlib
import pathlib
import subprocess
import sys

import pydicom
import pytest
from corpus import (
    CT,
    MULTIFRAME_SC,
    SYNTAXES,
    assert_same_data_set,
    data_set_bytes,
    image,
    write,
)
from dcmtk_tools import dcmtk_path
from peers import HOST, free_port, storescp, wait_listening
from test_apps_echo import DICOMUL, ENV, Server, app_server, dicomul

#: Which DCMTK storescu switch proposes each corpus syntax first.
DCMTK_PROPOSE = {
    "implicit": "-xi",
    "explicit": "-xe",
    "big": "-xb",
    "deflated": "-xd",
    "rle": "-xr",
}


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A CT image per corpus syntax (half of them in a subdirectory), and a
    file that is not DICOM."""
    root = tmp_path_factory.mktemp("store-corpus")
    (root / "sub").mkdir()
    for n, (name, syntax) in enumerate(SYNTAXES.items()):
        folder = root / "sub" if n % 2 else root
        write(image(seed=n), folder / f"{name}.dcm", syntax)
    (root / "sub" / "notes.txt").write_text("not DICOM\n")
    return root


def sources(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """The corpus files by SOP Instance UID."""
    from pydicom import dcmread

    return {str(dcmread(p).SOPInstanceUID): p for p in sorted(root.rglob("*.dcm"))}


def assert_received(out: pathlib.Path, root: pathlib.Path, *, suffix: str = ".dcm") -> None:
    """Every corpus file is in ``out`` (named by SOP Instance UID, as DCMTK
    or we name them), its data set byte-identical; nothing else is."""
    expected = sources(root)
    stored = {p.name.removesuffix(suffix).removeprefix("CT."): p for p in out.rglob("*")}
    stored = {uid: p for uid, p in stored.items() if p.is_file()}
    assert set(stored) == set(expected)
    for uid, source in expected.items():
        assert_same_data_set(stored[uid], source)


def our_storescp(*options: str) -> contextlib.AbstractContextManager[Server]:
    return app_server("storescp", *options)


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), capture_output=True, text=True, timeout=30, check=False, env=ENV
    )


# ----------------------------------------------------------------- storescp


def test_dcmtk_storescu_to_our_storescp(corpus_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    with our_storescp("-v", "-od", str(tmp_path)) as server:
        for name in SYNTAXES:
            (path,) = corpus_dir.rglob(f"{name}.dcm")
            done = run(
                dcmtk_path("storescu"), DCMTK_PROPOSE[name], HOST, str(server.port), str(path)
            )
            assert done.returncode == 0, (name, done.stderr)
    assert_received(tmp_path, corpus_dir)
    assert not list(tmp_path.glob(".incoming-*"))  # no temporary file left behind
    assert server.output.count("I: Received Store Request (MsgID 1)") == len(SYNTAXES)


def test_sort_by_study(corpus_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    from pydicom import dcmread

    with our_storescp("--sort-by-study", "-od", str(tmp_path)) as server:
        done = dicomul("storescu", HOST, str(server.port), str(corpus_dir))
        assert done.returncode == 0, done.stderr
    assert_received(tmp_path, corpus_dir)
    for path in tmp_path.rglob("*.dcm"):
        assert path.parent.name == str(dcmread(path).StudyInstanceUID)


def test_ignore_stores_nothing_and_answers_success(
    corpus_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with our_storescp("--ignore", "-od", str(tmp_path)) as server:
        done = dicomul("storescu", HOST, str(server.port), str(corpus_dir))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"sent {len(SYNTAXES)}, warnings 0, failures 0 ")
    assert list(tmp_path.iterdir()) == []


def test_pynetdicom_storescu_to_our_storescp(
    corpus_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with our_storescp("-od", str(tmp_path)) as server:
        for name in ("explicit", "implicit"):
            (path,) = corpus_dir.rglob(f"{name}.dcm")
            option = "-xe" if name == "explicit" else "-xi"
            theirs = run(
                sys.executable,
                "-m",
                "pynetdicom",
                "storescu",
                option,
                HOST,
                str(server.port),
                str(path),
            )
            assert theirs.returncode == 0, theirs.stderr
            assert "Failed" not in theirs.stderr + theirs.stdout
    for path in tmp_path.glob("*.dcm"):
        uid = path.name.removesuffix(".dcm")
        assert_same_data_set(path, sources(corpus_dir)[uid])
    assert len(list(tmp_path.glob("*.dcm"))) == 2


def test_a_peer_taking_implicit_vr_only_gets_every_file_re_encoded(
    corpus_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """-xi: implicit VR only.  The native files (deflated and big endian
    too) go re-encoded on the fallback context, and the RLE one decoded
    first (PS3.5 Annex G), as DCMTK's storescu does: its pixels arrive as
    they were before compression."""
    with our_storescp("-xi", "-od", str(tmp_path)) as server:
        done = dicomul("storescu", HOST, str(server.port), str(corpus_dir))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"sent {len(SYNTAXES)}, warnings 0, failures 0 ")
    for uid, source in sources(corpus_dir).items():
        received = pydicom.dcmread(tmp_path / f"{uid}.dcm")
        assert received.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
        assert received.PixelData == native_pixels(source), source.name


def native_pixels(source: pathlib.Path) -> bytes:
    """The little-endian native pixel data a corpus file was made from."""
    return image(seed=list(SYNTAXES).index(source.stem)).PixelData


def test_storescu_proposal_switches(corpus_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """-nf proposes each file's own syntax only: an explicit VR file alone
    cannot reach an implicit-only storescp; -xi adds an implicit fallback
    context it is re-encoded into, and so does DCMTK's -R (only the contexts
    the files need, which is always done) with the default fallback."""
    (explicit,) = corpus_dir.rglob("explicit.dcm")
    with our_storescp("-xi", "-od", str(tmp_path)) as server:
        own_only = dicomul("storescu", "-nf", HOST, str(server.port), str(explicit))
        fallback = dicomul("storescu", "-xi", HOST, str(server.port), str(explicit))
        required = dicomul("storescu", "-R", HOST, str(server.port), str(explicit))
    assert own_only.returncode != 0
    assert "E: No Acceptable Presentation Contexts" in own_only.stderr
    for done in (fallback, required):
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("sent 1, warnings 0, failures 0 ")


# ----------------------------------------------------------------- storescu


def test_our_storescu_to_dcmtk_storescp(corpus_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    with storescp("+B", "+xa", "-od", str(tmp_path)) as port:
        done = dicomul("storescu", "-v", HOST, str(port), str(corpus_dir))
    assert done.returncode == 0, done.stderr
    assert_received(tmp_path, corpus_dir, suffix="")
    assert f"W: {corpus_dir / 'sub' / 'notes.txt'} is not a DICOM file" in done.stderr
    assert done.stdout.startswith(f"sent {len(SYNTAXES)}, warnings 0, failures 0 (")


def test_our_storescu_to_our_storescp(corpus_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    with our_storescp("-v", "-od", str(tmp_path), "-aet", "STORE-HERE") as server:
        done = dicomul(
            "storescu",
            "-aet",
            "SENDER",
            "-aec",
            "STORE-HERE",
            HOST,
            str(server.port),
            str(corpus_dir),
        )
    assert done.returncode == 0, done.stderr
    assert_received(tmp_path, corpus_dir)
    assert server.output.count("I: Stored ") == len(SYNTAXES)
    # stderr is not a terminal here: no progress bar, only the skipped file's warning.
    assert done.stderr.splitlines() == [
        f"W: {corpus_dir / 'sub' / 'notes.txt'} is not a DICOM file "
        "(" + f"{corpus_dir / 'sub' / 'notes.txt'} is not a DICOM Part 10 file: "
        "it is shorter than the 128-byte preamble and 'DICM'); skipping it"
    ]


def test_our_storescu_to_pynetdicom_storescp(
    corpus_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    port = free_port()
    scp = subprocess.Popen(
        [sys.executable, "-m", "pynetdicom", "storescp", "-od", str(tmp_path), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    files = [str(next(corpus_dir.rglob(f"{name}.dcm"))) for name in ("explicit", "implicit")]
    try:
        wait_listening(port)
        done = dicomul("storescu", HOST, str(port), *files)
    finally:
        scp.terminate()
        scp.wait(timeout=10)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sent 2, warnings 0, failures 0 (")
    from pydicom import dcmread

    received = {str(dcmread(p).SOPInstanceUID): dcmread(p) for p in tmp_path.iterdir()}
    for uid, source in sources(corpus_dir).items():
        if str(source) in files:
            assert received[uid].PixelData == dcmread(source).PixelData


def test_refused_store_fails_with_an_error(
    corpus_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """A peer answering a failure status: an E: line, counted, exit non-zero."""
    from dicomul_sync import AE
    from peers import serving

    ae = AE(scp_sop_class=["1.2.840.10008.5.1.4.1.1.2"])
    ae.on_c_store = lambda dataset: 0xA700  # type: ignore[method-assign]
    (path,) = corpus_dir.rglob("explicit.dcm")
    with serving(ae) as port:
        done = dicomul("storescu", HOST, str(port), str(path))
    assert done.returncode != 0
    assert f"E: Store Failed, file: {path}: status 0xA700" in done.stderr
    assert done.stdout.startswith("sent 0, warnings 0, failures 1 ")


def test_association_failures(corpus_dir: pathlib.Path) -> None:
    (path,) = corpus_dir.rglob("explicit.dcm")
    nobody = dicomul("storescu", HOST, str(free_port()), str(path))
    assert nobody.returncode != 0
    assert nobody.stderr.startswith("E: Association Request Failed")
    with storescp("--refuse") as port:
        rejected = dicomul("storescu", HOST, str(port), str(path))
    assert rejected.returncode != 0
    assert "E: Association Request Failed: Association Rejected (" in rejected.stderr
    notes = corpus_dir / "sub" / "notes.txt"
    nothing = dicomul("storescu", "-nh", HOST, str(free_port()), str(notes))
    assert nothing.returncode != 0
    assert "E: no DICOM files to send" in nothing.stderr
    # Without -nh a named file that is not DICOM stops the run before it
    # starts, as DCMTK's storescu -R does.
    halted = dicomul("storescu", HOST, str(free_port()), str(path), str(notes))
    assert halted.returncode == 1
    assert f"E: {notes} is not a DICOM file (" in halted.stderr
    assert "nothing sent (-nh skips it)" in halted.stderr


# -------------------------------------------------------------------- help


@pytest.mark.parametrize(
    ("app", "options"),
    [
        (
            "storescu",
            "-q --quiet -v --verbose -d --debug -ll --log-level -lc --log-config "
            "-aet --calling-aet -aec --called-aet -to --timeout -ta --acse-timeout "
            "-td --dimse-timeout -pdu --max-pdu +tls --enable-tls +tla --anonymous-tls "
            "+cf --add-cert-file -x= --propose-uncompr -xe --propose-little -xi "
            "--propose-implicit -nf --no-fallback -R --required "
            "+ma --multi-associations -ma --single-association -xb --propose-big "
            "+sd --scan-directories +r --recurse",
        ),
        (
            "storescp",
            "-q --quiet -v --verbose -d --debug -ll --log-level -lc --log-config "
            "-aet --aetitle -to --timeout -ta --acse-timeout -td --dimse-timeout "
            "-pdu --max-pdu -x= --prefer-uncompr -xe --prefer-little -xb --prefer-big "
            "-xi --implicit +x= +xe +xb +xi +xa --accept-all "
            "-od --output-directory --sort-by-study --ignore "
            "--max-associations +tls --enable-tls +cf --add-cert-file --require-peer-cert",
        ),
    ],
)
def test_help_lists_the_options(app: str, options: str) -> None:
    done = dicomul(app, "--help")
    assert done.returncode == 0
    shown = set(done.stdout.replace(",", " ").split())
    assert set(options.split()) <= shown


def on_a_terminal(*arguments: str) -> tuple[int, str]:
    """``dicomul <arguments>`` with stderr a terminal: its exit status and
    what the terminal showed."""
    import os
    import pty

    controller, terminal = pty.openpty()
    proc = subprocess.run(
        [DICOMUL, *arguments],
        stdout=subprocess.PIPE,
        stderr=terminal,
        timeout=60,
        check=False,
        env=ENV,
    )
    os.close(terminal)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once the terminal side is closed and drained
        while chunk := os.read(controller, 65536):
            shown += chunk
    os.close(controller)
    return proc.returncode, shown.decode()


def test_progress_bar_on_a_terminal(corpus_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """stderr a terminal: a progress line of files and bytes, cleared at the
    end; a file of several MiB moves the bar while it is being sent."""
    big = write(image(rows=1024, columns=1536, seed=9), tmp_path / "big.dcm", SYNTAXES["explicit"])
    with our_storescp("--ignore") as server:
        status, text = on_a_terminal("storescu", HOST, str(server.port), str(corpus_dir))
        big_status, big_text = on_a_terminal("storescu", HOST, str(server.port), str(big))
    assert (status, big_status) == (0, 0)
    assert f"{len(SYNTAXES)}/{len(SYNTAXES)} files" in text
    assert " MB" in text
    assert text.endswith("\r\x1b[K")
    states = [line.split("] ")[1] for line in big_text.split("\r") if "] " in line]
    assert states[0] == "0/1 files, 1.0/3.1 MB"  # the first MiB sent
    assert states[-1] == "1/1 files, 3.1/3.1 MB"
    assert len(states) >= 4  # one redraw per MiB, then the file done


def test_tls_between_our_apps(corpus_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    from tls_certs import make_pki

    pki = make_pki(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    server_tls = ["+tls", str(pki.server_key), str(pki.server_cert), "+cf", str(pki.ca)]
    client_tls = ["+tls", str(pki.client_key), str(pki.client_cert), "+cf", str(pki.ca)]
    with our_storescp("-od", str(out), *server_tls, "--require-peer-cert") as server:
        done = dicomul(
            "storescu", *client_tls, "--require-peer-cert", HOST, str(server.port), str(corpus_dir)
        )
        assert done.returncode == 0, done.stderr
    assert_received(out, corpus_dir)


def rich_files(directory: pathlib.Path) -> list[pathlib.Path]:
    """Instances with what a plain CT lacks: sequences (nested), private
    tags, non-ASCII names (ISO_IR 192, ISO_IR 100), a multi-frame MR."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

    paths = []
    for n, (charset, name, syntax) in enumerate(
        [
            ("ISO_IR 192", "Müller^Zoë=山田^太郎", ExplicitVRLittleEndian),
            ("ISO_IR 100", "Gérard^Hélène", ImplicitVRLittleEndian),
        ]
    ):
        ds = Dataset()
        ds.SpecificCharacterSet = charset
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"  # Enhanced MR
        ds.SOPInstanceUID = generate_uid()
        ds.PatientName = name
        ds.StudyInstanceUID = generate_uid()
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator = "T-A0100", "SRT"
        inner = Dataset()
        inner.CodeMeaning = "Brain"
        item.ConceptNameCodeSequence = [inner]
        ds.AnatomicRegionSequence = [item]
        block = ds.private_block(0x0099, "DICOMUL TEST", create=True)
        block.add_new(0x01, "LO", "private value")
        block.add_new(0x02, "OB", bytes(range(64)))
        ds.NumberOfFrames = 4
        ds.Rows = ds.Columns = 32
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.PixelData = bytes(range(256)) * (4 * 32 * 32 * 2 // 256)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = syntax
        path = directory / f"rich{n}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def test_sequences_private_tags_and_non_ascii_names_arrive_intact(
    tmp_path: pathlib.Path,
) -> None:
    source = tmp_path / "rich"
    source.mkdir()
    sent = rich_files(source)
    ours, dcmtk = tmp_path / "ours", tmp_path / "dcmtk"
    ours.mkdir()
    dcmtk.mkdir()
    with our_storescp("-od", str(ours)) as server:
        done = dicomul("storescu", HOST, str(server.port), str(source))
        assert done.returncode == 0, done.stderr
    with storescp("+B", "+xa", "-od", str(dcmtk)) as port:
        done = dicomul("storescu", HOST, str(port), str(source))
        assert done.returncode == 0, done.stderr
    for received in (ours, dcmtk):
        copies = sorted(p for p in received.iterdir() if p.is_file())
        assert len(copies) == len(sent)
        by_uid = {pydicom.dcmread(p).SOPInstanceUID: p for p in copies}
        for path in sent:
            original = pydicom.dcmread(path)
            copy = by_uid[original.SOPInstanceUID]
            assert data_set_bytes(copy) == data_set_bytes(path)
            assert pydicom.dcmread(copy).PatientName == original.PatientName


def test_a_multiframe_file_over_20_mib_through_the_apps(tmp_path: pathlib.Path) -> None:
    """dicomul storescu (streamed from disk) into dicomul storescp (durable):
    the 20.5 MiB data set arrives byte for byte."""
    source = tmp_path / "large"
    source.mkdir()
    ds = image(sop_class=MULTIFRAME_SC, rows=512, columns=512, frames=41)
    path = write(ds, source / "multiframe.dcm", SYNTAXES["explicit"])
    assert path.stat().st_size > 20 * 1024 * 1024
    out = tmp_path / "out"
    out.mkdir()
    with our_storescp("-od", str(out)) as server:
        done = dicomul("storescu", HOST, str(server.port), str(source), timeout=120)
    assert done.returncode == 0, done.stderr
    (stored,) = out.glob("*.dcm")
    assert_same_data_set(stored, path)


def test_files_needing_over_128_contexts_go_over_several_associations(
    tmp_path: pathlib.Path,
) -> None:
    """65 storage SOP classes, each in Implicit and Explicit VR: 130 contexts
    for the files' own syntaxes (plus 65 fallbacks), past the 128 one
    association carries (PS3.8 9.3.2.2)."""
    from dicomul_sync import StorageSOPClassList
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    files = tmp_path / "files"
    files.mkdir()
    for n, sop_class in enumerate(list(StorageSOPClassList)[:65]):
        for syntax in (ImplicitVRLittleEndian, ExplicitVRLittleEndian):
            ds = image(sop_class=sop_class, rows=4, columns=4, seed=n)
            write(ds, files / f"{n:03d}-{syntax}.dcm", syntax)

    out = tmp_path / "out"
    out.mkdir()
    with our_storescp("-v", "-od", str(out)) as server:
        done = dicomul("storescu", "-v", HOST, str(server.port), str(files))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sent 130, warnings 0, failures 0 (")
    assert "I: 2 associations needed: over 128 presentation contexts" in done.stderr
    assert server.output.count("I: Association Received") == 2
    received = {p.name.removesuffix(".dcm"): p for p in out.iterdir()}
    assert set(received) == set(sources(files))
    for uid, source in sources(files).items():
        assert_same_data_set(received[uid], source)

    # One association only: the files whose contexts did not fit fail (-nh:
    # each of them; without, the run stops at the first).
    out_single = tmp_path / "single"
    out_single.mkdir()
    with our_storescp("-od", str(out_single)) as server:
        done = dicomul("storescu", "-ma", "-nh", HOST, str(server.port), str(files))
        halted = dicomul("storescu", "-ma", HOST, str(server.port), str(files))
    assert halted.returncode == 1
    assert halted.stdout.startswith("sent 128, warnings 0, failures 1, not sent 1 (")
    assert done.returncode == 1
    assert done.stdout.startswith("sent 128, warnings 0, failures 2 (")
    assert "W: 67 presentation contexts needed past the 128 allowed" in done.stderr
    assert len(list(out_single.iterdir())) == 128


def test_two_storescp_processes_share_one_directory(
    corpus_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """README "Beyond one machine": two storescp processes writing to one
    directory, the same files sent to both at once, end with one whole file
    per instance and no temporary file; a balancer's health check (connect,
    close) is served silently."""
    import socket

    shared = tmp_path / "shared"
    shared.mkdir()
    with our_storescp("-v", "-od", str(shared)) as a, our_storescp("-v", "-od", str(shared)) as b:
        for server in (a, b):
            socket.create_connection((HOST, server.port), timeout=5).close()
        senders = [
            subprocess.Popen(
                [DICOMUL, "storescu", HOST, str(server.port), str(corpus_dir)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=ENV,
            )
            for server in (a, b)
        ]
        for sender in senders:
            _, err = sender.communicate(timeout=60)
            assert sender.returncode == 0, err
    assert_received(shared, corpus_dir)
    assert not list(shared.glob(".incoming-*"))
    for server in (a, b):
        # One association each (the storescu's); the health check left no line.
        assert server.output.count("I: Association Received") == 1, server.output
        assert "E:" not in server.output, server.output
        warnings = [line for line in server.output.splitlines() if line.startswith("W:")]
        assert all(line.endswith("is stored again: the new copy replaces it") for line in warnings)


def test_storescu_falls_back_to_big_endian_with_xb(
    corpus_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """-xb: a peer that takes Explicit VR Big Endian only gets every file
    re-encoded into it (RLE decoded first), its pixel words swapped (PS3.5
    7.3); +sd and +r, DCMTK's switches to scan directories, are taken (and
    always done)."""
    from dicomul_sync import AE
    from peers import serving
    from pydicom.uid import ExplicitVRBigEndian

    ae = AE(scp_sop_class=[CT], transfer_syntax=[ExplicitVRBigEndian])
    ae.store_directory = str(tmp_path)
    with serving(ae) as port:
        done = dicomul("storescu", "-xb", "+sd", "+r", HOST, str(port), str(corpus_dir))
    assert done.stdout.startswith(f"sent {len(SYNTAXES)}, warnings 0, failures 0 ")
    for uid, source in sources(corpus_dir).items():
        received = pydicom.dcmread(tmp_path / f"{uid}.dcm")
        assert received.file_meta.TransferSyntaxUID == ExplicitVRBigEndian
        words = native_pixels(source)
        big_endian = b"".join(words[n : n + 2][::-1] for n in range(0, len(words), 2))
        assert received.PixelData == big_endian, source.name


def test_an_rle_file_reaches_dcmtk_storescp_decoded(
    corpus_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """DCMTK storescp accepts uncompressed syntaxes only by default: the RLE
    file goes decoded (PS3.5 Annex G), and DCMTK has the original pixels."""
    (source,) = corpus_dir.rglob("rle.dcm")
    with storescp("+B", "-od", str(tmp_path)) as port:
        done = dicomul("storescu", "-v", HOST, str(port), str(source))
    assert done.returncode == 0, done.stderr
    (received,) = tmp_path.iterdir()
    ds = pydicom.dcmread(received)
    assert ds.file_meta.TransferSyntaxUID != "1.2.840.10008.1.2.5"
    assert ds.PixelData == native_pixels(source)


def test_a_file_that_cannot_be_re_encoded_fails_alone(tmp_path: pathlib.Path) -> None:
    """Before: a file pydicom could not read, met on the re-encoding path,
    ended the whole run with an F: line and no summary."""
    from pydicom.uid import ExplicitVRLittleEndian

    files = tmp_path / "files"
    files.mkdir()
    for n in range(3):
        ds = image(rows=4, columns=4, seed=n)
        ds.add_new(0x00091010, "LO", "BROKEN" if n == 1 else "FINE")
        write(ds, files / f"{n}.dcm", ExplicitVRLittleEndian)
    broken = files / "1.dcm"
    broken.write_bytes(broken.read_bytes().replace(b"\x09\x00\x10\x10LO", b"\x09\x00\x10\x10ZZ"))
    out = tmp_path / "out"
    out.mkdir()
    with our_storescp("-xi", "-od", str(out)) as server:  # implicit only: re-encoding needed
        done = dicomul("storescu", "-nh", HOST, str(server.port), str(files))
    assert done.returncode == 1
    assert done.stdout.startswith("sent 2, warnings 0, failures 1 "), done.stdout + done.stderr
    assert "cannot re-encode it into 1.2.840.10008.1.2" in done.stderr
    assert "F:" not in done.stderr
    assert len(list(out.iterdir())) == 2


def test_health_checks_on_a_tls_port_are_silent(tmp_path: pathlib.Path) -> None:
    """README "Beyond one machine": a balancer's TCP check (connect, close)
    on a TLS port logs nothing, as on a plain one."""
    import socket

    from tls_certs import make_pki

    pki = make_pki(tmp_path)
    tls = ["+tls", str(pki.server_key), str(pki.server_cert), "-ic"]  # anyone may connect
    with our_storescp("-v", *tls, "-od", str(tmp_path)) as server:
        for _ in range(3):
            socket.create_connection((HOST, server.port), timeout=5).close()
        done = dicomul("echoscu", "+tla", "-ic", HOST, str(server.port))  # still serving
    assert done.returncode == 0, done.stderr
    assert "E:" not in server.output, server.output
    assert server.output.count("I: Association Received") == 1, server.output


def test_a_file_cut_short_is_neither_sent_nor_stored(tmp_path: pathlib.Path) -> None:
    """Before: a truncated file went as it was and was stored and answered
    Success, on both sides.  Now storescu refuses to send it (as DCMTK's
    does), and storescp, given such a data set by a peer that sends it
    anyway, answers 0xC000 and keeps nothing (as DCMTK's does)."""
    from peers import RawPeer
    from pydicom.uid import ExplicitVRLittleEndian

    whole = write(image(rows=32, columns=32), tmp_path / "whole.dcm", ExplicitVRLittleEndian)
    cut = tmp_path / "files" / "cut.dcm"
    cut.parent.mkdir()
    cut.write_bytes(whole.read_bytes()[:-100])
    out = tmp_path / "out"
    out.mkdir()
    with our_storescp("-od", str(out)) as server:
        ours = dicomul("storescu", HOST, str(server.port), str(cut))
        peer = RawPeer(server.port)
        peer.associate()  # Verification and CT in Implicit VR Little Endian
        implicit = tmp_path / "implicit.dcm"
        write(image(rows=32, columns=32), implicit, "1.2.840.10008.1.2")
        response = peer.store("1.2.3.4", data_set_bytes(implicit)[:-100])
        peer.sock.close()
    assert ours.returncode == 1
    assert ours.stdout.startswith("sent 0, warnings 0, failures 1 ")
    assert "is not a whole DICOM file" in ours.stderr
    assert response.command.status == 0xC000  # type: ignore[attr-defined]
    assert list(out.iterdir()) == []
    assert "runs past the end of the data" in server.output


def test_storescp_accepts_retired_storage_classes(tmp_path: pathlib.Path) -> None:
    """Old modalities still send retired classes (Nuclear Medicine (retired),
    Hardcopy Grayscale Image): DCMTK's storescp stores them, so does ours."""
    from pydicom.uid import ExplicitVRLittleEndian

    files = tmp_path / "files"
    files.mkdir()
    for n, sop_class in enumerate(["1.2.840.10008.5.1.4.1.1.5", "1.2.840.10008.5.1.1.29"]):
        write(image(sop_class=sop_class, rows=4, columns=4, seed=n), files / f"{n}.dcm",
              ExplicitVRLittleEndian)  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    with our_storescp("-od", str(out)) as server:
        done = dicomul("storescu", HOST, str(server.port), str(files))
    assert done.returncode == 0, done.stderr
    assert_received(out, files)


def test_a_file_without_a_meta_group_length_is_sent_as_it_is(tmp_path: pathlib.Path) -> None:
    """PS3.10 7.1 requires (0002,0000), but files without it exist and DCMTK
    and pynetdicom send them.  Before: send_c_store(path) refused such a
    file and storescu skipped it as "not a DICOM file".  Now both send its
    data set from disk, and each storescp stores it byte for byte."""
    from dicomul_sync import AE

    source = write(image(rows=16, columns=16), tmp_path / "source.dcm", "1.2.840.10008.1.2")
    whole = source.read_bytes()
    assert whole[132:140] == b"\x02\x00\x00\x00UL\x04\x00"  # the group length, dropped:
    files = tmp_path / "files"
    files.mkdir()
    crafted = files / "no-group-length.dcm"
    crafted.write_bytes(whole[:132] + whole[144:])
    expected = data_set_bytes(source)
    by_library, by_app = tmp_path / "dcmtk", tmp_path / "ours"
    by_library.mkdir()
    by_app.mkdir()
    with storescp("+B", "-od", str(by_library)) as port:
        # Only the file's own syntax: its data set goes as it is on disk.
        scu = AE(scu_sop_class=[CT], transfer_syntax=["1.2.840.10008.1.2"])
        assoc = scu.associate(HOST, port)
        response = assoc.send_c_store(crafted)
        assoc.release()
    assert response is not None
    assert response.Status == 0
    with our_storescp("-od", str(by_app)) as server:
        done = dicomul("storescu", HOST, str(server.port), str(files))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    for out in (by_library, by_app):
        (stored,) = out.iterdir()
        assert data_set_bytes(stored) == expected, out
