"""qrscp: a query/retrieve SCP over a directory of DICOM files (PS3.4 C).

``--database DIR`` is indexed at start (every DICOM file under it, in an
SQLite table kept in ``DIR/.dicomul-index.sqlite``, or ``--index FILE``,
or in memory with ``--no-index-file``; a start reads only the files added
or changed since the last, see ``_qrindex``) and each file received by
C-STORE is written durably into DIR and indexed.  Serves C-ECHO, C-STORE, and
C-FIND, C-GET and C-MOVE of the Patient Root, Study Root and Patient/Study
Only models at the PATIENT, STUDY, SERIES and IMAGE levels;
``--known-ae AE=host:port`` names the move destinations.  Serves until
interrupted (SIGINT or SIGTERM).

What a peer may ask (PS3.4 C.4): keys are matched in time linear in their
length and the values', outside the index's lock (:mod:`dicomul._matching`);
a date or time key that is neither a value of its VR nor a range of them,
or a level outside the model, is refused with 0xA900 ("Identifier does not
match SOP Class").  A C-GET or C-MOVE selects by the unique keys of its
level and the levels above alone, and must carry them as baseline
retrieve says (a single value above the level; at it, a single Patient ID
or one or more UIDs): an empty or missing one, or a list with an empty
element, is refused with 0xA900 rather than taken as "everything".  A
C-FIND response declares its Specific Character Set when a value needs one:
the request's if it holds them all, else ISO_IR 192 (UTF-8).
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from dicomul import (
    CHARACTER_SET_VRS,
    QUERY_RETRIEVE_LEVELS,
    RANGE_VRS,
    UNIQUE_KEYS,
    InvalidKeyError,
    QueryRetrieveStatus,
    compile_key,
    model_levels,
    response_character_set,
    retrieve_identifier_problem,
)

from . import _cli, _dcmtk, _server, _tls
from ._server import PREFERENCES, VERIFICATION
from .storescp import COMPRESSED

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomul_sync.ae import AE

    from ._qrconfig import Config
    from ._qrindex import Index

#: Patient Root, Study Root, Patient/Study Only x FIND, MOVE, GET.
QUERY_RETRIEVE = tuple(
    f"1.2.840.10008.5.1.4.1.2.{model}.{service}" for model in (1, 2, 3) for service in (1, 2, 3)
)
LOGGER = logging.getLogger("dicomul.app.qrscp")


def known_ae(text: str) -> tuple[str, str, int]:
    try:
        title, address = text.split("=", 1)
        host, port = address.rsplit(":", 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not AE=host:port") from None
    return _cli.ae_title(title.strip()), host, _cli.port_number(port)


def build_parser() -> argparse.ArgumentParser:
    p = _cli.parser(
        "qrscp",
        "DICOM query/retrieve SCP over an indexed directory "
        "(C-ECHO, C-STORE, C-FIND, C-GET, C-MOVE).",
    )
    _server.add_server_options(p, aetitle="QRSCP")
    for action in p._actions:  # as dcmqrscp's [port]: the configuration file may give it
        if action.dest == "port":
            action.nargs = "?"
            action.help = "tcp/ip port number to listen on (default: NetworkTCPPort of -c)"
    database = p.add_argument_group("database")
    source = database.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--database",
        metavar="[d]irectory",
        help="serve the DICOM files under existing directory d, and store received ones there",
    )
    source.add_argument(
        "-c",
        "--config",
        metavar="[f]ilename",
        help="serve the AE titles of dcmqrscp configuration file f instead (its AETable: "
        "a storage area, access R, W or RW, and the peers allowed, per AE title; "
        "its HostTable: move destinations; NetworkTCPPort, MaxPDUSize, MaxAssociations)",
    )
    where = database.add_mutually_exclusive_group()
    where.add_argument(
        "--index",
        metavar="[f]ile",
        help="keep the index of --database in SQLite file f (default: .dicomul-index.sqlite "
        "in each storage area; updated at start from the files added, changed or removed)",
    )
    where.add_argument(
        "--no-index-file",
        action="store_true",
        help="keep the index in memory only: every file is read at each start",
    )
    database.add_argument(
        "--known-ae",
        action="append",
        default=[],
        type=known_ae,
        metavar="AE=host:port",
        help="a move destination (may be repeated)",
    )
    negotiation = p.add_argument_group("association negotiation (as dcmqrscp)")
    negotiation.add_argument(
        "--disable-get",
        action="store_true",
        help="disable C-GET support: its presentation contexts are rejected",
    )
    for short, long, model, about in (
        ("-QP", "--no-patient-root", 1, "Patient Root"),
        ("-QS", "--no-study-root", 2, "Study Root"),
        ("-QO", "--no-patient-study", 3, "Patient/Study Only"),
    ):
        negotiation.add_argument(
            short,
            long,
            dest="without_models",
            action="append_const",
            const=model,
            help=f"do not support the {about} Q/R models (their contexts are rejected)",
        )
    negotiation.add_argument(
        "--refuse",
        action="store_true",
        help="refuse every association (rejected permanent, no reason given)",
    )
    negotiation.add_argument(
        "--reject",
        action="store_true",
        help="reject an association whose request has no implementation class UID "
        "(rejected permanent, service user, no reason given, as DCMTK)",
    )
    p.set_defaults(without_models=[])
    _dcmtk.refuse_the_rest(p, "qrscp")
    return p


def query_retrieve_classes(args: argparse.Namespace) -> list[str]:
    """The Q/R SOP classes served: all but those -QP/-QS/-QO and
    --disable-get take away (PS3.4 C.6: model 1 Patient Root, 2 Study Root,
    3 Patient/Study Only; service 1 FIND, 2 MOVE, 3 GET)."""
    return [
        uid
        for uid in QUERY_RETRIEVE
        if int(uid.split(".")[-2]) not in args.without_models
        and not (args.disable_get and uid.endswith(".3"))
    ]


def _levels() -> tuple[str, ...]:
    """The levels of the information model of the request being served."""
    from dicomul_sync import current_request  # noqa: PLC0415

    try:
        levels = model_levels(current_request().sop_class_uid)
    except LookupError:  # called outside a request (tests): Patient Root
        levels = None
    return levels or QUERY_RETRIEVE_LEVELS["P"]


def _level(identifier: Dataset) -> str:
    return str(identifier.get("QueryRetrieveLevel", "")).strip().upper()


def _refusal(problem: str) -> int:
    """Log why an identifier is refused, and the status that says so."""
    status = QueryRetrieveStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS
    LOGGER.warning("Identifier does not match SOP Class (%s): answering 0x%04X", problem, status)
    return status


def _date_time_problem(identifier: Dataset) -> str | None:
    """The first date, time or date-time key, indexed or not, that is
    neither a value of its VR nor a range of them (PS3.5 6.2, PS3.4
    C.2.2.2.5), or None."""
    from ._qrindex import identifier_keys  # noqa: PLC0415

    vrs = {elem.keyword: elem.VR for elem in identifier if elem.VR in RANGE_VRS and elem.keyword}
    for keyword, key in identifier_keys(identifier, vrs).items():
        try:
            compile_key(key, vrs[keyword])
        except InvalidKeyError as exc:
            return f"{keyword}: {exc}"
    return None


def find(index: Index, identifier: Dataset) -> Iterator[Dataset | tuple[int, Dataset]]:
    """The C-FIND responses: the requested keys with the index's values, the
    QueryRetrieveLevel, and the unique keys of the levels above; refused
    (0xA900, PS3.4 C.4.1.1.4) for a level outside the model or a date or
    time key that is no value nor range."""
    from pydicom.dataset import Dataset  # noqa: PLC0415

    from ._qrindex import identifier_keys  # noqa: PLC0415

    level, levels = _level(identifier), _levels()
    problem = (
        f"no Query/Retrieve Level {level!r} in this model"
        if level not in levels
        else _date_time_problem(identifier)
    )
    if problem is not None:
        yield _refusal(problem), Dataset()
        return
    entities = index.find(level, identifier_keys(identifier))
    uniques = [UNIQUE_KEYS[lv] for lv in levels[: levels.index(level) + 1]]
    for values in entities:
        yield _response(identifier, values, uniques, level)


def _response(
    identifier: Dataset, values: dict[str, str], uniques: list[str], level: str
) -> Dataset:
    """One C-FIND response identifier (PS3.4 C.4.1.1.3.2): each requested
    key with the entity's value (empty if not indexed), the unique keys of
    the level and those above it, the level, and the Specific Character Set
    that its values need (:func:`dicomul.response_character_set`)."""
    from pydicom.dataelem import DataElement  # noqa: PLC0415
    from pydicom.dataset import Dataset  # noqa: PLC0415

    ds = Dataset()
    for elem in identifier:
        if elem.keyword in ("QueryRetrieveLevel", "SpecificCharacterSet"):
            continue
        if elem.keyword in values:
            ds.add(DataElement(elem.tag, elem.VR, values[elem.keyword] or None))
        else:  # asked for but not indexed (or of a lower level): empty
            ds.add(DataElement(elem.tag, elem.VR, [] if elem.VR == "SQ" else None))
    for keyword in uniques:
        if keyword not in ds:
            setattr(ds, keyword, values[keyword])
    ds.QueryRetrieveLevel = level
    texts = [str(e.value) for e in ds if e.VR in CHARACTER_SET_VRS and e.value]
    charset = response_character_set(texts, _character_sets(identifier))
    if charset is not None:
        ds.SpecificCharacterSet = charset
    return ds


def _character_sets(identifier: Dataset) -> list[str]:
    """The request's Specific Character Set values (none: the default)."""
    value = identifier.get("SpecificCharacterSet")
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def retrieve(index: Index, identifier: Dataset) -> list[str | tuple[int, None]]:
    """The files of the instances a C-GET or C-MOVE identifier names by its
    unique keys; or, if it lacks one it must carry (baseline retrieve, PS3.4
    C.4.2.2.1, C.4.3.2.1: an empty or missing unique key, a list with an
    empty element), 0xA900 and nothing sent."""
    from ._qrindex import identifier_keys  # noqa: PLC0415

    level, levels = _level(identifier), _levels()
    keys = identifier_keys(identifier)
    problem = retrieve_identifier_problem(levels, level, keys)
    if problem is not None:
        return [(_refusal(problem), None)]
    unique = [UNIQUE_KEYS[lv] for lv in levels[: levels.index(level) + 1]]
    return list(index.paths({keyword: keys[keyword] for keyword in unique}))


def open_index(
    directory: pathlib.Path, args: argparse.Namespace, log: logging.Logger
) -> Index | None:
    """The database's index, brought up to date with its files: kept in
    ``--index`` or the database directory's INDEX_NAME file, in memory with
    ``--no-index-file`` or if that file cannot be written (a read-only
    archive); None (logged) if the path holds another program's database."""
    import sqlite3  # noqa: PLC0415

    from ._qrindex import INDEX_NAME, ForeignIndexError, Index  # noqa: PLC0415

    path = None if args.no_index_file else pathlib.Path(args.index or directory / INDEX_NAME)
    try:
        index = Index(directory, path)
    except ForeignIndexError as exc:
        log.error("%s (choose another with --index, or --no-index-file)", exc)
        return None
    except sqlite3.Error as exc:
        log.warning("Cannot use the index file %s (%s): indexing in memory", path, exc)
        index = Index(directory)
    started = time.monotonic()
    count = index.scan()
    log.info(
        "Indexed %d files under %s in %.1f s%s",
        count, directory, time.monotonic() - started, f" ({index.path})" if index.path else "",
    )  # fmt: skip
    return index


def _configured(
    parser: argparse.ArgumentParser, args: argparse.Namespace, log: logging.Logger
) -> Config | None:
    """The -c configuration, its global parameters applied to ``args``
    where the command line left them at their default; None (logged) if it
    cannot be used."""
    from ._qrconfig import ConfigError, read_config  # noqa: PLC0415

    if args.index is not None:
        parser.error("--index is for --database; with -c, each storage area has its own index")
    try:
        config = read_config(args.config)
        if config.max_pdu_size is not None:
            _cli.pdu_length(str(config.max_pdu_size))
    except (OSError, ConfigError, argparse.ArgumentTypeError) as exc:
        log.error("Cannot use the configuration: %s", exc)
        return None
    missing = [a for a in config.areas.values() if not a.directory.is_dir()]
    for area in missing:
        log.error("storage area of %s does not exist: %s", area.title, area.directory)
    if missing:
        return None
    if args.port is None:
        args.port = config.port
    for name, value in (
        ("max_pdu", config.max_pdu_size),
        ("max_associations", config.max_associations),
    ):
        if value is not None and getattr(args, name) == parser.get_default(name):
            setattr(args, name, value)
    return config


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log = _cli.setup_logging(args, "qrscp")
    config = None
    if args.config is not None:
        config = _configured(parser, args, log)
        if config is None:
            return 1
    if args.port is None:
        parser.error("the port is missing (and no NetworkTCPPort in a -c configuration)")
    directory = pathlib.Path(args.database or os.curdir)
    if config is None and not directory.is_dir():
        log.error("database directory does not exist: %s", directory)
        return 1

    from dicomul_common.sop_classes import storage_classes_to_accept  # noqa: PLC0415

    from dicomul_sync import StorageSOPClassList  # noqa: PLC0415 - after parsing: fast --help
    from dicomul_sync.ae import AE  # noqa: PLC0415

    syntaxes = PREFERENCES[args.preference]
    if args.preference != "implicit":
        syntaxes += COMPRESSED
    ae = AE(
        ae_title=args.aetitle,
        port=args.port,
        scp_sop_class=[VERIFICATION, *storage_classes_to_accept(), *query_retrieve_classes(args)],
        scu_sop_class=list(StorageSOPClassList),
        transfer_syntax=syntaxes,
    )
    _server.configure(ae, args)
    ae.refuse_associations = args.refuse
    ae.require_implementation_class_uid = args.reject
    destinations = config.destinations() if config is not None else {}
    destinations.update({title: (host, port) for title, host, port in args.known_ae})
    ae.move_destinations = destinations
    # Served over TLS, moves go over TLS too, the destination authenticated as
    # -rc/-vc/-ic say (and only if there is one: with none, nothing to trust).
    ae.move_ssl_context = _tls.client_tls(args) if destinations else None
    if config is not None:
        return _serve_areas(ae, args, config, log)

    index = open_index(directory, args, log)
    if index is None:
        return 1
    ae.store_directory = str(directory)

    def stored(path: pathlib.Path) -> None:
        indexed = index.add(path)
        log.info("Stored %s%s", path, "" if indexed else " (not indexed)")

    def on_find(identifier: Dataset) -> Iterator[Dataset | tuple[int, Dataset]]:
        return find(index, identifier)

    def on_get(identifier: Dataset) -> list[str | tuple[int, None]]:
        return retrieve(index, identifier)

    def on_move(identifier: Dataset, move_aet: str) -> list[str | tuple[int, None]]:
        return retrieve(index, identifier)

    ae.on_c_stored = stored  # type: ignore[method-assign]
    ae.on_c_find = on_find  # type: ignore[method-assign]
    # A (status, None) item refuses the retrieve (see Services._matches).
    ae.on_c_get = on_get  # type: ignore[method-assign]
    ae.on_c_move = on_move  # type: ignore[method-assign]
    return _server.serve(ae, args)


def permitted_peers(
    config: Config, log: logging.Logger
) -> dict[str, tuple[tuple[str, frozenset[str]], ...]]:
    """Who may call each AE title that does not allow ANY: its peers'
    titles, each from the addresses its host name resolves to (looked up
    once, here).  dcmqrscp compares the host name it looks the peer's
    address up to (or, with its -dhl, the address itself) with the name
    written; here the name written is resolved, so a name or an IP address
    both work.  A host that does not resolve admits nobody (logged)."""
    import socket  # noqa: PLC0415

    resolved: dict[str, frozenset[str]] = {}

    def addresses(host: str) -> frozenset[str]:
        if host not in resolved:
            try:
                infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
                resolved[host] = frozenset(str(info[4][0]) for info in infos)
            except (OSError, UnicodeError) as exc:
                log.warning("host %s does not resolve (%s): its peers are refused", host, exc)
                resolved[host] = frozenset({f"unresolved:{host}"})
        return resolved[host]

    return {
        title: tuple((peer.title, addresses(peer.host)) for peer in area.peers)
        for title, area in config.areas.items()
        if area.peers is not None
    }


def _serve_areas(ae: AE, args: argparse.Namespace, config: Config, log: logging.Logger) -> int:
    """Serve the AE titles of ``config``, each over its storage area
    (:mod:`._qrareas`: unknown called titles and calling titles no AE title
    lists are rejected; what a peer may not do is refused per request)."""
    from ._qrareas import Areas  # noqa: PLC0415

    indexes: dict[str, Index] = {}
    by_directory: dict[pathlib.Path, Index] = {}
    for title, area in config.areas.items():
        where = area.directory.resolve()
        if where not in by_directory:
            index = open_index(area.directory, args, log)
            if index is None:
                return 1
            by_directory[where] = index
        indexes[title] = by_directory[where]
        log.info(
            "AE title %s: %s, %s, peers %s", title, area.directory,
            "RW" if area.readable and area.writable else "R" if area.readable else "W",
            "ANY" if area.peers is None else ", ".join(p.title for p in area.peers) or "none",
        )  # fmt: skip
    areas = Areas(config.areas, indexes, find, retrieve)
    # PS3.8 9.3.4: RJ reason 7 for any other called AE title; and, as
    # dcmqrscp answers a peer an AE title's list does not name (title and
    # host, DCMTK's dcmqrset.txt step 10), reason 7 too: permitted_peers().
    ae.require_called_aet = list(config.areas)
    ae.permitted_peers = permitted_peers(config, log)
    ae.on_c_store_stream = areas.store_sink
    ae.on_c_find = areas.find  # type: ignore[method-assign]
    ae.on_c_get = areas.retrieve  # type: ignore[method-assign]
    ae.on_c_move = lambda identifier, move_aet: areas.retrieve(identifier)  # type: ignore[method-assign]
    return _server.serve(ae, args)
