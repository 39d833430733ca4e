"""dump: show the DICOM conversations in a pcap or pcapng capture.

Every TCP connection in the capture whose bytes are DICOM (found by
content, on any port; ``--port`` takes a port's connections as DICOM
whatever they hold) is decoded by the core's
:class:`dicomul.ConversationDecoder` and printed once it ends, one
association at a time: its A-ASSOCIATE parameters and negotiated contexts,
each DIMSE message (message ID, SOP class and instance, data-set size and
transfer syntax, status and meaning, latency), how it ended, the timings,
and a finding wherever the bytes break the rules.  ``-v`` adds every PDU in
the words the other apps' ``-d`` uses; ``--json`` prints one object per
event; ``--extract`` writes each C-STORE data set as a Part 10 file.  The
capture may be a pipe (``tcpdump -w - | dicomul dump -``): it is read as a
stream, and what is kept is what is still open.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from . import _cli
from ._exit import fail

if TYPE_CHECKING:
    import logging

    from dicomul import ConversationDecoder, ConversationEvent, SeenMessage

    from ._capture import Connection, StreamEvent

#: Bytes of a connection looked at (both ways together) before it is taken
#: for something other than DICOM, when its start was not captured.
PROBE_LIMIT = 1 << 20


def build_parser() -> argparse.ArgumentParser:
    p = _cli.parser(
        "dump",
        "Show the DICOM associations in a pcap or pcapng capture: every message, its "
        "status and timing, and what in the bytes breaks the rules.",
    )
    p.add_argument(
        "capture",
        help="pcap or pcapng file; - reads standard input "
        "(tcpdump -i lo -w - port 11112 | dicomul dump -)",
    )
    logging_group = p.add_argument_group("output and logging")
    verbosity = logging_group.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="quiet mode, prints no warnings or errors"
    )
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also every PDU: type, length, hex dump and parameters, as the other apps' -d "
        "prints them",
    )
    verbosity.add_argument(
        "-d", "--debug", action="store_true", help="as -v, and log debugging information"
    )
    logging_group.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line for each event (with -v, PDUs and their description too)",
    )
    logging_group.add_argument(
        "--extract",
        metavar="[d]irectory",
        help="write each data set a C-STORE carried to existing directory d as a Part 10 "
        "file named by its SOP Instance UID",
    )
    choice = p.add_argument_group("which connections")
    choice.add_argument(
        "--port",
        type=_cli.port_number,
        action="append",
        default=[],
        metavar="[p]ort",
        help="decode connections to or from port p as DICOM whatever their bytes (may be "
        "given more than once); other connections are decoded if their bytes are DICOM",
    )
    p.set_defaults(log_level=None, log_config=None)
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    log = _cli.setup_logging(args, "dump")
    extract = None
    if args.extract is not None:
        extract = pathlib.Path(args.extract)
        if not extract.is_dir():
            fail(f"cannot extract to {args.extract}: no such directory")
    from ._capture import CaptureError, read_packets  # noqa: PLC0415 - after parsing: fast --help

    if args.capture == "-":
        stream: IO[bytes] = sys.stdin.buffer
    else:
        try:
            stream = open(args.capture, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            fail(f"cannot read {args.capture}: {exc.strerror or exc}")
    printer = Printer(sys.stdout, as_json=args.json, verbose=args.verbose or args.debug)
    dumper = Dumper(printer, ports=frozenset(args.port), extract=extract, log=log)
    notes: list[str] = []
    try:
        for segment in read_packets(stream, notes):
            dumper.segment(segment)
        dumper.finish()
    except CaptureError as exc:
        fail(f"{args.capture}: {exc}")
    except BrokenPipeError:  # the reader went away (dicomul dump ... | head): done
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    for note in notes:
        log.warning("%s: %s; what came before it is decoded", args.capture, note)
    log.info(
        "%d TCP connections, %d of them DICOM associations",
        dumper.connections,
        dumper.associations,
    )
    return 0


# ---------------------------------------------------------------------- connections


class Dumper:
    """TCP streams to conversations: which connections are DICOM, and their events."""

    def __init__(
        self,
        printer: Printer,
        *,
        ports: frozenset[int],
        extract: pathlib.Path | None,
        log: logging.Logger,
    ) -> None:
        from ._capture import TcpReassembler  # noqa: PLC0415

        self.printer = printer
        self.ports = ports
        self.extract = extract
        self.log = log
        self.tcp = TcpReassembler(server_ports=ports)
        self._open: dict[int, Conversation] = {}
        self.connections = 0
        self.associations = 0
        self._last_time: float | None = None

    def segment(self, segment: Any) -> None:
        self._last_time = segment.time
        for event in self.tcp.segment(segment):
            self._stream(event)

    def finish(self) -> None:
        for event in self.tcp.close_all(self._last_time):
            self._stream(event)

    def _stream(self, event: StreamEvent) -> None:
        from dicomul import Role  # noqa: PLC0415

        from ._capture import StreamClosed, StreamData  # noqa: PLC0415

        connection = event.connection
        conversation = self._open.get(connection.number)
        if conversation is None:
            self.connections += 1
            forced = connection.client.port in self.ports or connection.server.port in self.ports
            conversation = Conversation(connection, forced=forced)
            self._open[connection.number] = conversation
            if forced:
                self._report(conversation)
        if isinstance(event, StreamClosed):
            del self._open[connection.number]
            if conversation.is_dicom is False:
                return
            events = conversation.decoder.close(event.time)
        elif conversation.is_dicom is False:
            return
        else:
            role = Role.REQUESTOR if event.from_client else Role.ACCEPTOR
            if isinstance(event, StreamData):
                events = conversation.decoder.feed(role, event.data, event.time)
                conversation.probed += len(event.data)
            else:
                self.log.debug(
                    "%s -> %s: %d bytes missing from the capture",
                    connection.client if event.from_client else connection.server,
                    connection.server if event.from_client else connection.client,
                    event.size,
                )
                events = conversation.decoder.gap(role, event.size, event.time)
        if conversation.is_dicom is None:
            conversation.held += events
            verdict = conversation.verdict(PROBE_LIMIT)
            if verdict is None and isinstance(event, StreamClosed):
                verdict = False
            if verdict is None:
                return
            if not verdict:
                conversation.is_dicom = False
                conversation.held = []
                self.log.debug("%s -> %s: not DICOM", connection.client, connection.server)
                return
            self._report(conversation)
            events, conversation.held = conversation.held, []
        assert conversation.report is not None
        for each in events:
            conversation.report.event(each)
        if isinstance(event, StreamClosed):
            conversation.report.close()

    def _report(self, conversation: Conversation) -> None:
        """The connection is DICOM: its association gets the next number."""
        conversation.is_dicom = True
        self.associations += 1
        conversation.report = Report(
            self.associations, conversation.connection, self.printer, self.extract, self.log
        )


class Conversation:
    """One TCP connection as it is decoded."""

    def __init__(self, connection: Connection, *, forced: bool) -> None:
        from dicomul import ConversationDecoder  # noqa: PLC0415

        self.connection = connection
        self.decoder: ConversationDecoder = ConversationDecoder(
            mid_stream=not connection.from_start
        )
        #: None until the bytes show whether it is DICOM (``--port``: it is).
        self.is_dicom: bool | None = True if forced else None
        self.held: list[ConversationEvent] = []
        self.probed = 0
        self.report: Report | None = None

    def verdict(self, limit: int) -> bool | None:
        """True once the bytes held a PDU; False once they cannot be DICOM."""
        from dicomul import Finding, SeenPDU  # noqa: PLC0415

        for event in self.held:
            if isinstance(event, SeenPDU):
                return True
            if isinstance(event, Finding) and self.connection.from_start and event.offset == 0:
                return False  # its first bytes are no PDU
        return False if self.probed > limit else None


# ---------------------------------------------------------------------- reports


class Report:
    """One association's events, rendered as they come and printed at its end."""

    def __init__(
        self,
        number: int,
        connection: Connection,
        printer: Printer,
        extract: pathlib.Path | None,
        log: logging.Logger,
    ) -> None:
        self.number = number
        self.connection = connection
        self.printer = printer
        self.extract = extract
        self.log = log
        self.start = connection.started
        self.records: list[Any] = []
        self.messages = 0
        self.data_sets = 0
        self.data_set_bytes = 0
        self.pdu_bytes = 0
        self.findings = 0
        self.setup_time: float | None = None
        self.first_data: float | None = None
        self.last_data: float | None = None
        self.last_time: float | None = connection.started
        self.ending = "open when the capture ended"
        self._extracting: dict[Any, Extraction] = {}
        self.printer.begin(self)

    def event(self, event: ConversationEvent) -> None:
        from dicomul import (  # noqa: PLC0415
            Finding,
            SeenCommand,
            SeenDataSetBytes,
            SeenEnd,
            SeenMessage,
            SeenNegotiation,
            SeenPDU,
        )

        if event.time is not None:
            self.last_time = event.time
        if isinstance(event, SeenPDU):
            self.pdu_bytes += 6 + event.length
        elif isinstance(event, SeenNegotiation):
            self.setup_time = event.setup_time
        elif isinstance(event, SeenCommand):
            self._open_extraction(event)
        elif isinstance(event, SeenDataSetBytes):
            extraction = self._extracting.get(event.sender)
            if extraction is not None:
                extraction.write(event.data)
            return
        elif isinstance(event, SeenMessage):
            self.messages += 1
            if event.data_set_size is not None:
                self.data_sets += 1
                self.data_set_bytes += event.data_set_size
                if event.started is not None:
                    self.first_data = (
                        self.first_data if self.first_data is not None else event.started
                    )
                self.last_data = event.time
            path = self._close_extraction(event)
            self.records.append(self.printer.message(self, event, path))
            return
        elif isinstance(event, SeenEnd):
            self.ending = event.how.value
        elif isinstance(event, Finding):
            self.findings += 1
        record = self.printer.render(self, event)
        if record is not None:
            self.records.append(record)

    def close(self) -> None:
        for extraction in self._extracting.values():
            extraction.discard()
        self._extracting.clear()
        self.records.append(self.printer.summary(self))
        self.printer.flush(self)

    # ------------------------------------------------------------ --extract

    def _open_extraction(self, event: Any) -> None:
        from dicomul import CommandField  # noqa: PLC0415

        previous = self._extracting.pop(event.sender, None)
        if previous is not None:
            previous.discard()
        command = event.command
        if (
            self.extract is not None
            and command.command_field == CommandField.C_STORE_RQ
            and command.has_data_set
        ):
            self._extracting[event.sender] = Extraction(self.extract)

    def _close_extraction(self, message: SeenMessage) -> pathlib.Path | str | None:
        """Where the message's data set went (a path), why it did not (a
        reason), or None if it is not one to extract."""
        extraction = self._extracting.pop(message.sender, None)
        if extraction is None or message.data_set_size is None:
            return None
        if not message.complete:
            extraction.discard()
            return "not extracted: incomplete"
        if message.transfer_syntax is None or not message.sop_instance_uid:
            extraction.discard()
            return "not extracted: its transfer syntax is unknown"
        try:
            return extraction.commit(
                message.sop_class_uid or "", message.sop_instance_uid, message.transfer_syntax
            )
        except (OSError, ValueError) as exc:
            extraction.discard()
            self.log.error("cannot extract %s: %s", message.sop_instance_uid, exc)
            return f"not extracted: {exc}"


class Extraction:
    """A C-STORE data set on its way to a Part 10 file: its bytes go to a
    temporary file as they come; the file meta information, which needs
    the transfer syntax the data set turns out to have, goes first once
    the message is whole."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        self._file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by commit/discard
            dir=directory, prefix=".dump-", suffix=".part", delete=False
        )

    def write(self, data: Any) -> None:
        self._file.write(data)

    def commit(self, sop_class: str, sop_instance: str, transfer_syntax: str) -> pathlib.Path:
        import shutil  # noqa: PLC0415

        from dicomul_common.storage import (  # noqa: PLC0415 - pydicom: only when extracting
            file_meta_bytes,
            file_name_for,
        )

        path = self.directory / file_name_for(sop_instance)
        stem = path.stem
        copy = 1
        while path.exists():
            copy += 1
            path = self.directory / f"{stem}-{copy}.dcm"
        self._file.flush()
        self._file.seek(0)
        with tempfile.NamedTemporaryFile(
            dir=self.directory, prefix=".dump-", suffix=".dcm", delete=False
        ) as whole:
            whole.write(file_meta_bytes(sop_class, sop_instance, transfer_syntax))
            shutil.copyfileobj(self._file, whole)
        os.replace(whole.name, path)
        self.discard()
        return path

    def discard(self) -> None:
        self._file.close()
        pathlib.Path(self._file.name).unlink(missing_ok=True)


# ---------------------------------------------------------------------- output


class Printer:
    """Text (or JSON lines) for each association, written when it ends."""

    def __init__(self, out: IO[str], *, as_json: bool, verbose: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.verbose = verbose

    def begin(self, report: Report) -> None:
        connection = report.connection
        if self.as_json:
            report.records.append(
                {
                    "event": "association",
                    "association": report.number,
                    "client": str(connection.client),
                    "server": str(connection.server),
                    "time": connection.started,
                    "from_start": connection.from_start,
                }
            )
            return
        start = _clock(connection.started)
        seen = "" if connection.from_start else " (its start was not captured)"
        report.records.append(
            f"Association {report.number}: {connection.client} -> {connection.server}, "
            f"{start}{seen}"
        )

    def flush(self, report: Report) -> None:
        if self.as_json:
            for record in report.records:
                self.out.write(json.dumps(record) + "\n")
        else:
            self.out.write("\n".join(report.records) + "\n\n")
        self.out.flush()
        report.records = []

    # ------------------------------------------------------------ events

    def render(self, report: Report, event: ConversationEvent) -> Any:
        from dicomul import (  # noqa: PLC0415
            Finding,
            SeenEnd,
            SeenNegotiation,
            SeenPDU,
        )

        if self.as_json:
            return self._json(report, event)
        if isinstance(event, SeenPDU):
            return self._pdu(report, event)
        if isinstance(event, SeenNegotiation):
            return self._negotiation(report, event)
        if isinstance(event, SeenEnd):
            return self._end(report, event)
        if isinstance(event, Finding):
            where = "" if event.offset is None else f"byte {event.offset}: "
            return self._line(report, event.time, event.sender, f"!! {where}{event.message}")
        return None

    def _line(self, report: Report, time: float | None, sender: Any, text: str) -> str:
        when = "?" if time is None or report.start is None else f"+{time - report.start:.6f}"
        who = sender.value if sender is not None else ""
        return f"  {when:>10}  {who:<9}  {text}"

    def _pdu(self, report: Report, event: Any) -> str | None:
        from dicomul.pdu import AssociateRQ, ReleaseRQ  # noqa: PLC0415

        lines = []
        if self.verbose:
            lines.append(
                self._line(report, event.time, event.sender, f"PDU at byte {event.offset}:")
            )
            lines += ["    " + line for line in event.describe()]
        pdu = event.pdu
        if isinstance(pdu, AssociateRQ):
            info = pdu.user_information
            text = (
                f"A-ASSOCIATE-RQ  {pdu.calling_aet} -> {pdu.called_aet}, "
                f"{len(pdu.presentation_contexts)} presentation context(s) proposed, "
                f"max PDU {_maximum(info.maximum_length if info else None)}"
            )
            if info is not None and info.implementation_class_uid:
                text += f", implementation {info.implementation_class_uid}"
                if info.implementation_version_name:
                    text += f" {info.implementation_version_name}"
            lines.append(self._line(report, event.time, event.sender, text))
        elif isinstance(pdu, ReleaseRQ):
            lines.append(self._line(report, event.time, event.sender, "A-RELEASE-RQ"))
        return "\n".join(lines) if lines else None

    def _negotiation(self, report: Report, event: Any) -> str:
        setup = "" if event.setup_time is None else f" in {event.setup_time * 1000:.3f} ms"
        if not event.accepted:
            return self._line(
                report,
                event.time,
                event.sender,
                f"A-ASSOCIATE-RJ  rejected{setup}: {event.rejection}",
            )
        info = event.answer.user_information
        lines = [
            self._line(
                report,
                event.time,
                event.sender,
                f"A-ASSOCIATE-AC  accepted{setup}, "
                f"max PDU {_maximum(info.maximum_length if info else None)}",
            )
        ]
        for context in event.contexts:
            abstract = (
                _uid(context.abstract_syntax) if context.abstract_syntax else "(not captured)"
            )
            outcome = (
                _uid(context.transfer_syntax)
                if context.accepted and context.transfer_syntax
                else context.result_meaning
            )
            lines.append(f"{'':27}context {context.context_id}: {abstract}: {outcome}")
        return "\n".join(lines)

    def _end(self, report: Report, event: Any) -> str | None:
        from dicomul import Ending  # noqa: PLC0415

        if event.how is Ending.RELEASED:
            return self._line(report, event.time, event.sender, "A-RELEASE-RP  released")
        if event.how is Ending.ABORTED:
            return self._line(report, event.time, event.sender, f"A-ABORT  {event.detail}")
        if event.how is Ending.CLOSED:
            return self._line(
                report, event.time, None, "the connection ended with no release or abort"
            )
        return None

    def message(self, report: Report, message: SeenMessage, path: Any) -> Any:
        if self.as_json:
            record = self._json(report, message)
            assert record is not None
            if path is not None:
                record["extracted" if isinstance(path, pathlib.Path) else "not_extracted"] = str(
                    path
                )
            return record
        command = message.command
        parts = [f"MsgID {message.message_id}"]
        if not command.is_response:
            parts.append(f"context {message.context_id}")
            if message.sop_class_uid:
                parts.append(_uid(message.sop_class_uid))
            if message.sop_instance_uid:
                parts.append(f"instance {message.sop_instance_uid}")
        if command.move_destination:
            parts.append(f"to {command.move_destination}")
        if message.status is not None:
            parts.append(f"status 0x{message.status:04X} ({message.status_meaning})")
        counts = [
            (name, getattr(command, f"number_of_{name}_suboperations"))
            for name in ("remaining", "completed", "failed", "warning")
        ]
        if any(count is not None for _, count in counts):
            parts.append(
                ", ".join(f"{count} {name}" for name, count in counts if count is not None)
            )
        if message.data_set_size is not None:
            syntax = _uid(message.transfer_syntax) if message.transfer_syntax else "syntax unknown"
            guessed = ", guessed" if message.transfer_syntax_guessed else ""
            parts.append(f"data set {message.data_set_size} bytes ({syntax}{guessed})")
        if message.latency is not None:
            parts.append(f"latency {message.latency * 1000:.3f} ms")
        if not message.complete:
            parts.append("INCOMPLETE")
        text = f"{message.name:<14}  " + ", ".join(parts)
        if path is not None:
            text += f"\n{'':27}-> {path}"
        return self._line(report, message.time, message.sender, text)

    def summary(self, report: Report) -> Any:
        duration = (
            None
            if report.last_time is None or report.start is None
            else report.last_time - report.start
        )
        transfer = None
        if report.first_data is not None and report.last_data is not None:
            transfer = report.last_data - report.first_data
        if self.as_json:
            return {
                "event": "summary",
                "association": report.number,
                "messages": report.messages,
                "data_sets": report.data_sets,
                "data_set_bytes": report.data_set_bytes,
                "pdu_bytes": report.pdu_bytes,
                "findings": report.findings,
                "setup_time": report.setup_time,
                "duration": duration,
                "ending": report.ending,
                "data_set_throughput": (report.data_set_bytes / transfer if transfer else None),
            }
        parts = [
            f"{report.messages} DIMSE message(s)",
            f"{report.data_sets} data set(s) of {report.data_set_bytes} bytes in all",
        ]
        if report.setup_time is not None:
            parts.append(f"set-up {report.setup_time * 1000:.3f} ms")
        if duration is not None:
            parts.append(f"{duration:.6f} s in all")
        if transfer:
            parts.append(f"data sets at {report.data_set_bytes / transfer / 1e6:.2f} MB/s")
        parts.append(report.ending)
        if report.findings:
            parts.append(f"{report.findings} finding(s)")
        return "  summary: " + "; ".join(parts)

    # ------------------------------------------------------------ JSON

    def _json(self, report: Report, event: Any) -> dict[str, Any] | None:
        from dicomul import (  # noqa: PLC0415
            Finding,
            SeenEnd,
            SeenMessage,
            SeenNegotiation,
            SeenPDU,
        )

        base: dict[str, Any] = {
            "association": report.number,
            "sender": event.sender.value if event.sender is not None else None,
            "offset": event.offset,
            "time": event.time,
        }
        if isinstance(event, SeenPDU):
            record = {"event": "pdu", **base, "type": event.name, "length": event.length}
            if self.verbose:
                record["description"] = event.describe()
            return record
        if isinstance(event, SeenNegotiation):
            request, answer = event.request, event.answer
            maximum = {
                "requestor": _json_maximum(request),
                "acceptor": _json_maximum(answer) if event.accepted else None,
            }
            return {
                "event": "negotiation",
                **base,
                "accepted": event.accepted,
                "rejection": event.rejection,
                "setup_time": event.setup_time,
                "calling_ae_title": request.calling_aet if request else None,
                "called_ae_title": request.called_aet if request else None,
                "max_pdu_length": maximum,
                "contexts": [
                    {
                        "id": c.context_id,
                        "abstract_syntax": c.abstract_syntax,
                        "proposed_transfer_syntaxes": list(c.proposed_transfer_syntaxes),
                        "result": c.result_meaning,
                        "transfer_syntax": c.transfer_syntax,
                    }
                    for c in event.contexts
                ],
            }
        if isinstance(event, SeenMessage):
            command = event.command
            return {
                "event": "message",
                **base,
                "started": event.started,
                "command": event.name,
                "message_id": event.message_id,
                "context_id": event.context_id,
                "sop_class_uid": event.sop_class_uid,
                "sop_instance_uid": event.sop_instance_uid,
                "status": event.status,
                "status_meaning": event.status_meaning,
                "data_set_size": event.data_set_size,
                "transfer_syntax": event.transfer_syntax,
                "transfer_syntax_guessed": event.transfer_syntax_guessed,
                "latency": event.latency,
                "complete": event.complete,
                "move_destination": command.move_destination,
                "error_comment": command.error_comment,
            }
        if isinstance(event, SeenEnd):
            return {"event": "end", **base, "how": event.how.value, "detail": event.detail}
        if isinstance(event, Finding):
            return {"event": "finding", **base, "message": event.message}
        return None


def _clock(timestamp: float) -> str:
    import datetime  # noqa: PLC0415

    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _maximum(length: int | None) -> str:
    if length is None:
        return "unknown"
    return "unlimited" if length == 0 else str(length)


def _json_maximum(pdu: Any) -> int | None:
    info = getattr(pdu, "user_information", None)
    return info.maximum_length if info is not None else None


def _uid(uid: str | None) -> str:
    """A UID with its name from the DICOM dictionary (PS3.6 Annex A), if it has one."""
    if not uid:
        return "?"
    from pydicom.uid import UID  # noqa: PLC0415 - slow to import: only when printing

    name = UID(uid).name
    return uid if name == uid else f"{uid} ({name})"
