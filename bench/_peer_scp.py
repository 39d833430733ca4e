"""One SCP process of the peer benchmark, for the peers that have no app to run.

Usage::

    python bench/_peer_scp.py IMPL PORT [--mode discard|write|refuse]
                              [--directory D] [--max-pdu N] [--chunked]
                              [--window W]

* ``pynetdicom``: an ``AE`` serving Verification and CT Image Storage with
  pynetdicom's public API.  ``discard`` answers Success without decoding;
  ``write`` writes each data set as a Part 10 file named by its SOP
  Instance UID (``evt.encoded_dataset()``, pynetdicom's fast path: no
  decoding, no fsync); ``--chunked`` receives each data set into a
  temporary file instead of memory (pynetdicom 2.1+), for the 2 GiB case.
* ``dicomul-sync``: ``dicomul_sync.AE``.  The bench runs dicomul's own
  ``storescp`` app for discard and write; this entry exists for ``refuse``
  and for ``--window``: the asynchronous operations window it accepts
  (``AE.maximum_operations_performed``, PS3.7 D.3.3.3), which the app has
  no option for.
* ``dicomul-asyncio``, ``dicomul-trio``: the async adapters'
  ``serve(Handlers(...))``.  ``serve`` takes no operations window, so
  these answer none (window 1) and refuse ``--window``.

``refuse`` answers every C-ECHO with Processing Failure and every C-STORE
with Out of Resources: the smoke test's peer, whose figures must never
count.  Serves until killed (SIGTERM).
"""

from __future__ import annotations

import argparse
import pathlib
import signal
import sys
from collections.abc import Callable
from typing import Any

VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SYNTAXES = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]


def serve_pynetdicom(args: argparse.Namespace) -> None:
    import logging

    from pynetdicom import AE, _config, evt

    from dicomul import GeneralStatus, StoreStatus

    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    if args.chunked:
        _config.STORE_RECV_CHUNKED_DATASET = True
    directory = pathlib.Path(args.directory) if args.directory else None
    refuse = args.mode == "refuse"

    def on_echo(event: Any) -> int:
        return int(GeneralStatus.PROCESSING_FAILURE if refuse else GeneralStatus.SUCCESS)

    def on_store(event: Any) -> int:
        if refuse:
            return int(StoreStatus.OUT_OF_RESOURCES)
        if args.mode == "write":
            assert directory is not None
            path = directory / f"{event.request.AffectedSOPInstanceUID}.dcm"
            path.write_bytes(event.encoded_dataset(include_meta=True))
        return int(StoreStatus.SUCCESS)

    ae = AE(ae_title="BENCHSCP")
    ae.add_supported_context(VERIFICATION)
    ae.add_supported_context(CT_IMAGE_STORAGE, SYNTAXES)
    ae.maximum_pdu_size = args.max_pdu
    ae.maximum_associations = 64
    ae.start_server(
        ("127.0.0.1", args.port),
        block=True,
        evt_handlers=[(evt.EVT_C_ECHO, on_echo), (evt.EVT_C_STORE, on_store)],
    )


def serve_dicomul_sync(args: argparse.Namespace) -> None:
    from dicomul_sync import AE, ServiceRequest, StoreSink

    from dicomul import GeneralStatus, StoreStatus

    ae = AE(
        ae_title="BENCHSCP",
        port=args.port,
        scp_sop_class=[VERIFICATION, CT_IMAGE_STORAGE],
        transfer_syntax=SYNTAXES,
    )
    ae.maximum_pdu_size = args.max_pdu or None
    ae.maximum_associations = 64
    ae.maximum_operations_performed = args.window
    refuse = args.mode == "refuse"

    class Sink:
        def write(self, data: bytes | memoryview) -> None:
            pass

        def commit(self) -> int | None:
            return int(StoreStatus.OUT_OF_RESOURCES) if refuse else None

        def discard(self) -> None:
            pass

    def stream(request: ServiceRequest) -> StoreSink:
        return Sink()

    def echo() -> int:
        return int(GeneralStatus.PROCESSING_FAILURE if refuse else GeneralStatus.SUCCESS)

    ae.on_c_echo = echo  # type: ignore[method-assign]
    if args.mode == "write":
        ae.store_directory = args.directory
    else:
        ae.on_c_store_stream = stream
    signal.signal(signal.SIGTERM, lambda signum, frame: ae.stop(abort=True))
    ae.start()


def serve_dicomul_async(args: argparse.Namespace) -> None:
    """``dicomul_asyncio.serve`` / ``dicomul_trio.serve`` with a discarding
    (or refusing) streaming sink, or the durable directory store."""
    import anyio

    backend = args.impl.removeprefix("dicomul-")
    module = __import__(f"dicomul_{backend}")
    from dicomul import GeneralStatus, StoreStatus

    refuse = args.mode == "refuse"

    class Sink:
        async def write(self, data: bytes | memoryview) -> None:
            pass

        async def commit(self) -> int | None:
            return int(StoreStatus.OUT_OF_RESOURCES) if refuse else None

        async def discard(self) -> None:
            pass

    async def on_c_echo(*_: object) -> int:
        return int(GeneralStatus.PROCESSING_FAILURE if refuse else GeneralStatus.SUCCESS)

    async def on_c_store_stream(*_: object) -> Sink:
        return Sink()

    if args.mode == "write":
        handlers = module.Handlers(on_c_echo=on_c_echo, store_directory=args.directory)
    else:
        handlers = module.Handlers(on_c_echo=on_c_echo, on_c_store_stream=on_c_store_stream)

    async def main() -> None:
        await module.serve(
            handlers,
            host="127.0.0.1",
            port=args.port,
            ae_title="BENCHSCP",
            scp_sop_classes=[VERIFICATION, CT_IMAGE_STORAGE],
            transfer_syntaxes=SYNTAXES,
            max_pdu_length=args.max_pdu,
            maximum_associations=64,
        )

    anyio.run(main, backend=backend)


IMPLS: dict[str, Callable[[argparse.Namespace], None]] = {
    "pynetdicom": serve_pynetdicom,
    "dicomul-sync": serve_dicomul_sync,
    "dicomul-asyncio": serve_dicomul_async,
    "dicomul-trio": serve_dicomul_async,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("impl", choices=sorted(IMPLS))
    parser.add_argument("port", type=int)
    parser.add_argument("--mode", choices=["discard", "write", "refuse"], default="discard")
    parser.add_argument("--directory", help="where --mode write puts the files")
    parser.add_argument("--max-pdu", type=int, default=16384, help="0: no limit")
    parser.add_argument("--chunked", action="store_true", help="pynetdicom: receive to a file")
    parser.add_argument(
        "--window", type=int, default=1, help="dicomul-sync: operations performed at once"
    )
    args = parser.parse_args(argv)
    if args.mode == "write" and not args.directory:
        parser.error("--mode write needs --directory")
    if args.window != 1 and args.impl != "dicomul-sync":
        parser.error(f"--window: {args.impl} accepts no asynchronous operations window here")
    # SIGTERM ends the process (dicomul-sync's server replaces this with AE.stop).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    IMPLS[args.impl](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
