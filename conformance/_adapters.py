"""One face for the three adapters, so that a behaviour scenario is written
once (conformance/test_behaviour.py) and run against each.

* :func:`connect` opens an association with any adapter as SCU and yields
  an :class:`Scu`: an async facade, the blocking ``dicomul_sync``
  Association wrapped with ``anyio.to_thread.run_sync``, the async one
  (``dicomul_asyncio`` / ``dicomul_trio``) as it is.  Failures are the
  same exceptions for all three: :class:`NotEstablishedError` (rejected,
  aborted, timed out before the association was up) and :class:`EndedError`
  (the association ended under an operation).
* :func:`serving` starts any adapter as SCP with one handler vocabulary
  (:class:`Scp`, plain functions, which both servers accept) and yields
  its port: the sync ``AE`` in a thread; the async ``serve`` in a task
  group via ``TaskGroup.start`` when its framework is the one running the
  test, else in a blocking portal of its own framework (asyncio SCU
  against trio SCP, say).
* :data:`CAPABILITIES` says what each adapter does differently, so that a
  scenario asserts the documented difference instead of skipping.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import pathlib
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import dicomul_asyncio
import dicomul_trio
import sniffio
from dicomul_anyio import Handlers
from dicomul_sync import AE
from peers import serving as sync_serving
from pydicom.dataset import Dataset

__all__ = [
    "ADAPTERS",
    "ASYNC",
    "CAPABILITIES",
    "HOST",
    "Capabilities",
    "EndedError",
    "NotEstablishedError",
    "Scp",
    "Scu",
    "backend_for",
    "connect",
    "serving",
]

HOST = "127.0.0.1"
ADAPTERS = ("sync", "asyncio", "trio")
ASYNC = ("asyncio", "trio")
VERIFICATION = "1.2.840.10008.1.1"


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """Where an adapter differs by design (README), asserted by the suite.

    ``stream``: ``c_store`` takes an async iterable of bytes (the blocking
    SCU has no async source to read).  ``displaces_idle``: at its
    association limit the SCP hands an idle association's slot to a new
    peer (``AE.displace_idle_after``, ``serve(displace_idle_after=)``);
    every server does now.  ``cancels``: a task cancelled
    mid-operation aborts the association (PS3.8 7.3) with whole PDUs sent
    (the blocking SCU has no cancellation: its ``abort()`` is called
    between operations).
    """

    stream: bool
    displaces_idle: bool
    cancels: bool


CAPABILITIES: Mapping[str, Capabilities] = {
    "sync": Capabilities(stream=False, displaces_idle=True, cancels=False),
    "asyncio": Capabilities(stream=True, displaces_idle=True, cancels=True),
    "trio": Capabilities(stream=True, displaces_idle=True, cancels=True),
}


def backend_for(scu: str, scp: str) -> str:
    """The anyio backend a scenario runs on: the SCU's framework if it is
    async, else the SCP's, else asyncio (both blocking: any will do)."""
    for kind in (scu, scp):
        if kind in ASYNC:
            return kind
    return "asyncio"


def package(kind: str) -> Any:
    return dicomul_asyncio if kind == "asyncio" else dicomul_trio


class NotEstablishedError(Exception):
    """The association was not established: rejected (``rejected`` True),
    aborted, or given up by a timer."""

    def __init__(self, message: str, *, rejection: tuple[int, int, int] | None = None) -> None:
        super().__init__(message)
        #: (result, source, reason) of the A-ASSOCIATE-RJ (PS3.8 9.3.4), if rejected.
        self.rejection = rejection

    @property
    def rejected(self) -> bool:
        return self.rejection is not None


def _rejection(pdu: Any) -> tuple[int, int, int]:
    return int(pdu.result), int(pdu.source), int(pdu.reason)


class EndedError(Exception):
    """The association ended (aborted, by a timer or the peer) under an operation."""


# ------------------------------------------------------------------ SCU


class Scu:
    """An association, async, whatever adapter holds it.

    Statuses are ints; the N services return (status Dataset, reply).  The
    blocking API's "nothing" (None: no accepted context, or the association
    ended under the call) and the async AssociationAbortedError both
    become :class:`EndedError`.
    """

    def __init__(
        self, kind: str, assoc: Any, *, get_directory: pathlib.Path | None = None
    ) -> None:
        self.kind = kind
        self.assoc = assoc
        # Where an async C-GET stores (the blocking AE was given it in connect).
        self._get_directory = get_directory

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES[self.kind]

    @property
    def is_established(self) -> bool:
        return bool(self.assoc.is_established)

    async def _sync(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        result = await anyio.to_thread.run_sync(functools.partial(call, *args, **kwargs))
        if result is None or result == (None, None):
            raise EndedError(f"{getattr(call, '__name__', call)}: no response")
        return result

    async def _async(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await call(*args, **kwargs)
        except package(self.kind).AssociationAbortedError as exc:
            raise EndedError(str(exc)) from exc

    async def c_echo(self) -> int:
        if self.kind == "sync":
            return int((await self._sync(self.assoc.send_c_echo)).Status)
        return int((await self._async(self.assoc.c_echo)).Status)

    async def c_store(self, item: Dataset | pathlib.Path | AsyncIterable[bytes], **kw: Any) -> int:
        """``item`` a Dataset, a Part 10 path, or (if :attr:`capabilities`
        say so) an async stream of the encoded data set with the keywords
        ``sop_class_uid``, ``sop_instance_uid``, ``transfer_syntax``."""
        if self.kind == "sync":
            assert not isinstance(item, AsyncIterable), "the sync SCU takes no stream"
            return int((await self._sync(self.assoc.send_c_store, item)).Status)
        return int((await self._async(self.assoc.c_store, item, **kw)).Status)

    async def c_find(
        self, query: Dataset, model: str = "P", *, stop_after: int | None = None
    ) -> list[tuple[int, Dataset | None]]:
        """The responses, in order; with ``stop_after``, the loop is left
        after that many (the adapter then cancels and drains)."""
        return await self._query("find", query, model, stop_after=stop_after)

    async def c_get(self, query: Dataset, model: str = "P") -> list[tuple[int, Dataset | None]]:
        """Stored into the ``get_directory`` given to :func:`connect`."""
        return await self._query("get", query, model)

    async def c_move(
        self, query: Dataset, destination: str, model: str = "P"
    ) -> list[tuple[int, Dataset | None]]:
        return await self._query("move", query, model, destination=destination)

    async def _query(
        self,
        what: str,
        query: Dataset,
        model: str,
        *,
        stop_after: int | None = None,
        destination: str | None = None,
    ) -> list[tuple[int, Dataset | None]]:
        answers: list[tuple[int, Dataset | None]] = []
        if self.kind == "sync":

            def run() -> list[tuple[int, Dataset | None]]:
                if what == "move":
                    responses = self.assoc.send_c_move(query, destination, model)
                elif what == "get":
                    responses = self.assoc.send_c_get(query, model)
                else:
                    responses = self.assoc.send_c_find(query, model)
                with contextlib.closing(responses):
                    for status, identifier in responses:
                        answers.append((int(status), identifier))
                        if len(answers) == stop_after:
                            break
                return answers

            await anyio.to_thread.run_sync(run)
            if not answers:
                raise EndedError(f"C-{what.upper()}: no response")
            return answers
        if what == "move":
            responses = self.assoc.c_move(query, destination, model)
        elif what == "get":
            responses = self.assoc.c_get(query, model, store_directory=self._get_directory)
        else:
            responses = self.assoc.c_find(query, model)
        try:
            async with contextlib.aclosing(responses) as each:
                async for status, identifier in each:
                    answers.append((int(status), identifier))
                    if len(answers) == stop_after:
                        break
        except package(self.kind).AssociationAbortedError as exc:
            raise EndedError(str(exc)) from exc
        return answers

    async def n(self, service: str, *args: Any) -> tuple[Dataset, Dataset | None]:
        """DIMSE-N ``service`` ('create', 'set', ...) with the sync API's
        positional arguments (which the async one shares)."""
        if self.kind == "sync":
            status, reply = await self._sync(getattr(self.assoc, f"send_n_{service}"), *args)
            if status is None:
                raise EndedError(f"N-{service.upper()}: no response")
            return status, reply
        return tuple(await self._async(getattr(self.assoc, f"n_{service}"), *args))  # type: ignore[return-value]

    async def abort(self) -> None:
        if self.kind == "sync":
            await anyio.to_thread.run_sync(self.assoc.abort)
        else:
            await self.assoc.abort()

    async def release(self) -> None:
        if self.kind == "sync":
            await anyio.to_thread.run_sync(self.assoc.release)
        else:
            await self.assoc.release()


@contextlib.asynccontextmanager
async def connect(
    kind: str,
    port: int,
    *,
    called: str = "BEHAVE",
    sop_classes: Sequence[str] = (VERIFICATION,),
    scp_sop_classes: Sequence[str] = (),
    transfer_syntaxes: Sequence[str] | None = None,
    get_directory: pathlib.Path | None = None,
    acse_timeout: float | None = 5,
    dimse_timeout: float | None = 5,
    network_timeout: float | None = None,
    ssl_context: ssl.SSLContext | None = None,
    host: str = HOST,
) -> AsyncIterator[Scu]:
    """An association with ``kind`` as SCU; released on leaving the block
    (unless it already ended). Raises :class:`NotEstablishedError`."""
    if kind == "sync":
        ae = AE(ae_title="BEHAVESCU", scu_sop_class=sop_classes, scp_sop_class=scp_sop_classes)
        if transfer_syntaxes is not None:
            ae.transfer_syntax = list(transfer_syntaxes)
        ae.acse_timeout, ae.dimse_timeout = acse_timeout, dimse_timeout
        ae.network_timeout = network_timeout
        if get_directory is not None:
            ae.store_directory = str(get_directory)
        assoc = await anyio.to_thread.run_sync(
            functools.partial(ae.associate, host, port, called, ssl_context=ssl_context)
        )
        if not assoc.is_established:
            if assoc.is_rejected:
                raise NotEstablishedError("rejected", rejection=_rejection(assoc.rejection.pdu))
            raise NotEstablishedError("aborted")
        scu = Scu(kind, assoc)
        try:
            yield scu
        except BaseException:
            await anyio.to_thread.run_sync(assoc.abort)
            raise
        await anyio.to_thread.run_sync(assoc.release)
        return
    pkg = package(kind)
    options: dict[str, Any] = {}
    if transfer_syntaxes is not None:
        options["transfer_syntaxes"] = list(transfer_syntaxes)
    cm = pkg.connect(
        host,
        port,
        ae_title="BEHAVESCU",
        called_ae_title=called,
        sop_classes=list(sop_classes),
        scp_sop_classes=list(scp_sop_classes),
        acse_timeout=acse_timeout,
        dimse_timeout=dimse_timeout,
        network_timeout=network_timeout,
        ssl_context=ssl_context,
        **options,
    )
    try:
        assoc = await cm.__aenter__()
    except pkg.AssociationRejectedError as exc:
        raise NotEstablishedError(str(exc), rejection=_rejection(exc.event.pdu)) from exc
    except (pkg.AssociationAbortedError, TimeoutError) as exc:
        raise NotEstablishedError(repr(exc)) from exc
    scu = Scu(kind, assoc, get_directory=get_directory)
    try:
        yield scu
    except BaseException as exc:
        if not await cm.__aexit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        await cm.__aexit__(None, None, None)


# ------------------------------------------------------------------ SCP


@dataclasses.dataclass
class Scp:
    """An SCP's settings and handlers, in the vocabulary both servers
    share: plain functions, called as each server's handler of that name.

    ``handlers`` maps ``on_c_echo``, ``on_c_store``, ``on_c_find``,
    ``on_c_get``, ``on_c_move``, ``on_n_*`` (and ``on_c_stored``) to
    callables.
    """

    ae_title: str = "BEHAVE"
    sop_classes: Sequence[str] = (VERIFICATION,)
    scu_sop_classes: Sequence[str] = ()
    handlers: Mapping[str, Callable[..., Any]] = dataclasses.field(default_factory=dict)
    store_directory: pathlib.Path | None = None
    move_destinations: Mapping[str, tuple[str, int]] = dataclasses.field(default_factory=dict)
    require_called_aet: bool = False
    maximum_associations: int = 10
    max_pdu_length: int = 16384
    acse_timeout: float | None = 5
    dimse_timeout: float | None = 5
    network_timeout: float | None = None
    ssl_context: ssl.SSLContext | None = None
    #: None never displaces (see Capabilities.displaces_idle).
    displace_idle_after: float | None = None
    #: Called with each C-STORE request; returns a sink with *blocking*
    #: ``write(data)``, ``commit() -> status | None`` and ``discard()``
    #: (the blocking AE's StoreSink); the async server gets it wrapped in
    #: :class:`_AsyncSink`.
    on_c_store_stream: Callable[[Any], Any] | None = None


class _AsyncSink:
    """A blocking store sink as the async server's AsyncStoreSink (its
    calls are quick, in memory: made on the event loop)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink

    async def write(self, data: bytes) -> None:
        self.sink.write(data)

    async def commit(self) -> int | None:
        status = self.sink.commit()
        return None if status is None else int(status)

    async def discard(self) -> None:
        self.sink.discard()


def _sync_ae(scp: Scp) -> AE:
    ae = AE(
        ae_title=scp.ae_title,
        scp_sop_class=scp.sop_classes,
        scu_sop_class=scp.scu_sop_classes,
    )
    for name, handler in scp.handlers.items():
        setattr(ae, name, handler)
    if scp.store_directory is not None:
        ae.store_directory = str(scp.store_directory)
    ae.move_destinations = dict(scp.move_destinations)
    ae.require_called_aet = scp.require_called_aet
    ae.maximum_associations = scp.maximum_associations
    ae.maximum_pdu_size = scp.max_pdu_length
    ae.acse_timeout, ae.dimse_timeout = scp.acse_timeout, scp.dimse_timeout
    ae.network_timeout = scp.network_timeout
    ae.displace_idle_after = scp.displace_idle_after
    ae.ssl_context = scp.ssl_context
    ae.on_c_store_stream = scp.on_c_store_stream
    return ae


def _serve_call(kind: str, scp: Scp) -> Callable[..., Any]:
    factory = scp.on_c_store_stream
    handlers = Handlers(
        on_c_store_stream=None
        if factory is None
        else (lambda request: _AsyncSink(factory(request))),
        store_directory=scp.store_directory,
        move_destinations=dict(scp.move_destinations),
        **scp.handlers,
    )
    return functools.partial(
        package(kind).serve,
        handlers,
        port=0,
        host=HOST,
        ae_title=scp.ae_title,
        scp_sop_classes=list(scp.sop_classes),
        scu_sop_classes=list(scp.scu_sop_classes),
        require_called_aet=scp.require_called_aet,
        maximum_associations=scp.maximum_associations,
        max_pdu_length=scp.max_pdu_length,
        acse_timeout=scp.acse_timeout,
        dimse_timeout=scp.dimse_timeout,
        network_timeout=scp.network_timeout,
        displace_idle_after=scp.displace_idle_after,
        ssl_context=scp.ssl_context,
    )


@contextlib.asynccontextmanager
async def _in_task_group(serve: Callable[..., Any]) -> AsyncIterator[int]:
    async with anyio.create_task_group() as group:
        port = await group.start(serve)
        yield int(port)
        group.cancel_scope.cancel()


@contextlib.contextmanager
def _in_portal(kind: str, serve: Callable[..., Any]) -> Iterator[int]:
    with (
        anyio.from_thread.start_blocking_portal(kind) as portal,
        portal.wrap_async_context_manager(_in_task_group(serve)) as port,
    ):
        yield port


@contextlib.asynccontextmanager
async def serving(kind: str, scp: Scp) -> AsyncIterator[int]:
    """``kind`` serving as ``scp`` says; yields its port, stops it on leaving."""
    if kind == "sync":
        blocking: contextlib.AbstractContextManager[int] = sync_serving(_sync_ae(scp))
    elif kind == sniffio.current_async_library():
        async with _in_task_group(_serve_call(kind, scp)) as port:
            yield port
        return
    else:
        blocking = _in_portal(kind, _serve_call(kind, scp))
    port = await anyio.to_thread.run_sync(blocking.__enter__)
    try:
        yield port
    finally:
        await anyio.to_thread.run_sync(blocking.__exit__, None, None, None)
