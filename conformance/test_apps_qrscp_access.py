"""``dicomul qrscp -c dcmqrscp.cfg``: several AE titles, each with its own
storage area, access (R, W, RW) and peers, against DCMTK's findscu,
storescu, getscu and movescu; and the reading of the configuration file
(``dicomul_sync.apps._qrconfig``).

The refusals: an unknown called AE title, or a calling AE title no AE
title lists, rejects the association (PS3.8 9.3.4, reasons 7 and 3); what a
peer may not do on an AE title it reached is answered 0x0124 "Refused: Not
Authorized" (PS3.7 Annex C), nothing stored, matched or sent.
"""

from __future__ import annotations

import pathlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from corpus import image, write
from dcmtk_tools import dcmtk_path
from dicomul_sync.apps._qrconfig import ConfigError, Peer, read_config
from peers import HOST, free_port, wait_listening
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian
from test_apps_echo import DICOMUL, ENV, Server, app_server
from test_apps_qrscp import make_archive, run, study_uid

#: An AETable of three AE titles: a shared archive anyone may read and
#: write, a read-only area for two peers (FINDER, and the move destination
#: DEST through the HostTable), and a drop box anyone may write, not read.
CONFIG = """\
# as DCMTK's example file: comments, globals, the three tables
NetworkTCPPort  = {port}
MaxPDUSize      = 16384
MaxAssociations = 16
UserName        = dcmtk

HostTable BEGIN
dest    = (DEST, localhost, {move_port})
readers = (FINDER, localhost, 5678), dest
HostTable END

VendorTable BEGIN
"Test Vendor" = readers
VendorTable END

AETable BEGIN
ARCHIVE   {root}/archive   RW (10, 1024mb) ANY
READONLY  {root}/readonly  R  (10, 1024mb) readers
DROPBOX   "{root}/drop box"  W  (10, 1024mb) ANY
AETable END
"""

NOT_AUTHORIZED = "0x124"  # how DCMTK 3.6 prints a status it has no name for


@dataclass
class Site:
    server: Server
    root: pathlib.Path
    move_port: int
    sent: pathlib.Path  # a file to store

    @property
    def port(self) -> str:
        return str(self.server.port)


def configure(root: pathlib.Path, port: int, move_port: int, text: str = CONFIG) -> pathlib.Path:
    path = root / "dcmqrscp.cfg"
    path.write_text(text.format(port=port, move_port=move_port, root=root))
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("qrscp-areas")
    for name in ("archive", "readonly", "drop box"):
        (root / name).mkdir()
    make_archive(root / "readonly")  # three studies, readable by FINDER only
    ds = image(rows=4, columns=4, seed=3, name="ARCHIVED^ONE")
    ds.PatientID = "ARC1"
    write(ds, root / "archive" / "one.dcm", ExplicitVRLittleEndian)
    sent = write(image(rows=4, columns=4, seed=4, name="SENT^NOW"), root / "sent.dcm",
                 ExplicitVRLittleEndian)  # fmt: skip
    move_port = free_port()
    config = configure(root, 104, move_port)  # (the port given on the command line wins)
    with app_server("qrscp", "-v", "-c", str(config)) as server:
        yield Site(server, root, move_port, sent)


def find(site: Site, out: pathlib.Path, called: str, calling: str) -> list[str]:
    """PatientIDs of the studies findscu finds there (-aec called, -aet calling)."""
    done = run("findscu", "-v", "-S", "-aec", called, "-aet", calling,
               "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID", "-X", "-od", str(out),
               HOST, site.port)  # fmt: skip
    if NOT_AUTHORIZED in done.stderr:
        return ["refused"]
    assert done.returncode == 0, done.stderr
    return sorted(str(dcmread(p).PatientID) for p in out.iterdir())


def test_an_unknown_called_ae_title_is_rejected(site: Site, tmp_path: pathlib.Path) -> None:
    done = run("findscu", "-S", "-aec", "QRSCP", "-k", "QueryRetrieveLevel=STUDY",
               HOST, site.port)  # fmt: skip
    assert done.returncode != 0
    assert "Called AE Title Not Recognized" in done.stderr, done.stderr


def test_each_ae_title_queries_its_own_area(site: Site, tmp_path: pathlib.Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "r").mkdir()
    assert find(site, tmp_path / "a", "ARCHIVE", "ANYONE") == ["ARC1"]
    assert find(site, tmp_path / "r", "READONLY", "FINDER") == ["PID1", "PID1", "PID2"]


def test_a_peer_not_listed_is_rejected(site: Site, tmp_path: pathlib.Path) -> None:
    """READONLY lists FINDER and DEST: another calling AE title is rejected
    at association, reason 7 (as dcmqrscp answers: see
    test_host_table_as_dcmqrscp), for C-FIND, C-GET and C-MOVE alike;
    nothing is sent."""
    key = f"StudyInstanceUID={study_uid('A')}"
    found = run("findscu", "-S", "-aec", "READONLY", "-aet", "STRANGER",
                "-k", "QueryRetrieveLevel=STUDY", HOST, site.port)  # fmt: skip
    got = run("getscu", "-v", "-S", "-aec", "READONLY", "-aet", "STRANGER",
              "-k", "QueryRetrieveLevel=STUDY", "-k", key, "-od", str(tmp_path),
              HOST, site.port)  # fmt: skip
    moved = run("movescu", "-v", "-S", "-aec", "READONLY", "-aet", "STRANGER", "-aem", "DEST",
                "+P", str(site.move_port), "-k", "QueryRetrieveLevel=STUDY", "-k", key,
                HOST, site.port, cwd=tmp_path)  # fmt: skip
    assert "Called AE Title Not Recognized" in found.stderr, found.stderr
    for done in (got, moved):  # these two print no reason
        assert done.returncode != 0
        assert "Association Rejected" in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_store_only_where_writable(site: Site, tmp_path: pathlib.Path) -> None:
    """C-STORE: refused by READONLY (access R), accepted by DROPBOX (W),
    which then refuses to be queried; accepted by ARCHIVE (RW), where the
    instance is then found."""
    sop = str(dcmread(site.sent).SOPInstanceUID)
    refused = run("storescu", "-v", "-aec", "READONLY", "-aet", "FINDER", HOST, site.port,
                  str(site.sent))  # fmt: skip
    assert NOT_AUTHORIZED in refused.stderr, refused.stderr
    assert not (site.root / "readonly" / f"{sop}.dcm").exists()
    for called in ("DROPBOX", "ARCHIVE"):
        stored = run("storescu", "-aec", called, HOST, site.port, str(site.sent))
        assert stored.returncode == 0, stored.stderr
    assert (site.root / "drop box" / f"{sop}.dcm").is_file()
    assert (site.root / "archive" / f"{sop}.dcm").is_file()
    (tmp_path / "d").mkdir()
    (tmp_path / "a").mkdir()
    assert find(site, tmp_path / "d", "DROPBOX", "ANYONE") == ["refused"]
    patients = find(site, tmp_path / "a", "ARCHIVE", "ANYONE")
    assert str(dcmread(site.sent).PatientID) in patients


def test_getscu_and_movescu_where_allowed(site: Site, tmp_path: pathlib.Path) -> None:
    """FINDER gets a study from READONLY; DEST (a HostTable peer, and the
    move destination) moves one to its own port."""
    key = f"StudyInstanceUID={study_uid('C')}"
    got = tmp_path / "got"
    got.mkdir()
    done = run("getscu", "-S", "-aec", "READONLY", "-aet", "FINDER",
               "-k", "QueryRetrieveLevel=STUDY", "-k", key, "-od", str(got),
               HOST, site.port)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(list(got.iterdir())) == 2
    moved = tmp_path / "moved"
    moved.mkdir()
    done = run("movescu", "+B", "-S", "-aec", "READONLY", "-aet", "DEST", "-aem", "DEST",
               "+P", str(site.move_port), "-od", str(moved),
               "-k", "QueryRetrieveLevel=STUDY", "-k", key, HOST, site.port,
               cwd=moved)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(list(moved.iterdir())) == 2


#: One AE title, three peers: FRIEND from this host (by name), NUMBERED
#: from this host (by address), FARAWAY from a host that is not this one.
HOSTS_CONFIG = """\
NetworkTCPPort = {port}
HostTable BEGIN
friend = (FRIEND, localhost, 104)
numbered = (NUMBERED, 127.0.0.1, 104)
faraway = (FARAWAY, elsewhere.invalid, 104)
HostTable END
AETable BEGIN
ONLY {root}/only R (1, 1mb) friend, numbered, faraway
AETable END
"""


def test_a_calling_ae_title_not_from_its_host_is_rejected(tmp_path: pathlib.Path) -> None:
    """No AE title allows ANY: a stranger, or a peer's title from another
    host than its HostTable entry's, is rejected at association (RJ 1/1/7,
    dcmqrscp's answer); a listed peer from its host served, whether the
    file names the host or its address; the port comes from NetworkTCPPort."""
    (tmp_path / "only").mkdir()
    make_archive(tmp_path / "only")
    port = free_port()
    config = configure(tmp_path, port, 1, HOSTS_CONFIG)
    proc = subprocess.Popen([DICOMUL, "qrscp", "-c", str(config)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_listening(port)
        rejected = {
            calling: run(
                "findscu",
                "-S",
                "-aec",
                "ONLY",
                "-aet",
                calling,
                "-k",
                "QueryRetrieveLevel=STUDY",
                HOST,
                str(port),
            )
            for calling in ("STRANGER", "FARAWAY")
        }
        served = {}
        for calling in ("FRIEND", "NUMBERED"):
            (tmp_path / calling).mkdir()
            served[calling] = findscu_as(port, tmp_path / calling, calling)
    finally:
        proc.terminate()
        proc.wait(10)
    for done in rejected.values():
        assert "Called AE Title Not Recognized" in done.stderr, done.stderr
    assert served == {"FRIEND": 3, "NUMBERED": 3}


def _echo_outcomes(port: int) -> dict[str, str]:
    """What DCMTK's echoscu gets from the server on ``port``, per calling title."""
    outcomes = {}
    for calling in ("FRIEND", "NUMBERED", "FARAWAY", "STRANGER"):
        done = run("echoscu", "-aet", calling, "-aec", "ONLY", HOST, str(port))
        reasons = [line for line in done.stderr.splitlines() if "Reason:" in line]
        outcomes[calling] = "accepted" if done.returncode == 0 else " ".join(reasons)
    return outcomes


def test_host_table_as_dcmqrscp(tmp_path: pathlib.Path) -> None:
    """The same dcmqrscp.cfg served by DCMTK's dcmqrscp and by qrscp -c:
    the same calling titles accepted and rejected, with the same reason
    (7, Called AE Title Not Recognized), except NUMBERED: dcmqrscp compares
    the host name it looks the peer up to with the name written, so an
    address written is never matched (dcmqrcnf.txt: "you cannot substitute
    an IP address for a hostname"); qrscp resolves the name written, so an
    address works too."""
    (tmp_path / "only").mkdir()
    outcomes = {}
    for ours in (True, False):
        port = free_port()
        config = configure(tmp_path, port, 1, HOSTS_CONFIG)
        command = (
            [DICOMUL, "qrscp", "-c", str(config)]
            if ours
            else [dcmtk_path("dcmqrscp"), "-c", str(config), str(port)]
        )
        proc = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_listening(port)
            outcomes[ours] = _echo_outcomes(port)
        finally:
            proc.terminate()
            proc.wait(10)
    rejected = "F: Reason: Called AE Title Not Recognized"
    assert outcomes[True] == {"FRIEND": "accepted", "NUMBERED": "accepted",
                              "FARAWAY": rejected, "STRANGER": rejected}  # fmt: skip
    assert outcomes[False] == {**outcomes[True], "NUMBERED": rejected}


def findscu_as(port: int, out: pathlib.Path, calling: str) -> int:
    done = run("findscu", "-S", "-aec", "ONLY", "-aet", calling, "-k", "QueryRetrieveLevel=STUDY",
               "-k", "StudyInstanceUID", "-X", "-od", str(out), HOST, str(port))  # fmt: skip
    assert done.returncode == 0, done.stderr
    return len(list(out.iterdir()))


def test_index_is_refused_with_a_configuration(tmp_path: pathlib.Path) -> None:
    from test_apps_echo import dicomul

    config = configure(tmp_path, 0, 1, "AETable BEGIN\nA {root} RW (1, 1mb) ANY\nAETable END\n")
    done = dicomul("qrscp", "-c", str(config), "--index", str(tmp_path / "x"), "104")
    assert done.returncode == 2
    assert "--index is for --database" in done.stderr


# ----------------------------------------------------------- the file itself


def test_dcmtks_example_configuration_is_read(tmp_path: pathlib.Path) -> None:
    """DCMTK's own example file, its commented-out examples put back."""
    example = pathlib.Path("/etc/dcmtk/dcmqrscp.cfg")
    if not example.is_file():
        pytest.skip("DCMTK's example configuration is not installed")
    lines = [
        line[1:] if line[:1] == "#" and (line[1:2].isalnum() or line[1:2] == '"') else line
        for line in example.read_text().splitlines()
    ]
    text = "\n".join(lines)
    config_path = tmp_path / "example.cfg"
    config_path.write_text(text)
    config = read_config(config_path)
    assert config.port == 104
    assert config.max_associations == 16
    assert config.hosts["acmeCTcompany"] == (
        Peer("ACME1", "acmehost1", 5678),
        Peer("ACME2", "acmehost2", 5678),
    )
    assert set(config.areas) == {"ACME_STORE", "UNITED_STORE", "READWRITE", "READ"}
    read = config.areas["READ"]
    assert (read.readable, read.writable, read.peers) == (True, False, None)
    acme = config.areas["ACME_STORE"]
    assert acme.permits("ACME2")
    assert not acme.permits("UNITED1")
    assert acme.quota == (9, 1024 * 1024 * 1024)
    assert config.destinations()["UNITED2"] == ("unitedhost2", 104)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AETable BEGIN\nA /x RX (1, 1mb) ANY\nAETable END\n", "line 2: access 'RX'"),
        ("AETable BEGIN\nA /x R (1, 1mb) nobody\nAETable END\n", "'nobody' is not in the"),
        ("AETable BEGIN\nA /x R (1, 1mb) ANY\n", "AETable has no END"),
        ("AETable BEGIN\nAETable END\n", "names no AE title"),
        ("HostTable BEGIN\nh = (A, host)\nHostTable END\n", "line 2: (A, host) is not"),
        ("NetworkTCPPort = many\n", "line 1: NetworkTCPPort 'many' is not a number"),
        ("NetworkTCPPort = 70000\n", "line 1: NetworkTCPPort 70000 is not a port number"),
        ("AETable BEGIN\nTHIS_TITLE_IS_TOO_LONG /x R (1, 1mb) ANY\nAETable END\n", "line 2"),
    ],
)
def test_a_configuration_that_cannot_be_served(
    tmp_path: pathlib.Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.cfg"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_config(path)


def test_a_missing_storage_area_stops_qrscp(tmp_path: pathlib.Path) -> None:
    from test_apps_echo import dicomul

    config = configure(
        tmp_path, 0, 1, "AETable BEGIN\nA {root}/gone RW (1, 1mb) ANY\nAETable END\n"
    )
    done = dicomul("qrscp", "-c", str(config), str(free_port()))
    assert done.returncode == 1
    assert "storage area of A does not exist" in done.stderr + done.stdout


def test_global_parameters_yield_to_the_command_line(tmp_path: pathlib.Path) -> None:
    """NetworkTCPPort, MaxPDUSize and MaxAssociations apply where the
    command line says nothing, as dcmqrscp's [port] argument overrides."""
    import logging

    from dicomul_sync.apps import qrscp

    text = (
        "NetworkTCPPort = 4321\nMaxPDUSize = 65536\nMaxAssociations = 3\n"
        "AETable BEGIN\nA {root} RW (1, 1mb) ANY\nAETable END\n"
    )
    config = str(configure(tmp_path, 0, 1, text))
    log = logging.getLogger("test")
    parser = qrscp.build_parser()
    args = parser.parse_args(["-c", config])
    assert qrscp._configured(parser, args, log) is not None
    assert (args.port, args.max_pdu, args.max_associations) == (4321, 65536, 3)
    args = parser.parse_args(["-c", config, "--max-associations", "7", "-pdu", "8192", "11112"])
    assert qrscp._configured(parser, args, log) is not None
    assert (args.port, args.max_pdu, args.max_associations) == (11112, 8192, 7)


# ------------------------------------------------------------------ quotas

QUOTA_CONFIG = """\
NetworkTCPPort = {port}
AETable BEGIN
FEW {root}/few RW (2, 1mb) ANY
SMALL {root}/small RW (10, 20kb) ANY
AETable END
"""


def _kept(directory: pathlib.Path) -> set[str]:
    """The SOP Instance UIDs of the DICOM files in ``directory``."""
    kept = set()
    for path in directory.iterdir():
        if path.name == "index.dat" or path.name.startswith(".dicomul-index"):
            continue
        kept.add(str(dcmread(path, stop_before_pixels=True).SOPInstanceUID))
    return kept


def _quota_outcome(port: int, root: pathlib.Path, files: dict[str, pathlib.Path]) -> object:
    """Store into FEW studies A, B, C (one file each), and into SMALL three
    files of study D then one too large; what each area keeps and what the
    too large file was answered."""
    import time

    def store(called: str, name: str) -> subprocess.CompletedProcess[str]:
        done = run("storescu", "-v", "-aec", called, HOST, str(port), str(files[name]))
        time.sleep(1.1)  # dcmqrscp records times to the second
        return done

    for name in ("A", "B", "C"):
        assert store("FEW", name).returncode == 0
    for name in ("D1", "D2", "D3"):
        assert store("SMALL", name).returncode == 0
    large = store("SMALL", "LARGE")
    status = [line for line in large.stderr.splitlines() if "Store Response" in line]
    sop = {name: str(dcmread(path).SOPInstanceUID) for name, path in files.items()}
    names = {uid: name for name, uid in sop.items()}
    return (
        sorted(names[uid] for uid in _kept(root / "few")),
        sorted(names[uid] for uid in _kept(root / "small")),
        status,
    )


def test_quota_as_dcmqrscp(tmp_path: pathlib.Path) -> None:
    """The AETable's quota, (maxStudies, maxBytesPerStudy), kept as DCMTK's
    dcmqrscp keeps it, side by side: past 2 studies the oldest study is
    deleted (A); a study past 20 kB loses its oldest file (D1; each file is
    about 8.6 kB); a file larger than 20 kB is refused, 0xA700 "Refused:
    Out of Resources", and not kept."""
    files = {}
    study_d = image(seed=9).StudyInstanceUID
    for name, seed in (("A", 1), ("B", 2), ("C", 3), ("D1", 4), ("D2", 5), ("D3", 6)):
        ds = image(seed=seed)
        if name.startswith("D"):
            ds.StudyInstanceUID = study_d
        files[name] = write(ds, tmp_path / f"{name}.dcm", ExplicitVRLittleEndian)
    large = image(seed=7, rows=128, columns=128)
    large.StudyInstanceUID = study_d
    files["LARGE"] = write(large, tmp_path / "LARGE.dcm", ExplicitVRLittleEndian)
    outcomes = {}
    for ours in (True, False):
        root = tmp_path / ("ours" if ours else "dcmtk")
        for area in ("few", "small"):
            (root / area).mkdir(parents=True)
        port = free_port()
        config = configure(root, port, 1, QUOTA_CONFIG)
        command = (
            [DICOMUL, "qrscp", "-c", str(config)]
            if ours
            else [dcmtk_path("dcmqrscp"), "-c", str(config), str(port)]
        )
        proc = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_listening(port)
            outcomes[ours] = _quota_outcome(port, root, files)
        finally:
            proc.terminate()
            proc.wait(10)
    assert outcomes[True] == outcomes[False]
    few, small, status = outcomes[True]  # type: ignore[misc]
    assert few == ["B", "C"]
    assert small == ["D2", "D3"]
    assert status == ["I: Received Store Response (Refused: OutOfResources)"]


def test_quota_upper_limits_as_dcmqrscp(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A quota past dcmqrscp's upper limits, 500 studies and 1 GiB per
    study, is lowered to them with a warning, as dcmqrscp 3.6.7 does (its
    log: "maxStudiesPerStorageArea too large / setting to 500",
    "maxBytesPerStudy too large / setting to 1073741824"); values within
    them are kept."""
    for area in ("big", "edge"):
        (tmp_path / area).mkdir()
    port = free_port()
    config = configure(
        tmp_path,
        port,
        1,
        "NetworkTCPPort = {port}\nAETable BEGIN\n"
        "BIG {root}/big RW (501, 2gb) ANY\n"
        "EDGE {root}/edge RW (500, 1024mb) ANY\n"
        "AETable END\n",
    )
    with caplog.at_level("WARNING", logger="dicomul.app.qrscp"):
        areas = read_config(config).areas
    assert areas["BIG"].quota == (500, 1 << 30)
    assert areas["EDGE"].quota == (500, 1 << 30)  # at the limits: kept, no warning
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2
    assert "maxStudies 501 is too large: setting it to 500" in warnings[0]
    assert f"maxBytesPerStudy {2 << 30} is too large: setting it to {1 << 30}" in warnings[1]
    # dcmqrscp says the same of the same file (once a store opens the area's index).
    sample = write(image(seed=11), tmp_path / "one.dcm", ExplicitVRLittleEndian)
    logged: dict[str, list[str]] = {}
    for title in ("BIG", "EDGE"):
        proc = subprocess.Popen([dcmtk_path("dcmqrscp"), "-c", str(config), str(port)],
                                env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
        try:
            wait_listening(port)
            assert run("storescu", "-aec", title, HOST, str(port), str(sample)).returncode == 0
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=10)
        logged[title] = [
            " ".join(line.split()) for line in err.splitlines() if line.startswith("W:")
        ]
    assert logged["BIG"] == [
        "W: maxStudiesPerStorageArea too large",
        "W: setting to 500",
        "W: maxBytesPerStudy too large",
        "W: setting to 1073741824",
    ]
    assert logged["EDGE"] == []
