"""qrscp: a query/retrieve SCP over a directory of DICOM files (PS3.4 C).

``--database DIR`` is indexed at start (every DICOM file under it, in an
in-memory SQLite table, see ``_qrindex``) and each file received by C-STORE
is written durably into DIR and indexed.  Serves C-ECHO, C-STORE, and
C-FIND, C-GET and C-MOVE of the Patient Root, Study Root and Patient/Study
Only models at the PATIENT, STUDY, SERIES and IMAGE levels;
``--known-ae AE=host:port`` names the move destinations.  Serves until
interrupted (SIGINT or SIGTERM).
"""

from __future__ import annotations

import argparse
import pathlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from . import _cli, _server, _tls
from ._server import PREFERENCES, VERIFICATION
from .storescp import COMPRESSED

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from ._qrindex import Index

#: Patient Root, Study Root, Patient/Study Only x FIND, MOVE, GET.
QUERY_RETRIEVE = tuple(
    f"1.2.840.10008.5.1.4.1.2.{model}.{service}" for model in (1, 2, 3) for service in (1, 2, 3)
)
IDENTIFIER_DOES_NOT_MATCH = 0xA900


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
    database = p.add_argument_group("database")
    database.add_argument(
        "--database",
        required=True,
        metavar="[d]irectory",
        help="serve the DICOM files under existing directory d, and store received ones there",
    )
    database.add_argument(
        "--known-ae",
        action="append",
        default=[],
        type=known_ae,
        metavar="AE=host:port",
        help="a move destination (may be repeated)",
    )
    return p


#: The levels of each information model by its SOP class UID's model digit
#: (PS3.4 C.6.1-C.6.3: Patient Root, Study Root, Patient/Study Only).
_MODEL_LEVELS = {
    "1": ("PATIENT", "STUDY", "SERIES", "IMAGE"),
    "2": ("STUDY", "SERIES", "IMAGE"),
    "3": ("PATIENT", "STUDY"),
}


def _model() -> str:
    """The information model of the request being served ('1', '2' or '3')."""
    from dicomul_sync import current_request  # noqa: PLC0415

    try:
        model = current_request().sop_class_uid.split(".")[-2]
    except LookupError:  # called outside a request (tests): Patient Root
        return "1"
    return model if model in _MODEL_LEVELS else "1"


def _level(identifier: Dataset) -> str:
    return str(identifier.get("QueryRetrieveLevel", "")).strip().upper()


def find(index: Index, identifier: Dataset) -> Iterator[Dataset | tuple[int, Dataset]]:
    """The C-FIND responses: the requested keys with the index's values, the
    QueryRetrieveLevel, and the unique keys of the levels above."""
    from pydicom.dataelem import DataElement  # noqa: PLC0415
    from pydicom.dataset import Dataset  # noqa: PLC0415

    from ._qrindex import identifier_keys, unique_keys_above  # noqa: PLC0415

    level = _level(identifier)
    model = _model()
    if level not in _MODEL_LEVELS[model]:
        yield IDENTIFIER_DOES_NOT_MATCH, Dataset()  # PS3.4 C.4.1.1.4
        return
    for values in index.find(level, identifier_keys(identifier)):
        ds = Dataset()
        if "SpecificCharacterSet" in identifier:
            ds.SpecificCharacterSet = identifier.SpecificCharacterSet
        for elem in identifier:
            if elem.keyword in ("QueryRetrieveLevel", "SpecificCharacterSet"):
                continue
            if elem.keyword in values:
                ds.add(DataElement(elem.tag, elem.VR, values[elem.keyword] or None))
            else:  # asked for but not indexed (or of a lower level): empty
                ds.add(DataElement(elem.tag, elem.VR, [] if elem.VR == "SQ" else None))
        for keyword in unique_keys_above(level):
            if model == "2" and keyword == "PatientID":
                continue  # Study Root: no patient level above the study
            if keyword not in ds:
                setattr(ds, keyword, values[keyword])
        ds.QueryRetrieveLevel = level
        yield ds


def retrieve(index: Index, identifier: Dataset) -> list[str]:
    """The files of the instances a C-GET or C-MOVE identifier matches."""
    from ._qrindex import identifier_keys  # noqa: PLC0415

    if _level(identifier) not in _MODEL_LEVELS[_model()]:
        raise ValueError(f"no Query/Retrieve Level {_level(identifier)!r} in this model")
    return index.paths(identifier_keys(identifier))


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    log = _cli.setup_logging(args, "qrscp")
    directory = pathlib.Path(args.database)
    if not directory.is_dir():
        log.error("database directory does not exist: %s", directory)
        return 1

    from dicomul_sync import StorageSOPClassList  # noqa: PLC0415 - after parsing: fast --help
    from dicomul_sync.ae import AE  # noqa: PLC0415
    from dicomul_sync.sop_classes import storage_classes_to_accept  # noqa: PLC0415

    from ._qrindex import Index  # noqa: PLC0415

    index = Index(directory)
    log.info("Indexed %d files under %s", index.scan(), directory)

    syntaxes = PREFERENCES[args.preference]
    if args.preference != "implicit":
        syntaxes += COMPRESSED
    ae = AE(
        ae_title=args.aetitle,
        port=args.port,
        scp_sop_class=[VERIFICATION, *storage_classes_to_accept(), *QUERY_RETRIEVE],
        scu_sop_class=list(StorageSOPClassList),
        transfer_syntax=syntaxes,
    )
    _server.configure(ae, args)
    ae.move_destinations = {title: (host, port) for title, host, port in args.known_ae}
    # Served over TLS, moves go over TLS too, the destination authenticated as
    # -rc/-vc/-ic say (and only if there is one: with none, nothing to trust).
    ae.move_ssl_context = _tls.client_tls(args) if args.known_ae else None
    ae.store_directory = str(directory)

    def stored(path: pathlib.Path) -> None:
        indexed = index.add(path)
        log.info("Stored %s%s", path, "" if indexed else " (not indexed)")

    def on_find(identifier: Dataset) -> Iterator[Dataset | tuple[int, Dataset]]:
        return find(index, identifier)

    def on_get(identifier: Dataset) -> list[str]:
        return retrieve(index, identifier)

    def on_move(identifier: Dataset, move_aet: str) -> list[str]:
        return retrieve(index, identifier)

    ae.on_c_stored = stored  # type: ignore[method-assign]
    ae.on_c_find = on_find  # type: ignore[method-assign]
    ae.on_c_get = on_get  # type: ignore[method-assign]
    ae.on_c_move = on_move  # type: ignore[method-assign]
    return _server.serve(ae, args)
