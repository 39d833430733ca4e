"""The codec benchmark cases, shared by ``test_codec.py`` and ``run_codec.py``.

Each :class:`Case` pairs one operation done by dicomul with the same work
done by pynetdicom, on the same bytes.  Building a case runs both callables
once and checks what they return (payloads equal to the input, the same
contexts and UIDs, byte-identical encodings where the wire format leaves no
choice), so a broken codec fails loudly instead of producing a fast number.

Both runners time the callables as they are, best of several repeats, and
turn the time into throughput with :meth:`Case.throughput`: MB/s (10**6
bytes of whole PDUs per second) for P-DATA-TF, PDUs per second for
A-ASSOCIATE-RQ.

This module is not named ``test_*`` and ``bench/`` is not in the repository's
``testpaths``, so the normal ``pytest`` run never collects it.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import random
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import pynetdicom
from pynetdicom.pdu import A_ASSOCIATE_RQ, P_DATA_TF
from pynetdicom.pdu_primitives import P_DATA

import dicomul
from dicomul import ReceiveBuffer
from dicomul.pdu import AssociateRQ, PDataTF, PresentationDataValue, decode, encode

__all__ = [
    "CHUNK_SIZE",
    "LIBRARIES",
    "PDATA_SIZES",
    "Case",
    "Library",
    "Measurement",
    "build_cases",
    "environment",
    "format_table",
]

Library = Literal["dicomul", "pynetdicom"]
LIBRARIES: tuple[Library, ...] = ("dicomul", "pynetdicom")

#: P-DATA-TF payload sizes: the usual negotiated maximum (DCMTK proposes
#: 16384 bytes, pynetdicom 16382), a large one, and a very large one.
PDATA_SIZES: tuple[tuple[str, int], ...] = (
    ("16 KiB", 16 * 1024),
    ("128 KiB", 128 * 1024),
    ("1 MiB", 1024 * 1024),
)
#: Size of the reads the "frame + decode" case feeds the framer, as a socket
#: read of ``recv(65536)`` delivers them.
CHUNK_SIZE = 64 * 1024
#: The "frame + decode" stream holds at least this many bytes, and at least
#: four PDUs, so that PDUs straddle read boundaries as they do on a socket.
_STREAM_BYTES = 1024 * 1024

#: Presentation context ID and message control header of the benchmark PDV:
#: a data set fragment, the last one (PS3.8 Annex E.2).
_CONTEXT_ID = 1
_CONTROL_HEADER = 0x02

_CAPTURED = pathlib.Path(__file__).parent.parent / "tests" / "data" / "captured_pdus.json"
#: Real A-ASSOCIATE-RQs from the recorded fixture: (label, scenario).
_ASSOCIATE_RQS: tuple[tuple[str, str], ...] = (
    ("DCMTK echoscu, 1 context", "a_dcmtk_echoscu_to_dcmtk_storescp"),
    ("DCMTK storescu, 128 contexts", "c1_dcmtk_storescu_files_to_dcmtk_storescp"),
)


@dataclass(frozen=True)
class Case:
    """One operation, the same work done by each library.

    ``work`` is what one call processes: bytes (``unit == "MB/s"``) or PDUs
    (``unit == "PDU/s"``); ``pdus`` is how many PDUs one call handles.
    """

    operation: str
    size: str
    unit: Literal["MB/s", "PDU/s"]
    work: int
    run: dict[Library, Callable[[], object]]
    pdus: int = 1
    #: Caveat printed beside the figures (e.g. what the pynetdicom side omits).
    note: str = ""

    @property
    def name(self) -> str:
        """Short identifier for test ids and benchmark groups."""
        return f"{self.operation} {self.size}"

    def throughput(self, seconds: float) -> float:
        """Throughput of one call that took ``seconds``, in :attr:`unit`."""
        per_second = self.work / seconds
        return per_second / 1e6 if self.unit == "MB/s" else per_second


@dataclass(frozen=True)
class Measurement:
    """Best time per call of one case, for each library."""

    case: Case
    seconds: dict[Library, float]


def _require(ok: bool, what: str) -> None:
    """Fail the run unless ``ok`` (an ``assert`` would vanish under ``python -O``)."""
    if not ok:
        raise AssertionError(what)


# ------------------------------------------------------------------- P-DATA-TF


def _payload(size: int) -> bytes:
    """Deterministic, incompressible-looking payload (content does not matter)."""
    return random.Random(size).randbytes(size)


def _pynetdicom_pdata(payload: bytes) -> P_DATA_TF:
    """Build pynetdicom's P-DATA-TF the public way, from a P-DATA primitive.

    pynetdicom keeps the message control header as the first byte of the PDV
    value, so the value is the header byte followed by the payload.
    """
    primitive = P_DATA()
    # The setter wants [ID, value] lists at run time; its annotation says tuples.
    primitive.presentation_data_value_list = [
        [_CONTEXT_ID, bytes([_CONTROL_HEADER]) + payload]  # type: ignore[list-item]
    ]
    return P_DATA_TF(primitive)


def _pynetdicom_decode_pdata(data: bytes) -> P_DATA_TF:
    """Decode one P-DATA-TF with pynetdicom (it decodes into a new instance)."""
    pdu = P_DATA_TF()
    pdu.decode(data)
    return pdu


def _check_dicomul_pdata(pdu: object, payload: bytes) -> None:
    """Fail unless ``pdu`` is dicomul's P-DATA-TF holding exactly the benchmark PDV."""
    if not isinstance(pdu, PDataTF) or len(pdu.pdvs) != 1:
        raise AssertionError(f"dicomul decoded {pdu!r}")
    pdv = pdu.pdvs[0]
    _require(
        (pdv.context_id, pdv.control_header) == (_CONTEXT_ID, _CONTROL_HEADER),
        "dicomul decoded the wrong PDV header",
    )
    _require(pdv.data == payload, "dicomul decoded a different payload")


def _check_pynetdicom_pdata(pdu: object, payload: bytes) -> None:
    """Fail unless ``pdu`` is pynetdicom's P-DATA-TF holding exactly the benchmark PDV."""
    if not isinstance(pdu, P_DATA_TF) or len(pdu.presentation_data_value_items) != 1:
        raise AssertionError(f"pynetdicom decoded {pdu!r}")
    item = pdu.presentation_data_value_items[0]
    value = item.presentation_data_value
    if value is None:
        raise AssertionError("pynetdicom decoded a PDV without a value")
    _require(
        (item.presentation_context_id, value[0]) == (_CONTEXT_ID, _CONTROL_HEADER),
        "pynetdicom decoded the wrong PDV header",
    )
    _require(value[1:] == payload, "pynetdicom decoded a different payload")


def _pdata_cases(label: str, size: int) -> list[Case]:
    """Encode, decode, and frame + decode of a P-DATA-TF carrying ``size`` bytes."""
    payload = _payload(size)
    ours = PDataTF(
        pdvs=(
            PresentationDataValue(
                context_id=_CONTEXT_ID, control_header=_CONTROL_HEADER, data=payload
            ),
        )
    )
    theirs = _pynetdicom_pdata(payload)
    wire = encode(ours)
    # The wire format leaves no choice here: both must produce the same bytes.
    _require(len(wire) == size + 12, "dicomul encoded a P-DATA-TF of the wrong length")
    _require(theirs.encode() == wire, "the two encoders disagree on a P-DATA-TF")
    _check_dicomul_pdata(decode(wire), payload)
    _check_pynetdicom_pdata(_pynetdicom_decode_pdata(wire), payload)

    # A stream of whole PDUs back to back, cut into socket-sized reads: the
    # reads do not line up with PDU boundaries.  pynetdicom decodes the same
    # PDUs as separate objects, so that both sides read as much distinct
    # memory (one object decoded over and over would stay in the CPU cache).
    count = max(4, -(-_STREAM_BYTES // len(wire)))
    stream = wire * count
    chunks = [stream[i : i + CHUNK_SIZE] for i in range(0, len(stream), CHUNK_SIZE)]
    frames = [stream[i * len(wire) : (i + 1) * len(wire)] for i in range(count)]

    def dicomul_frame_decode() -> list[object]:
        buf = ReceiveBuffer(max_pdata_length=None)
        pdus: list[object] = []
        for chunk in chunks:
            buf.feed(chunk)
            while (pdu := buf.next_pdu()) is not None:
                pdus.append(pdu)
        return pdus

    def pynetdicom_decode_all() -> list[object]:
        return [_pynetdicom_decode_pdata(frame) for frame in frames]

    for lib, got in (
        ("dicomul", dicomul_frame_decode()),
        ("pynetdicom", pynetdicom_decode_all()),
    ):
        _require(len(got) == count, f"{lib} gave {len(got)} PDUs, not {count}")
        check = _check_dicomul_pdata if lib == "dicomul" else _check_pynetdicom_pdata
        for pdu in got:
            check(pdu, payload)

    return [
        Case(
            "P-DATA-TF encode",
            label,
            "MB/s",
            len(wire),
            {"dicomul": lambda: encode(ours), "pynetdicom": theirs.encode},
        ),
        Case(
            "P-DATA-TF decode",
            label,
            "MB/s",
            len(wire),
            {
                "dicomul": lambda: decode(wire),
                "pynetdicom": lambda: _pynetdicom_decode_pdata(wire),
            },
            note="dicomul payloads are memoryview slices of the input; pynetdicom copies",
        ),
        Case(
            "P-DATA-TF frame + decode",
            f"{label}, stream of {count}",
            "MB/s",
            len(stream),
            {"dicomul": dicomul_frame_decode, "pynetdicom": pynetdicom_decode_all},
            pdus=count,
            note=(
                f"frame + decode: dicomul's ReceiveBuffer is fed {CHUNK_SIZE // 1024} KiB reads "
                "of a stream of at least 4 PDUs and 1 MiB; pynetdicom, which has no framer, "
                "only decodes the same PDUs"
            ),
        ),
    ]


# -------------------------------------------------------------- A-ASSOCIATE-RQ


def _captured_rq(scenario: str) -> bytes:
    """The bytes of ``scenario``'s A-ASSOCIATE-RQ, as the requestor sent them."""
    records = json.loads(_CAPTURED.read_text())
    (record,) = (
        r
        for r in records
        if r["scenario"] == scenario
        and r["direction"] == "requestor->acceptor"
        and r["pdu_type"] == 1
    )
    return bytes.fromhex(record["hex"])


def _pynetdicom_decode_rq(data: bytes) -> A_ASSOCIATE_RQ:
    """Decode one A-ASSOCIATE-RQ with pynetdicom (it decodes into a new instance)."""
    pdu = A_ASSOCIATE_RQ()
    pdu.decode(data)
    return pdu


def _summary(rq: AssociateRQ) -> tuple[object, ...]:
    """What an A-ASSOCIATE-RQ says, ignoring reserved fields and padding."""
    ui = rq.user_information
    if ui is None:
        raise AssertionError("the captured request has no user information")
    return (
        rq.called_aet,
        rq.calling_aet,
        rq.application_context.uid,
        tuple(
            (pc.context_id, pc.abstract_syntax_uid, pc.transfer_syntax_uids)
            for pc in rq.presentation_contexts
        ),
        ui.maximum_length,
        ui.implementation_class_uid,
        ui.implementation_version_name,
    )


def _pynetdicom_summary(rq: A_ASSOCIATE_RQ) -> tuple[object, ...]:
    """The same summary from pynetdicom's decoded object."""
    ui = rq.user_information
    if ui is None:
        raise AssertionError("pynetdicom found no user information")
    return (
        rq.called_ae_title.strip(),
        rq.calling_ae_title.strip(),
        str(rq.application_context_name),
        tuple(
            (pc.context_id, str(pc.abstract_syntax), tuple(str(ts) for ts in pc.transfer_syntax))
            for pc in rq.presentation_context
        ),
        ui.maximum_length,
        str(ui.implementation_class_uid),
        ui.implementation_version_name,
    )


def _associate_cases(label: str, scenario: str) -> list[Case]:
    """Encode and decode of the A-ASSOCIATE-RQ recorded in ``scenario``."""
    wire = _captured_rq(scenario)
    ours = decode(wire)
    if not isinstance(ours, AssociateRQ):
        raise AssertionError(f"dicomul decoded {ours!r}")
    _require(encode(ours) == wire, "dicomul does not round-trip the captured request")
    theirs = _pynetdicom_decode_rq(wire)
    expected = _summary(ours)
    _require(_pynetdicom_summary(theirs) == expected, "the two decoders disagree")
    # pynetdicom writes reserved fields as zero (DCMTK sends FFH in one of a
    # presentation context's reserved bytes), so compare meaning, not bytes.
    reencoded = decode(theirs.encode())
    if not isinstance(reencoded, AssociateRQ):
        raise AssertionError(f"pynetdicom encoded {reencoded!r}")
    _require(_summary(reencoded) == expected, "pynetdicom's encoding says something else")
    size = f"{label}, {len(wire)} B"
    return [
        Case(
            "A-ASSOCIATE-RQ encode",
            size,
            "PDU/s",
            1,
            {"dicomul": lambda: encode(ours), "pynetdicom": theirs.encode},
        ),
        Case(
            "A-ASSOCIATE-RQ decode",
            size,
            "PDU/s",
            1,
            {"dicomul": lambda: decode(wire), "pynetdicom": lambda: _pynetdicom_decode_rq(wire)},
        ),
    ]


def build_cases(sizes: Sequence[tuple[str, int]] = PDATA_SIZES) -> list[Case]:
    """Every case, checked for correctness, in table order."""
    cases: list[Case] = []
    for label, size in sizes:
        cases.extend(_pdata_cases(label, size))
    for label, scenario in _ASSOCIATE_RQS:
        cases.extend(_associate_cases(label, scenario))
    return cases


# --------------------------------------------------------------------- report


def _cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: The files whose code the benchmarks run (the framer, the PDU and item codecs).
_CODEC_SOURCES = tuple(
    f"dicomul/{name}.py" for name in ("_buffer", "_enums", "_errors", "_items", "_wire", "pdu")
)


def _dicomul_revision() -> str:
    """The repository commit measured, flagged if the codec's sources have local changes.

    dicomul is a development version, so its version number alone does not
    say which code gave the figures.  Read-only git commands; empty if git or
    the repository is not there.
    """
    root = pathlib.Path(__file__).parent.parent

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )

    try:
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return ""
        dirty = git("diff", "--quiet", "HEAD", "--", *_CODEC_SOURCES).returncode != 0
    except OSError:
        return ""
    return f" at {head.stdout.strip()}" + (" with local codec changes" if dirty else "")


def environment() -> str:
    """One line naming the machine, Python and library versions the figures come from."""
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, "
        f"{_cpu_model()}, {os.cpu_count()} CPUs; "
        f"{platform.python_implementation()} {platform.python_version()}; "
        f"dicomul {dicomul.__version__}{_dicomul_revision()}, "
        f"pynetdicom {pynetdicom.__version__}"
    )


def _figure(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def format_table(measurements: Sequence[Measurement], title: str) -> str:
    """Markdown table of throughput, the two libraries side by side.

    Each cell also gives the time per PDU in microseconds.  ``ratio`` is
    dicomul's throughput over pynetdicom's: above 1, dicomul is faster.
    """
    lines = [
        f"**{title}**",
        "",
        "| operation | size | dicomul | pynetdicom | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for m in measurements:
        ours = m.case.throughput(m.seconds["dicomul"])
        theirs = m.case.throughput(m.seconds["pynetdicom"])
        unit = m.case.unit
        per_pdu = {lib: _figure(s / m.case.pdus * 1e6) for lib, s in m.seconds.items()}
        lines.append(
            f"| {m.case.operation} | {m.case.size} "
            f"| {_figure(ours)} {unit} ({per_pdu['dicomul']} µs) "
            f"| {_figure(theirs)} {unit} ({per_pdu['pynetdicom']} µs) "
            f"| {ours / theirs:.2f}x |"
        )
    notes = sorted({m.case.note for m in measurements if m.case.note})
    if notes:
        lines.append("")
        lines.extend(f"- {note}" for note in notes)
    return "\n".join(lines)
