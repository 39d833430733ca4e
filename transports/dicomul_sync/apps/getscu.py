"""getscu: retrieve from a peer with C-GET (PS3.4 C.4.3).

The peer sends each match back on the same association as a C-STORE
sub-operation: the storage SOP classes are proposed with the SCP role
(PS3.7 D.3.3.4) and what arrives is written durably under ``-od``, named by
SOP Instance UID.  DCMTK getscu's query options (``-P -S -O``, ``-k``, a
query file), ``+x=`` ... ``+xa`` for the syntaxes the sub-operations may
come in (proposed in each storage context, in that order of preference),
``--ignore``, ``--repeat``, ``--cancel`` and ``--abort``.  Prints the
sub-operation counts at the end; the exit status is non-zero if the
association fails, any sub-operation fails or the retrieve ends other than
in Success or Warning.

127 of the 176 storage SOP classes fit beside the C-GET model in the 128
presentation contexts an association can carry (PS3.8 9.3.2.2): the ones
archives hold are proposed, and rarely retrieved ones (security screening,
ophthalmic measurements, the rarer waveforms, second generation RT...) are
left out (:func:`dicomul_sync.sop_classes.storage_classes_for_retrieve`).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from . import _cli, _dcmtk, _query

#: The presentation contexts an A-ASSOCIATE-RQ can carry (PS3.8 9.3.2.2).
MAX_CONTEXTS = 128


def build_parser() -> argparse.ArgumentParser:
    p = _query.build_parser(
        "getscu",
        "DICOM retrieve (C-GET) SCU: fetch the matches over the association.",
        models="PSO",
        aet="GETSCU",
    )
    output = p.add_argument_group("output")
    _cli.add_output_directory(output)
    _query.add_incoming_options(p)
    _dcmtk.refuse_the_rest(p, "getscu")
    return p


def main(argv: Sequence[str]) -> int:
    args = _query.parse_args(build_parser(), argv)
    log = _cli.setup_logging(args, "getscu")
    if not os.path.isdir(args.output_directory):
        log.error("no such output directory: %s", args.output_directory)
        return 1

    # After parsing: --help stays fast.
    from dicomul_common.sop_classes import storage_classes_for_retrieve  # noqa: PLC0415

    from dicomul import GET_MODELS  # noqa: PLC0415
    from dicomul_sync.ae import AE  # noqa: PLC0415

    query = _query.identifier(args, log)
    if query is None:
        return 1
    ae = AE(
        ae_title=args.calling_aet,
        scu_sop_class=[GET_MODELS[args.model]],
        scp_sop_class=storage_classes_for_retrieve(MAX_CONTEXTS - 1),
        transfer_syntax=args.incoming,  # proposed for the C-STORE sub-operations
    )
    if args.ignore:
        ae.on_c_store_stream = lambda request: _query.Discard()
    else:
        ae.store_directory = args.output_directory
    assoc = _cli.associate(ae, args)
    if not _cli.accepted(assoc):
        return 1  # why is logged
    _query.log_identifiers_when_sent(assoc, log, query, GET_MODELS[args.model])
    return _query.retrieve(
        "Get", assoc, lambda: assoc.send_c_get(query, query_model=args.model), log, args
    )
