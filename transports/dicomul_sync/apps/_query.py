"""What findscu, getscu and movescu share: their options, the query keys as
DCMTK writes them (``-k PatientName=DOE*``, ``-k 0010,0020=``,
``-k ScheduledProcedureStepSequence[0].Modality=MR``), the query identifier
built from a file and those keys, and a DCMTK-style dump of data sets.
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from dicomul import GeneralStatus

from . import _cli, _tls

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomul import Status
    from dicomul_sync.association import Association

#: The information models' switches: (short, long, letter, help).
MODELS = {
    "W": ("-W", "--worklist", "use modality worklist information model"),
    "P": ("-P", "--patient", "use patient root information model"),
    "S": ("-S", "--study", "use study root information model"),
    "O": ("-O", "--psonly", "use patient/study only information model"),
}

_TAG = re.compile(r"^\(?([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)?(?:\[(\d+)\])?$")
_KEYWORD = re.compile(r"^([A-Za-z][A-Za-z0-9]*)(?:\[(\d+)\])?$")
_INTEGER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV"})
_FLOAT_VRS = frozenset({"FL", "FD"})
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})


class BadKeyError(ValueError):
    """A -k key that is not ``path[=value]`` with a known keyword or a tag."""


def build_parser(
    prog: str, description: str, *, models: str, aet: str, default_model: str = "P"
) -> argparse.ArgumentParser:
    """The parser with every option the three apps share; the information
    model is ``default_model`` unless an option names one (DCMTK's: -W for
    findscu, -P for getscu and movescu)."""
    p = _cli.parser(prog, description)
    p.add_argument("peer", help="hostname of DICOM peer")
    p.add_argument("port", type=_cli.port_number, help="tcp/ip port number of peer")
    p.add_argument(
        "dcmfile",
        nargs="?",
        help="DICOM query file: its data set is the query identifier, "
        "to which the -k keys are applied",
    )
    _cli.add_logging_options(p)
    network = p.add_argument_group("query information model")
    model = network.add_mutually_exclusive_group()
    for letter in models:
        short, long, about = MODELS[letter]
        about += " (default)" if letter == default_model else ""
        model.add_argument(
            short, long, dest="model", action="store_const", const=letter, help=about
        )
    p.set_defaults(model=default_model)
    _cli.add_calling_titles(p, aetitle=aet)
    keys = p.add_argument_group("query keys")
    keys.add_argument(
        "-k",
        "--key",
        action="append",
        default=[],
        metavar='[k]ey: gggg,eeee="str", path or dictionary name="str"',
        help="add or override a query key; an empty value (or none) asks for the "
        "attribute to be returned; a path such as "
        "ScheduledProcedureStepSequence[0].Modality=MR reaches into sequences; "
        "may be repeated",
    )
    _cli.add_timeout_options(p, connecting=True)
    _cli.add_ip_options(p, server=False)
    run = p.add_argument_group("run")
    run.add_argument(
        "--repeat",
        type=_cli.positive_int,
        default=1,
        metavar="[n]umber",
        help="send the request n times, one after the other, on the association",
    )
    run.add_argument(
        "--abort", action="store_true", help="abort the association instead of releasing it"
    )
    run.add_argument(
        "--cancel",
        type=_cli.positive_int,
        metavar="[n]umber",
        help="cancel (C-CANCEL) after n responses (default: never)",
    )
    _tls.add_tls_options(p, server=False)
    return p


def end(assoc: Association, args: argparse.Namespace) -> None:
    """Release the association, or abort it with --abort."""
    if not assoc.is_established:
        return
    if args.abort:
        assoc.abort()
    else:
        assoc.release()


def cancel_after(
    assoc: Association, responses: Iterable[tuple[Status, Dataset | None]], count: int | None
) -> Iterator[tuple[Status, Dataset | None]]:
    """``responses``, with a C-CANCEL sent after the ``count``-th pending one
    (PS3.4 C.4.1.2.3: the peer then ends with Cancel, or whatever it had
    already decided); read to the final one all the same."""
    pending = 0
    for status, answer in responses:
        yield status, answer
        if status == "Pending":
            pending += 1
            if pending == count:
                assoc.send_c_cancel()


# ------------------------------------------------ incoming C-STORE syntaxes

_UNCOMPRESSED = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2")

#: The compressed syntaxes +xa accepts (the ones storescp accepts).
COMPRESSED = _cli.COMPRESSED

#: DCMTK getscu's and movescu's switches for the C-STORE sub-operations'
#: transfer syntaxes: (names, syntaxes in preference order, what).
INCOMING = (
    (("+x=", "--prefer-uncompr"), _UNCOMPRESSED, "prefer explicit VR little endian (default)"),
    (("+xe", "--prefer-little"), _UNCOMPRESSED, "prefer explicit VR little endian"),
    (
        ("+xb", "--prefer-big"),
        (_UNCOMPRESSED[1], _UNCOMPRESSED[0], _UNCOMPRESSED[2]),
        "prefer explicit VR big endian",
    ),
    (
        ("+xs", "--prefer-lossless"),
        ("1.2.840.10008.1.2.4.70", *_UNCOMPRESSED),
        "prefer JPEG Lossless (SV1), and take the uncompressed syntaxes",
    ),
    (
        ("+xy", "--prefer-jpeg8"),
        ("1.2.840.10008.1.2.4.50", *_UNCOMPRESSED),
        "prefer JPEG Baseline, and take the uncompressed syntaxes",
    ),
    (
        ("+xx", "--prefer-jpeg12"),
        ("1.2.840.10008.1.2.4.51", *_UNCOMPRESSED),
        "prefer JPEG Extended, and take the uncompressed syntaxes",
    ),
    (
        ("+xv", "--prefer-j2k-lossless"),
        ("1.2.840.10008.1.2.4.90", *_UNCOMPRESSED),
        "prefer JPEG 2000 lossless, and take the uncompressed syntaxes",
    ),
    (
        ("+xw", "--prefer-j2k-lossy"),
        ("1.2.840.10008.1.2.4.91", *_UNCOMPRESSED),
        "prefer JPEG 2000, and take the uncompressed syntaxes",
    ),
    (
        ("+xt", "--prefer-jls-lossless"),
        ("1.2.840.10008.1.2.4.80", *_UNCOMPRESSED),
        "prefer JPEG-LS lossless, and take the uncompressed syntaxes",
    ),
    (
        ("+xu", "--prefer-jls-lossy"),
        ("1.2.840.10008.1.2.4.81", *_UNCOMPRESSED),
        "prefer JPEG-LS near-lossless, and take the uncompressed syntaxes",
    ),
    (
        ("+xr", "--prefer-rle"),
        ("1.2.840.10008.1.2.5", *_UNCOMPRESSED),
        "prefer RLE Lossless, and take the uncompressed syntaxes",
    ),
    (
        ("+xd", "--prefer-deflated"),
        ("1.2.840.10008.1.2.1.99", *_UNCOMPRESSED),
        "prefer deflated explicit VR little endian, and take the uncompressed syntaxes",
    ),
    (("+xi", "--implicit"), (_UNCOMPRESSED[2],), "take implicit VR little endian only"),
    (
        ("+xa", "--accept-all"),
        (*_UNCOMPRESSED, *COMPRESSED),
        "take every syntax: uncompressed, deflated, RLE, JPEG, JPEG-LS, JPEG 2000",
    ),
)


def add_incoming_options(p: argparse.ArgumentParser) -> None:
    """The +x switches (the transfer syntaxes the C-STORE sub-operations may
    come in: stored as they come) and --ignore."""
    group = p.add_argument_group(
        "preferred storage transfer syntaxes (incoming C-STOREs)"
    ).add_mutually_exclusive_group()
    for names, syntaxes, about in INCOMING:
        group.add_argument(
            *names, dest="incoming", action="store_const", const=syntaxes, help=about
        )
    p.set_defaults(incoming=_UNCOMPRESSED)
    p.add_argument_group("output").add_argument(
        "--ignore",
        action="store_true",
        help="receive the data sets but do not store them (answering Success)",
    )


class Discard:
    """--ignore: take the bytes, keep nothing, answer Success."""

    def write(self, data: bytes | memoryview) -> None:
        pass

    def commit(self) -> int | None:
        return None

    def discard(self) -> None:
        pass


def parse_args(p: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """The options, which must name a query: -k keys, a query file, or both.
    Without either, a usage error (exit 2) before anything connects, as
    DCMTK's findscu, getscu and movescu refuse (an empty identifier would
    ask for everything, or nothing, by accident)."""
    args = p.parse_args(argv)
    if not args.key and not args.dcmfile:
        p.error("no query given: name a query file, -k keys, or both")
    return args


# ------------------------------------------------------------------- keys


def _segment(text: str) -> tuple[int, int | None]:
    """(tag, item index or None) of one path segment: a tag or a keyword."""
    from pydicom.datadict import tag_for_keyword  # noqa: PLC0415

    match = _TAG.match(text)
    if match:
        group, element, index = match.groups()
        tag = int(group, 16) << 16 | int(element, 16)
    else:
        match = _KEYWORD.match(text)
        found = tag_for_keyword(match.group(1)) if match else None
        if match is None or found is None:
            raise BadKeyError(text)
        tag, index = int(found), match.group(2)
    return tag, None if index is None else int(index)


def _vr(tag: int) -> str:
    from pydicom.datadict import dictionary_VR  # noqa: PLC0415

    try:
        vr: str = dictionary_VR(tag)
    except KeyError:
        return "UN"  # private or unknown: sent as it is written
    return vr.split(" or ", maxsplit=1)[0]


def _value(vr: str, text: str) -> Any:
    """A -k value as pydicom holds it for ``vr`` (None when empty)."""
    if text == "":
        return None
    parts = text.split("\\")
    if vr in _INTEGER_VRS:
        numbers: list[int | float] = [int(part) for part in parts]
    elif vr in _FLOAT_VRS:
        numbers = [float(part) for part in parts]
    elif vr in _BINARY_VRS:
        return text.encode()
    elif vr == "AT":
        tags = [_segment(part)[0] for part in parts]
        return tags[0] if len(tags) == 1 else tags
    else:
        return text
    return numbers[0] if len(numbers) == 1 else numbers


def _item(sequence: list[Dataset], index: int) -> Dataset:
    from pydicom.dataset import Dataset  # noqa: PLC0415

    while len(sequence) <= index:
        sequence.append(Dataset())
    return sequence[index]


def apply_key(ds: Dataset, key: str) -> None:
    """Add or override the attribute ``key`` names (``path[=value]``) in ``ds``."""
    path, _, text = key.partition("=")
    segments = path.strip().split(".")
    if not segments or not all(segments):
        raise BadKeyError(key)
    target = ds
    try:
        for segment in segments[:-1]:
            tag, index = _segment(segment)
            if _vr(tag) != "SQ":
                raise BadKeyError(key)
            if tag not in target or target[tag].VR != "SQ":
                target.add_new(tag, "SQ", [])
            target = _item(target[tag].value, index or 0)
        tag, index = _segment(segments[-1])
        vr = _vr(tag)
        if vr == "SQ":
            if text:
                raise BadKeyError(key)
            if tag not in target or target[tag].VR != "SQ":
                target.add_new(tag, "SQ", [])
            if index is not None:
                _item(target[tag].value, index)
        else:
            target.add_new(tag, vr, _value(vr, text))
    except BadKeyError:
        raise BadKeyError(key) from None
    except ValueError as exc:
        raise BadKeyError(f"{key} ({exc})") from None


def identifier(args: argparse.Namespace, log: logging.Logger) -> Dataset | None:
    """The query identifier: the dcmfile's data set (or an empty one) with the
    -k keys applied; None (and an E: line) if a key or the file is bad."""
    from pydicom import dcmread  # noqa: PLC0415
    from pydicom.dataset import Dataset  # noqa: PLC0415

    if args.dcmfile:
        try:
            ds = dcmread(args.dcmfile, force=True)
        except (OSError, ValueError) as exc:
            log.error("cannot read query file %s: %s", args.dcmfile, exc)
            return None
        query = Dataset(ds)
    else:
        query = Dataset()
    for key in args.key:
        try:
            apply_key(query, key)
        except BadKeyError as exc:
            log.error("bad key format or dictionary name not found in dictionary: %s", exc)
            return None
    return query


# ------------------------------------------------------------------- dump


#: VRs dcmdump shows as numbers (no brackets), and each value's size.
_NUMBERS = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "UV": 8, "SV": 8, "AT": 4}
#: dcmdump's value column width, and the longest value it shows whole
#: (longer ones are cut to 67 characters and "...").
_VALUE_WIDTH, _LONGEST = 40, 70


def dump(ds: Dataset, indent: int = 0, *, padded: bool = False) -> list[str]:
    """The data set as DCMTK's dcmdump shows it: tag, VR, value (strings in
    brackets, numbers bare, binary in hex, well-known UIDs by name, long
    values shortened), then length, multiplicity and name; sequences with
    their items and delimiters.  ``padded`` shows odd-length strings with
    their padding space, as DCMTK's network apps do."""
    from pydicom.datadict import keyword_for_tag  # noqa: PLC0415

    lines = []
    pad = "  " * indent
    for elem in ds:
        tag = f"({elem.tag.group:04x},{elem.tag.element:04x})"
        if elem.tag.is_private_creator:
            keyword = "PrivateCreator"
        else:
            keyword = keyword_for_tag(elem.tag) or "Unknown Tag & Data"
        if elem.VR == "SQ":
            lines += _dump_sequence(elem, tag, keyword, indent, padded)
            continue
        text, length, vm = _shown_value(elem, padded)
        lines.append(f"{pad}{tag} {elem.VR} {_column(text)} #{length:>4},{vm:>2} {keyword}")
    return lines


def _column(text: str) -> str:
    """``text`` padded to the value column, by bytes (UTF-8) as dcmdump counts."""
    return text + " " * max(0, _VALUE_WIDTH - len(text.encode()))


def _shown_value(elem: Any, padded: bool) -> tuple[str, int, int]:
    """An element's value as dcmdump shows it, its length and multiplicity."""
    value = elem.value
    if value is None or value == "" or (isinstance(value, list | tuple) and not value):
        return "(no value available)", 0, 0
    if isinstance(value, bytes):
        size = 2 if elem.VR == "OW" else 1
        words = [value[n : n + size][::-1].hex() for n in range(0, len(value), size)]
        return _shortened_list(words), len(value), 1
    values = list(value) if elem.VM > 1 else [value]
    if elem.VR in _NUMBERS:
        shown = _shortened_list([str(v) for v in values])
        return shown, _NUMBERS[elem.VR] * len(values), len(values)
    joined = "\\".join(str(v) for v in values)
    length = len(joined.encode()) + len(joined.encode()) % 2
    if elem.VR == "UI" and len(values) == 1:
        from pydicom.uid import UID  # noqa: PLC0415

        name = UID(joined).keyword
        if name:
            return f"={name}", length, 1
    if padded and len(joined.encode()) % 2:
        joined += " "  # the padding a value read off the network keeps
    text = f"[{joined}]"
    if len(text) > _LONGEST:
        text = text[: _LONGEST - 3] + "..."
    return text, length, len(values)


def _shortened_list(parts: list[str]) -> str:
    """Values joined by backslashes; if too long, as many whole values as
    fit in 67 characters, then "..." (dcmdump's way with numbers and binary)."""
    whole = "\\".join(parts)
    if len(whole) <= _LONGEST:
        return whole
    shown = parts[0][: _LONGEST - 3]
    for part in parts[1:]:
        if len(shown) + 1 + len(part) > _LONGEST - 3:
            break
        shown += "\\" + part
    return shown + "..."


def _dump_sequence(elem: Any, tag: str, keyword: str, indent: int, padded: bool) -> list[str]:
    """A sequence, its items and delimiters, as dcmdump shows them (lengths
    as received are not kept once decoded: shown as undefined, "u/l")."""
    pad, item_pad = "  " * indent, "  " * (indent + 1)
    items = elem.value or []
    head = _column(f"(Sequence with undefined length #={len(items)})")
    lines = [f"{pad}{tag} SQ {head} # u/l, 1 {keyword}"]
    for item in items:
        head = _column(f"(Item with undefined length #={len(item)})")
        lines.append(f"{item_pad}(fffe,e000) na {head} # u/l, 1 Item")
        lines += dump(item, indent + 2, padded=padded)
        end = _column("(ItemDelimitationItem)")
        lines.append(f"{item_pad}(fffe,e00d) na {end} #   0, 0 ItemDelimitationItem")
    end = _column("(SequenceDelimitationItem)")
    lines.append(f"{pad}(fffe,e0dd) na {end} #   0, 0 SequenceDelimitationItem")
    return lines


#: DCMTK's names of the transfer syntaxes, for its "# Used TransferSyntax" line.
_SYNTAX_NAMES = {
    "1.2.840.10008.1.2": "Little Endian Implicit",
    "1.2.840.10008.1.2.1": "Little Endian Explicit",
    "1.2.840.10008.1.2.2": "Big Endian Explicit",
    "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
}


def log_identifiers_when_sent(
    assoc: Association, log: logging.Logger, query: Dataset, sop_class: str
) -> None:
    """Log ``Request Identifiers:`` and ``query`` once its request has gone,
    after the library's ``Sending ... Request`` line, as DCMTK's apps do."""

    def sent(command: object) -> None:
        assoc.on_request_sent = None  # the query's own request only
        log.info("Request Identifiers:")
        log_dataset(log, query, context_syntax(assoc, sop_class))

    assoc.on_request_sent = sent


def log_dataset(
    log: logging.Logger, ds: Dataset, transfer_syntax: str | None = None, *, received: bool = False
) -> None:
    """The data set at INFO as DCMTK's apps show one: a blank line, the
    header comments (with the transfer syntax it travels in), the elements
    (with their padding if ``received``), a blank line."""
    if log.isEnabledFor(logging.INFO):
        header = ["", "# Dicom-Data-Set"]
        if transfer_syntax:
            name = _SYNTAX_NAMES.get(transfer_syntax, transfer_syntax)
            header.append(f"# Used TransferSyntax: {name}")
        log.info("\n".join([*header, *dump(ds, padded=received), ""]))


def context_syntax(assoc: Association, sop_class: str) -> str | None:
    """The transfer syntax negotiated for ``sop_class`` on ``assoc``, if any."""
    negotiated = assoc.negotiated
    if negotiated is None:
        return None
    for context in negotiated.contexts.values():
        if context.abstract_syntax == sop_class:
            return context.transfer_syntax
    return None


# -------------------------------------------------------------- association


def counts(response: Dataset | None) -> dict[str, int]:
    """The sub-operation counts of a C-GET or C-MOVE response (absent: 0)."""
    result = {}
    for kind in ("Remaining", "Completed", "Failed", "Warning"):
        value = None if response is None else response.get(f"NumberOf{kind}Suboperations")
        result[kind.lower()] = int(value or 0)
    return result


#: The statuses a summary names by their category alone.
_PLAIN = frozenset({GeneralStatus.SUCCESS, GeneralStatus.PENDING})


def status_text(status: Any) -> str:
    """``Success`` or ``Failure 0xA702``: a status's category, and its code
    unless it is plain Success or Pending."""
    name: str = status.category.value
    return name if int(status) in _PLAIN else f"{name} 0x{int(status):04X}"


def retrieve_summary(what: str, status: Any, response: Dataset | None) -> str:
    numbers = counts(response)
    return (
        f"{what} finished ({status_text(status)}): {numbers['completed']} completed, "
        f"{numbers['failed']} failed, {numbers['warning']} warning, "
        f"{numbers['remaining']} remaining"
    )


def retrieve(
    what: str,
    assoc: Association,
    responses: Callable[[], Iterable[tuple[Status, Dataset | None]]],
    log: logging.Logger,
    args: argparse.Namespace,
) -> int:
    """Send the C-GET or C-MOVE ``responses`` makes (--repeat times), read
    each one's responses to the final one (a C-CANCEL after --cancel of
    them), release (or --abort), and report each (``what`` is "Get" or
    "Move"); the exit status."""
    outcomes = []
    for _ in range(args.repeat):
        final = None
        failed_list = None
        for status, answer in cancel_after(assoc, responses(), args.cancel):
            if status != "Pending":
                final, failed_list = status, answer
        if final is None:
            log.error("%s SCU Failed: the association ended before the final response", what)
            return 1
        outcomes.append((final, assoc.last_response, failed_list))
    end(assoc, args)
    worst = 0
    for final, response, failed_list in outcomes:
        worst = max(worst, report(what, final, response, failed_list, log))
    return worst


def report(
    what: str,
    final: Status,
    response: Dataset | None,
    failed_list: Dataset | None,
    log: logging.Logger,
) -> int:
    """Print a retrieve's counts (not with -q); its exit status: 0 if it
    ended in Success or Warning with no sub-operation failed."""
    numbers = counts(response)
    ok = final in ("Success", "Warning") and numbers["failed"] == 0
    if log.isEnabledFor(logging.CRITICAL):
        print(retrieve_summary(what, final, response), flush=True)
    if not ok:
        comment = None if response is None else response.get("ErrorComment")
        why = f" ({comment})" if comment else ""
        meaning = final.meaning(what.lower())
        log.error("%s SCU Failed: %s: %s%s", what, status_text(final), meaning, why)
        uids = None if failed_list is None else failed_list.get("FailedSOPInstanceUIDList")
        for uid in [uids] if isinstance(uids, str) else uids or []:
            log.error("Failed SOP Instance: %s", uid)
    return 0 if ok else 1
