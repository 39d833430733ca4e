"""``dicomul dump`` on real captures of DCMTK and dicomul talking on loopback.

One capture for the module (tcpdump on ``lo`` where it may run, as in CI;
else a recording proxy's streams written as pcap, see ``captures.py``):

* DCMTK echoscu to dicomul storescp: an echo, then one aborted;
* DCMTK storescu to dicomul storescp, once per transfer syntax (implicit,
  big endian, deflated);
* dicomul storescu to DCMTK storescp: explicit, RLE Lossless and a larger
  image spread over many PDUs, in one association;
* dicomul echoscu to a DCMTK storescp that refuses every association;
* DCMTK findscu to dicomul qrscp (three matches);
* and a connection that is no DICOM at all.

Every dicomul process logs its PDU trace (``dicomul.pdu`` at DEBUG, what
``-d`` shows) to a file: ``dump -v`` must describe the same PDUs in the same
words, in each direction, for every association.  ``dump`` must report each
message that was exchanged, ``--extract`` give back each data set stored
byte for byte, tshark's DICOM dissector agree on the PDUs, commands and
statuses, and the capture read from a pipe, as pcapng, with its packets
reordered and repeated, cut short, or started mid-association, still decode.
A pcapng of two interfaces (two tcpdumps merged by mergecap) decodes too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import random
import re
import shutil
import socket
import subprocess
from typing import Any

import pytest
from captures import (
    Packet,
    ProxyRecorder,
    TcpdumpRecorder,
    can_run_tcpdump,
    listening_thread,
    read_packets,
    recorder,
    write_pcap,
)
from corpus import SYNTAXES, assert_same_data_set, data_set_bytes, image, write
from dcmtk_tools import dcmtk_path
from peers import HOST, free_port, storescp
from test_apps_echo import DICOMUL, ENV, app_server

CT = "1.2.840.10008.5.1.4.1.1.2"
TRACE_MARK = "<<PDU>>"
DCMTK_PROPOSE = {"implicit": "-xi", "big": "-xb", "deflated": "-xd"}
NOT_DICOM = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\r\n"


def trace_config(directory: pathlib.Path, name: str) -> tuple[pathlib.Path, pathlib.Path]:
    """A logging config that sends the ``dicomul.pdu`` trace, block by block,
    to ``name``.trace; returns (config, trace)."""
    trace = directory / f"{name}.trace"
    config = directory / f"{name}.ini"
    config.write_text(
        "[loggers]\nkeys=root,pdu\n[handlers]\nkeys=file\n[formatters]\nkeys=plain\n"
        "[logger_root]\nlevel=WARNING\nhandlers=\n"
        "[logger_pdu]\nlevel=DEBUG\nhandlers=file\nqualname=dicomul.pdu\npropagate=0\n"
        "[handler_file]\nclass=FileHandler\nlevel=DEBUG\nformatter=plain\n"
        f"args=({str(trace)!r}, 'w')\n"
        f"[formatter_plain]\nformat=%(message)s\n    {TRACE_MARK}\n"
    )
    return config, trace


def trace_blocks(trace: pathlib.Path) -> list[tuple[str, list[str]]]:
    """(``sent`` or ``received``, description lines) per PDU the process traced."""
    blocks = []
    for block in trace.read_text().split(f"\n{TRACE_MARK}\n"):
        if not block.strip():
            continue
        head, *lines = block.split("\n")
        assert head in ("PDU sent:", "PDU received:"), head
        blocks.append((head.removeprefix("PDU ").removesuffix(":"), lines))
    return blocks


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), capture_output=True, text=True, timeout=60, check=False, env=ENV
    )


def dump(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DICOMUL, "dump", *args],
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def events(*args: str) -> list[dict[str, Any]]:
    done = dump("--json", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@dataclasses.dataclass
class Session:
    """The capture, and what the test knows went over the wire."""

    pcap: pathlib.Path
    tmp: pathlib.Path
    #: Server port -> what serves there.
    ports: dict[str, int]
    #: dicomul process name -> its PDU trace, and whether it was the acceptor.
    traces: dict[str, tuple[pathlib.Path, bool]]
    #: SOP Instance UID -> source file, of every data set stored.
    stored: dict[str, pathlib.Path]
    #: Matches the C-FIND found.
    matches: int


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    tmp = tmp_path_factory.mktemp("dump")
    sources = {}
    for seed, name in enumerate(SYNTAXES, start=1):
        sources[name] = write(image(seed=seed), tmp / f"{name}.dcm", SYNTAXES[name])
    sources["large"] = write(
        image(rows=256, columns=256, seed=40), tmp / "large.dcm", SYNTAXES["explicit"]
    )
    database = tmp / "database"
    database.mkdir()
    for n in range(3):
        write(
            image(seed=50 + n, name=f"FIND^{n}"), database / f"find{n}.dcm", SYNTAXES["explicit"]
        )
    (tmp / "in-ours").mkdir()
    (tmp / "in-dcmtk").mkdir()
    scp_config, scp_trace = trace_config(tmp, "storescp")
    qr_config, qr_trace = trace_config(tmp, "qrscp")
    store_config, store_trace = trace_config(tmp, "storescu")
    echo_config, echo_trace = trace_config(tmp, "echoscu")
    other = free_port()
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(
            app_server("storescp", "-lc", str(scp_config), "-od", str(tmp / "in-ours"))
        )
        qr = stack.enter_context(
            app_server("qrscp", "-lc", str(qr_config), "--database", str(database))
        )
        theirs = stack.enter_context(storescp("+xa", "-od", str(tmp / "in-dcmtk")))
        refusing = stack.enter_context(storescp("--refuse"))
        ports = {
            "ours": ours.port,
            "qr": qr.port,
            "theirs": theirs,
            "refusing": refusing,
            "other": other,
        }
        rec = stack.enter_context(recorder(tmp / "capture.pcap", ports.values()))
        front = {name: rec.front(port) for name, port in ports.items()}

        def dcmtk(tool: str, *args: str, ok: bool = True) -> None:
            done = run(dcmtk_path(tool), *args)
            assert (done.returncode == 0) == ok, (tool, args, done.stderr)

        dcmtk("echoscu", HOST, str(front["ours"]))
        dcmtk("echoscu", "--abort", HOST, str(front["ours"]))
        for name, option in DCMTK_PROPOSE.items():
            dcmtk("storescu", option, HOST, str(front["ours"]), str(sources[name]))
        done = run(
            DICOMUL, "storescu", "-lc", str(store_config), HOST, str(front["theirs"]),
            str(sources["explicit"]), str(sources["rle"]), str(sources["large"]),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        done = run(DICOMUL, "echoscu", "-lc", str(echo_config), HOST, str(front["refusing"]))
        assert done.returncode != 0
        found = tmp / "found"
        found.mkdir()
        dcmtk(
            "findscu", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID",
            "-X", "-od", str(found), HOST, str(front["qr"]),
        )  # fmt: skip
        with (
            listening_thread(other, NOT_DICOM),
            socket.create_connection((HOST, front["other"])) as client,
        ):
            client.sendall(b"GET / HTTP/1.0\r\n\r\n")
            while client.recv(1024):
                pass
    from pydicom import dcmread

    stored = {str(dcmread(path).SOPInstanceUID): path for path in sources.values()}
    return Session(
        pcap=tmp / "capture.pcap",
        tmp=tmp,
        ports=ports,
        traces={
            "storescp": (scp_trace, True),
            "qrscp": (qr_trace, True),
            "storescu": (store_trace, False),
            "echoscu": (echo_trace, False),
        },
        stored=stored,
        matches=len(list(found.iterdir())),
    )


def associations(records: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(record["association"], []).append(record)
    return grouped


def by_server(
    session: Session, records: list[dict[str, Any]]
) -> dict[str, list[list[dict[str, Any]]]]:
    """Each server's associations (their records), in capture order."""
    names = {port: name for name, port in session.ports.items()}
    found: dict[str, list[list[dict[str, Any]]]] = {}
    for group in associations(records).values():
        port = int(group[0]["server"].rsplit(":", 1)[1])
        found.setdefault(names[port], []).append(group)
    return found


def messages(group: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (r["sender"], r["command"], r["message_id"], r["status"], r["complete"])
        for r in group
        if r["event"] == "message"
    ]


# --------------------------------------------------------------------- tests


def test_every_association_and_message_exchanged_is_reported(session: Session) -> None:
    servers = by_server(session, events(str(session.pcap)))
    assert "other" not in servers  # no DICOM there: not shown
    echo, aborted, *stores = servers["ours"]
    assert messages(echo) == [
        ("requestor", "C-ECHO-RQ", 1, None, True),
        ("acceptor", "C-ECHO-RSP", 1, 0, True),
    ]
    assert [r["how"] for r in echo if r["event"] == "end"] == ["released"]
    assert [(r["how"], r["sender"]) for r in aborted if r["event"] == "end"] == [
        ("aborted", "requestor")
    ]
    # One DCMTK storescu per syntax: the file's data set, in its own syntax.
    assert len(stores) == len(DCMTK_PROPOSE)
    for group, name in zip(stores, DCMTK_PROPOSE, strict=True):
        (rq,) = [r for r in group if r.get("command") == "C-STORE-RQ"]
        source = session.tmp / f"{name}.dcm"
        assert rq["transfer_syntax"] == SYNTAXES[name]
        assert rq["data_set_size"] == len(data_set_bytes(source))
        assert session.stored[rq["sop_instance_uid"]] == source
        assert rq["sop_class_uid"] == CT
        assert not rq["transfer_syntax_guessed"]
        (rsp,) = [r for r in group if r.get("command") == "C-STORE-RSP"]
        assert (rsp["status"], rsp["status_meaning"]) == (0, "Success")
        assert rsp["latency"] > 0
    # dicomul storescu: three files in one association, the last over many PDUs.
    (ours,) = servers["theirs"]
    sent = [r for r in ours if r.get("command") == "C-STORE-RQ"]
    assert [r["sop_instance_uid"] for r in sent] == [
        uid for uid, path in session.stored.items() if path.stem in ("explicit", "rle", "large")
    ]
    assert [r["data_set_size"] for r in sent] == [
        len(data_set_bytes(session.stored[r["sop_instance_uid"]])) for r in sent
    ]
    assert [r["transfer_syntax"] for r in sent] == [
        SYNTAXES["explicit"],
        SYNTAXES["rle"],
        SYNTAXES["explicit"],
    ]
    pdus = [r for r in ours if r["event"] == "pdu" and r["sender"] == "requestor"]
    assert sum(r["type"] == "P-DATA-TF" for r in pdus) > 10
    # The refused association.
    (refused,) = servers["refusing"]
    (negotiation,) = [r for r in refused if r["event"] == "negotiation"]
    assert not negotiation["accepted"]
    assert negotiation["rejection"].startswith("rejected-")
    assert [r["how"] for r in refused if r["event"] == "end"] == ["rejected"]
    # C-FIND: a pending response per match, then success.
    (find,) = servers["qr"]
    statuses = [r["status"] for r in find if r.get("command") == "C-FIND-RSP"]
    assert statuses == [0xFF00] * session.matches + [0]
    assert session.matches == 3
    # Nothing in any of it breaks a rule.
    assert [r["message"] for r in events(str(session.pcap)) if r["event"] == "finding"] == []


def test_verbose_describes_each_pdu_as_the_apps_trace_does(session: Session) -> None:
    """``dump -v`` and the dicomul side's ``-d`` trace: the same PDUs, each in
    the same words, in both directions."""
    servers = by_server(session, events("-v", str(session.pcap)))
    where = {"storescp": "ours", "qrscp": "qr", "storescu": "theirs", "echoscu": "refusing"}
    for name, (trace, acceptor) in session.traces.items():
        blocks = trace_blocks(trace)
        for direction in ("sent", "received"):
            sender = "acceptor" if (direction == "sent") == acceptor else "requestor"
            described = [
                r["description"]
                for group in servers[where[name]]
                for r in group
                if r["event"] == "pdu" and r["sender"] == sender
            ]
            traced = [lines for d, lines in blocks if d == direction]
            assert described == traced, (name, direction)
            assert traced, (name, direction)


def test_verbose_text_shows_each_pdu_in_the_traces_words(session: Session) -> None:
    done = dump("-v", str(session.pcap))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    starts = {line: at for at, line in reversed(list(enumerate(lines)))}
    blocks = trace_blocks(session.traces["storescp"][0])
    assert len(blocks) > 20
    for _, block in blocks:
        indented = ["    " + line for line in block]
        at = starts[indented[0]]
        while lines[at : at + len(indented)] != indented:
            at = lines.index(indented[0], at + 1)  # ValueError: not shown as traced


def test_the_recording_proxy_captures_too(tmp_path: pathlib.Path) -> None:
    """The fallback where tcpdump may not run (see captures.py), checked here
    since CI runs tcpdump."""
    with app_server("echoscp") as server, ProxyRecorder(tmp_path / "proxy.pcap") as proxy:
        done = run(dcmtk_path("echoscu"), HOST, str(proxy.front(server.port)))
        assert done.returncode == 0, done.stderr
    (group,) = associations(events(str(tmp_path / "proxy.pcap"))).values()
    assert group[0]["server"] == f"{HOST}:{server.port}"
    assert messages(group) == [
        ("requestor", "C-ECHO-RQ", 1, None, True),
        ("acceptor", "C-ECHO-RSP", 1, 0, True),
    ]
    assert [r["how"] for r in group if r["event"] == "end"] == ["released"]


def test_text_output(session: Session) -> None:
    done = dump(str(session.pcap))
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert len(re.findall(r"^Association \d+: ", text, re.MULTILINE)) == 8
    assert "A-ASSOCIATE-RQ  ECHOSCU -> ANY-SCP, 1 presentation context(s) proposed" in text
    assert re.search(r"C-ECHO-RSP +MsgID 1, status 0x0000 \(Success\), latency [0-9.]+ ms", text)
    assert re.search(r"A-ASSOCIATE-RJ  rejected in [0-9.]+ ms: rejected-permanent, ", text)
    assert "C-FIND-RSP      MsgID 1, status 0xFF00 (Pending: matches are continuing)" in text
    assert "(1.2.840.10008.1.2.2 (Explicit VR Big Endian))" in text
    assert "A-RELEASE-RP  released" in text
    assert "A-ABORT  service-user" in text
    assert re.search(
        r"summary: 2 DIMSE message\(s\); 0 data set\(s\) of 0 bytes in all; set-up", text
    )


def test_extract_gives_back_every_data_set_stored(
    session: Session, tmp_path: pathlib.Path
) -> None:
    done = dump("--extract", str(tmp_path), str(session.pcap))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{uid}.dcm" for uid in session.stored
    )
    for uid, source in session.stored.items():
        assert_same_data_set(tmp_path / f"{uid}.dcm", source)


def test_the_capture_from_a_pipe_gives_the_same(session: Session) -> None:
    data = session.pcap.read_bytes()
    done = subprocess.run(
        [DICOMUL, "dump", "--json", "-"], input=data, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == events(str(session.pcap))


def without_times(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    timeless = ("time", "started", "latency", "setup_time", "duration", "data_set_throughput")
    return [{k: v for k, v in r.items() if k not in timeless} for r in records]


def test_pcapng_and_packets_out_of_order_repeated_or_retransmitted(
    session: Session, tmp_path: pathlib.Path
) -> None:
    packets = read_packets(session.pcap)
    expected = without_times(events(str(session.pcap)))
    ng = tmp_path / "capture.pcapng"
    write_pcap(ng, packets, pcapng=True)
    assert without_times(events(str(ng))) == expected
    # Segments of a connection's direction out of order (the next one of
    # the same direction jumps ahead; SYNs and FINs stay), some sent twice,
    # and some data resent overlapping its neighbours (a retransmission of
    # the same bytes, cut elsewhere).  Across directions the order stays: a
    # capture's word is all there is on which side spoke first.
    rng = random.Random(18)
    shuffled = list(packets)
    swapped = 0
    for at in range(len(shuffled) - 1):
        this = shuffled[at]
        later = next(
            (i for i in range(at + 1, len(shuffled)) if shuffled[i].source == this.source), None
        )
        if (
            later is not None
            and this.payload
            and shuffled[later].payload
            and not (this.flags | shuffled[later].flags) & 0x03
            and all(
                shuffled[i].source != this.destination or not shuffled[i].payload
                for i in range(at, later)
            )
            and rng.random() < 0.5
        ):
            shuffled.insert(at, shuffled.pop(later))
            swapped += 1
    assert swapped >= 5
    noisy: list[Packet] = []
    for packet in shuffled:
        noisy.append(packet)
        if packet.payload and rng.random() < 0.2:
            noisy.append(packet)
        if len(packet.payload) > 20 and rng.random() < 0.2:
            noisy.append(
                dataclasses.replace(packet, seq=packet.seq + 7, payload=packet.payload[7:])
            )
    mixed = tmp_path / "mixed.pcap"
    write_pcap(mixed, noisy)
    assert without_times(events(str(mixed))) == expected


def test_a_capture_cut_short_decodes_what_it_holds(
    session: Session, tmp_path: pathlib.Path
) -> None:
    """Cut within a packet of the large C-STORE's data set (as a capture
    whose writer was killed): what came before is decoded, that message is
    reported incomplete, and the stderr says why."""
    data = session.pcap.read_bytes()
    theirs = session.ports["theirs"]
    at, number = 24, 0  # the pcap header, then 16 bytes a record before its frame
    for packet in read_packets(session.pcap):
        number += 1
        size = int.from_bytes(data[at + 8 : at + 12], "little")
        if packet.destination[1] == theirs and len(packet.payload) > 10000:
            break
        at += 16 + size
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: at + 16 + 5000])
    done = dump(str(cut))
    assert done.returncode == 0
    assert done.stderr == (
        f"W: {cut}: the capture ends within a packet (after packet {number - 1}); "
        "what came before it is decoded\n"
    )
    *whole, last = done.stdout.strip().split("\n\n")
    assert len(whole) == 5
    assert last.startswith("Association 6: ")
    assert "C-STORE-RQ (MsgID 3) is incomplete" in last
    assert re.search(r"C-STORE-RQ +MsgID 3, .*, INCOMPLETE", last)
    assert last.endswith("; closed; 2 finding(s)")  # the bytes lost, the message cut


def test_a_capture_that_starts_mid_association(session: Session, tmp_path: pathlib.Path) -> None:
    packets = read_packets(session.pcap)
    theirs = session.ports["theirs"]
    # From the third C-STORE-RQ's first packet on.
    mine = [p for p in packets if theirs in (p.source[1], p.destination[1])]
    starts = [
        i for i, p in enumerate(mine) if b"\x00\x00\x00\x01\x02\x00\x00\x00\x01\x00" in p.payload
    ]
    late = tmp_path / "late.pcap"
    write_pcap(late, mine[starts[2] :])
    (group,) = associations(events(str(late))).values()
    findings = [r["message"] for r in group if r["event"] == "finding"]
    assert any("mid-association" in f for f in findings)
    (rq,) = [r for r in group if r.get("command") == "C-STORE-RQ"]
    assert (rq["transfer_syntax"], rq["transfer_syntax_guessed"]) == (SYNTAXES["explicit"], True)
    assert rq["data_set_size"] == len(data_set_bytes(session.tmp / "large.dcm"))
    assert [r["how"] for r in group if r["event"] == "end"] == ["released"]


def test_a_port_named_is_decoded_whatever_it_holds(session: Session) -> None:
    records = events("--port", str(session.ports["other"]), str(session.pcap))
    (other,) = by_server(session, records)["other"]
    findings = [r["message"] for r in other if r["event"] == "finding"]
    assert findings[0].startswith("no PDU header at byte 0 (type 0x47 is no PDU type")
    assert not [r for r in other if r["event"] in ("pdu", "message")]


def test_no_capture_at_all(tmp_path: pathlib.Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n")
    done = dump(str(text))
    assert done.returncode == 1
    assert done.stderr.startswith(f"E: {text}: not a pcap or pcapng capture")
    missing = dump(str(tmp_path / "missing.pcap"))
    assert missing.returncode == 1
    assert missing.stderr.startswith("E: cannot read ")


# --------------------------------------------------------------------- tshark


TSHARK = shutil.which("tshark")
#: Data sets tshark's DICOM dissector cannot walk element by element.
UNREADABLE = {SYNTAXES["deflated"], SYNTAXES["rle"]}
COMMAND = re.compile(r"\b([CN]-[A-Z-]+?-(?:RQ|RSP)) ID=(\d+)(?: \(([^)]*)\))?")


def tshark_view(
    session: Session,
) -> dict[int, tuple[list[tuple[str, int]], list[tuple[str, int, str]]]]:
    """Per client port: the PDU types each side sent, and the commands
    (name, ID, status text) tshark's DICOM dissector finds."""
    assert TSHARK is not None
    decode_as = [
        arg for port in session.ports.values() for arg in ("-d", f"tcp.port=={port},dicom")
    ]
    done = run(
        TSHARK, "-r", str(session.pcap), *decode_as, "-Y", "dicom", "-T", "fields",
        "-E", "separator=|", "-E", "occurrence=a", "-e", "tcp.srcport", "-e", "tcp.dstport",
        "-e", "dicom.pdu.type", "-e", "_ws.col.Info",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    servers = set(session.ports.values())
    view: dict[int, tuple[list[tuple[str, int]], list[tuple[str, int, str]]]] = {}
    for line in done.stdout.splitlines():
        source, destination, types, info = line.split("|", 3)
        client = int(destination) if int(source) in servers else int(source)
        sender = "acceptor" if int(source) in servers else "requestor"
        pdus, commands = view.setdefault(client, ([], []))
        pdus += [(sender, int(t, 16)) for t in types.split(",") if t]
        commands += [(name, int(mid), status) for name, mid, status in COMMAND.findall(info)]
    return view


@pytest.mark.skipif(TSHARK is None, reason="tshark (Debian's package) is not installed")
def test_tshark_agrees_on_pdus_commands_and_statuses(session: Session) -> None:
    view = tshark_view(session)
    codes = {
        "A-ASSOCIATE-RQ": 1, "A-ASSOCIATE-AC": 2, "A-ASSOCIATE-RJ": 3, "P-DATA-TF": 4,
        "A-RELEASE-RQ": 5, "A-RELEASE-RP": 6, "A-ABORT": 7,
    }  # fmt: skip
    groups = associations(events(str(session.pcap)))
    assert len(view) == len(groups)
    for group in groups.values():
        client = int(group[0]["client"].rsplit(":", 1)[1])
        pdus, commands = view[client]
        ours = [(r["sender"], codes[r["type"]]) for r in group if r["event"] == "pdu"]
        assert sorted(ours) == sorted(pdus)
        for sender in ("requestor", "acceptor"):
            assert [t for s, t in ours if s == sender] == [t for s, t in pdus if s == sender]
        said = [r for r in group if r["event"] == "message"]
        # tshark names each command we do, in order, and its status in the
        # same words (where it shows one: not for a pending C-FIND), but for
        # the response after a data set its dissector cannot read as elements
        # (deflated, RLE): it shows "P-DATA, Command".
        named = iter(commands)
        pending = next(named, None)
        for before, message in zip([None, *said], said, strict=False):
            if pending is not None and (message["command"], message["message_id"]) == pending[:2]:
                meaning, status = message["status_meaning"], pending[2]
                if meaning is None:
                    assert status == ""
                elif status:  # "Success", "Pending"...: tshark's word starts ours
                    assert meaning.lower().startswith(status.split()[0].lower()), (meaning, status)
                pending = next(named, None)
                continue
            assert before is not None, message
            assert before["transfer_syntax"] in UNREADABLE, message
            assert message["command"].endswith("-RSP")
        assert pending is None, pending


@pytest.mark.skipif(
    shutil.which("mergecap") is None or not can_run_tcpdump(),
    reason="mergecap (Wireshark's) is not installed, or this process may not capture",
)
def test_a_pcapng_of_two_interfaces(tmp_path: pathlib.Path) -> None:
    """One echo recorded on ``lo`` (Ethernet frames), another on ``any``
    (Linux cooked frames), merged by Wireshark's mergecap into one pcapng
    with two interfaces, as ``dumpcap -i lo -i any`` writes: both are
    reported, so each packet was read with its own interface's link type
    (a reader that takes the first interface's for all loses one)."""
    capture = tmp_path / "two.pcapng"
    with (
        app_server("echoscp") as first,
        app_server("echoscp") as second,
        TcpdumpRecorder(tmp_path / "lo.pcap", [first.port]),
        TcpdumpRecorder(tmp_path / "any.pcap", [second.port], interface="any"),
    ):
        for server in (first, second):
            done = run(dcmtk_path("echoscu"), HOST, str(server.port))
            assert done.returncode == 0, done.stderr
    merged = run(
        "mergecap", "-F", "pcapng", "-w", str(capture),
        str(tmp_path / "lo.pcap"), str(tmp_path / "any.pcap"),
    )  # fmt: skip
    assert merged.returncode == 0, merged.stderr
    if shutil.which("capinfos"):  # Wireshark's own account of what the file holds
        described = run("capinfos", str(capture)).stdout
        assert "Number of interfaces in file: 2" in described
        assert "Ethernet" in described
        assert "Linux cooked" in described
    groups = associations(events(str(capture))).values()
    assert sorted(group[0]["server"] for group in groups) == sorted(
        f"{HOST}:{server.port}" for server in (first, second)
    )
    for group in groups:
        assert messages(group) == [
            ("requestor", "C-ECHO-RQ", 1, None, True),
            ("acceptor", "C-ECHO-RSP", 1, 0, True),
        ]
        assert [r["how"] for r in group if r["event"] == "end"] == ["released"]
