"""The Application Entity of the pynetdicom3 API, on blocking sockets.

``AE(ae_title=..., port=..., scu_sop_class=[...], scp_sop_class=[...],
transfer_syntax=[...])`` with the attributes the seed documentation lists.
The SCU side is :meth:`AE.associate`; the SCP side :meth:`AE.start`.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Literal, overload

from dicomul import (
    DEFAULT_DISPLACE_IDLE_AFTER,
    DEFAULT_MAX_PDU_LENGTH,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    MAX_CONTEXTS,
    ContextSetting,
    GeneralStatus,
    Negotiated,
    ProposedContext,
    UserIdentity,
    check_ae_title,
    check_implementation_class_uid,
    check_implementation_version_name,
    check_operations_window,
)

from ._events import HandlerRegistry
from ._handlers import MoveAssociationOptions
from .association import Association

if TYPE_CHECKING:
    import pathlib
    import ssl

    from pydicom.dataset import Dataset

    from dicomul import EventType
    from dicomul.pdu import UserIdentityRQSubItem

    from ._events import EventBinding, Handler
    from ._handlers import RetrieveItem, ServiceRequest, StoreSink
    from .server import ServedAssociation, Server

__all__ = ["AE", "DEFAULT_TRANSFER_SYNTAXES", "ServerHandle"]

#: Implicit VR Little Endian, Explicit VR Little Endian, Explicit VR Big Endian.
DEFAULT_TRANSFER_SYNTAXES = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2")


class AE:
    """A DICOM Application Entity (pynetdicom3's ``ApplicationEntity``).

    Parameters
    ----------
    ae_title : str
        This AE's title: 1 to 16 characters of the DICOM default repertoire,
        no backslash or control character, not only spaces (PS3.5 6.2, VR
        AE); anything else raises ValueError, here and when it is assigned.
    port : int
        The port :meth:`start` listens on (0: none).
    scu_sop_class, scp_sop_class : sequence of str
        SOP class UIDs this AE uses as SCU, and provides as SCP.
    transfer_syntax : sequence of str
        Transfer syntax UIDs proposed and accepted, in order of preference.

    Attributes
    ----------
    require_calling_aet, require_called_aet : str or iterable of str
        AE titles an association request must carry: one title, or several
        of which any matches ('' or an empty list checks nothing);
        ``require_called_aet = True`` asks for this AE's own title.  Each is
        checked as an AE title when assigned (ValueError).
    maximum_associations : int
        Concurrent associations served; one more is rejected (local limit exceeded).
    fork_associations : bool
        POSIX only: serve each accepted association in a child process forked
        for it (DCMTK storescp's ``--fork``) instead of a thread, so that
        associations use every core.  The children share nothing: handlers
        run in the child, ``active_associations`` stays empty, no association
        is displaced at the limit; the limit counts the children.  Fork only
        from a process whose other threads hold no locks the handlers need.
    acse_timeout, dimse_timeout, network_timeout : float or None
        Seconds to wait for ACSE messages, DIMSE messages, and any network
        activity; None waits for ever.  The DIMSE and network timeouts are
        a minimum rate, not reset by every byte: the peer must send 4096
        bytes, or a whole command or data set, within each (see
        :mod:`dicomul._idle`).  ``dimse_timeout`` is None by default (the
        seed's default, and DCMTK's "unlimited"): an SCU then waits for ever
        for a peer that accepted a request and never answers it; set it to
        bound the wait for each response (the association is aborted when it
        expires).  A response that answers no outstanding request aborts the
        association whatever the timeout (PS3.7 9.1: a response carries the
        Message ID of the request it answers).
    displace_idle_after : float or None
        At the association limit, a new peer takes the slot of the
        association idle longest if it has been idle this many seconds (5 by
        default): established, no operation in this AE's hands, and no
        progress from the peer (one sending a message a byte at a time is
        idle; one making progress never is).  That association gets an
        A-P-ABORT.  None never displaces: the new peer is rejected
        (local-limit-exceeded).
    maximum_pdu_size : int or None
        Maximum PDU length this AE receives as SCP; None means no limit.
    implementation_class_uid, implementation_version_name : str
        What this AE says it is in every A-ASSOCIATE-RQ and -AC (PS3.7
        D.3.3.2): dicomul's UID and version by default.  Checked when
        assigned (ValueError); a version name of None sends none.
    maximum_operations_performed : int
        The asynchronous operations window this AE offers as SCP (PS3.7
        D.3.3.3): how many requests a requestor may have outstanding on one
        association (0: no limit).  1, the default, answers no window, which
        keeps operations synchronous.  Requests are performed one after the
        other in the order they arrive, each answered with its own Message
        ID; the others wait meanwhile.  Anything but a whole number from 0
        to 65535 raises ValueError (TypeError for a non-int) when assigned.
    """

    def __init__(
        self,
        ae_title: str = "DICOMUL",
        port: int = 0,
        scu_sop_class: Sequence[str] = (),
        scp_sop_class: Sequence[str] = (),
        transfer_syntax: Sequence[str] = DEFAULT_TRANSFER_SYNTAXES,
    ) -> None:
        self.ae_title = ae_title
        self.port = port
        self.scu_sop_class = [str(uid) for uid in scu_sop_class]
        self.scp_sop_class = [str(uid) for uid in scp_sop_class]
        self.transfer_syntax = [str(uid) for uid in transfer_syntax]
        self.require_calling_aet = ""
        self.require_called_aet = ""
        self.maximum_associations = 10
        self.fork_associations = False
        self.acse_timeout: float | None = 60.0
        self.dimse_timeout: float | None = None
        self.network_timeout: float | None = None
        self.displace_idle_after: float | None = DEFAULT_DISPLACE_IDLE_AFTER
        self.maximum_pdu_size: int | None = DEFAULT_MAX_PDU_LENGTH
        self.maximum_operations_performed = 1
        #: Accept any abstract syntax not in scp_sop_class too, with the
        #: transfer syntaxes above (a storage SCP keeping whatever it is sent,
        #: private SOP classes included: DCMTK storescp's -pm).
        self.accept_unknown_sop_classes = False
        #: Reject every association, permanently, no reason given (RJ
        #: 1/1/1: DCMTK storescp's --refuse, for testing requestors).
        self.refuse_associations = False
        #: Reject an association whose request has no Implementation Class
        #: UID (PS3.7 D.3.3.2 requires one), RJ 1/1/1: DCMTK storescp's
        #: --reject (:attr:`dicomul.AcceptorConfig.require_implementation_class_uid`).
        self.require_implementation_class_uid = False
        #: Called AE title -> the (calling AE title, IP addresses) pairs that
        #: may call it, others rejected RJ 1/1/7 as dcmqrscp does
        #: (:attr:`dicomul.AcceptorConfig.permitted_peers`).
        self.permitted_peers: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {}
        self._requested_contexts: list[ContextSetting] = []
        self._supported_contexts: dict[str, ContextSetting] = {}
        self.implementation_class_uid = IMPLEMENTATION_CLASS_UID
        self.implementation_version_name: str | None = IMPLEMENTATION_VERSION_NAME
        #: Seconds associate() waits for the TCP connection (None: the
        #: network or ACSE timeout, whichever is set).
        self.connection_timeout: float | None = None
        #: If set, received data sets are written durably there as Part 10
        #: files (temporary name, fsync, rename) before Success is answered,
        #: and on_c_stored(path) is called; on_c_store is then not used.
        self.store_directory: str | None = None
        #: If set, called with each C-STORE request (a ServiceRequest) before
        #: its data set arrives; it returns a StoreSink that receives the
        #: data set's bytes undecoded as they come off the wire and answers
        #: the status on commit.  Takes precedence over store_directory.
        self.on_c_store_stream: Callable[[ServiceRequest], StoreSink] | None = None
        #: If set, decides on the user identity a requestor asserts (PS3.7
        #: D.3.3.7): called as on_user_identity(identity, calling_ae_title)
        #: with the request's sub-item (identity_type, primary_field,
        #: secondary_field, positive_response_requested), in a worker thread
        #: (it may do I/O); returns True/False, or (accepted, server response)
        #: (the response is sent when the requestor asked for one: a Kerberos
        #: or SAML/JWT answer; empty for username types).  False or a raise
        #: rejects the association (RJ 1/2/1, PS3.7 D.3.3.7.3).  None: not
        #: checked (an identity is ignored, as PS3.7 allows).
        self.on_user_identity: Callable[[UserIdentityRQSubItem, str], object] | None = None
        #: A server-side ssl.SSLContext: start() then serves TLS only.
        self.ssl_context: ssl.SSLContext | None = None
        #: Move destinations this SCP knows: AE title -> (host, port).
        self.move_destinations: dict[str, tuple[str, int]] = {}
        #: A client-side ssl.SSLContext for the associations C-MOVE opens to
        #: those destinations (None: plain TCP).
        self.move_ssl_context: ssl.SSLContext | None = None
        #: Set while start() is listening (with port 0, ``port`` is then the
        #: port the system chose): wait on it before connecting to this AE.
        self.listening = threading.Event()
        #: The host :meth:`start` listens on: '' every IPv4 interface, '::'
        #: every IPv6 one, '::1' or '127.0.0.1' loopback only...
        self.bind_address = ""
        self._servers: list[Server] = []
        self._servers_lock = threading.Lock()
        #: The event handlers bound with :meth:`bind` (see :mod:`._events`).
        self._events = HandlerRegistry()
        # The associations this AE requested that may still be going.
        self._requested: weakref.WeakSet[Association] = weakref.WeakSet()

    # ------------------------------------------------------- event handlers

    def bind(
        self, event: EventType, handler: Handler, args: Sequence[object] | None = None
    ) -> None:
        """Call ``handler(event, *args)`` when ``event`` (``evt.EVT_...``) happens
        on any association of this AE: those it serves or requests from now
        on, and those going now (pynetdicom's ``bind``).  An intervention
        event (a DIMSE service, EVT_USER_ID) has one handler: binding another
        replaces it; a notification event may have several."""
        self._events.bind(event, handler, args)
        for server in self._running_servers():
            server.bind_handler(event, handler, args)
        for association in list(self._requested):
            association.bind(event, handler, args)

    def unbind(self, event: EventType, handler: Handler) -> None:
        """Stop calling ``handler`` for ``event`` on this AE's associations,
        now and from now on."""
        self._events.unbind(event, handler)
        for server in self._running_servers():
            server.unbind_handler(event, handler)
        for association in list(self._requested):
            association.unbind(event, handler)

    def get_handlers(self, event: EventType) -> object:
        """What :meth:`bind` bound to ``event``: (handler, args) or None for
        an intervention event, a list of (handler, args) for a notification."""
        return self._events.get_handlers(event)

    def _running_servers(self) -> list[Server]:
        with self._servers_lock:
            return list(self._servers)

    @property
    def ae_title(self) -> str:
        """This AE's title; assigning one that is not an AE title raises ValueError."""
        return self._ae_title

    @ae_title.setter
    def ae_title(self, value: str) -> None:
        self._ae_title = check_ae_title(value)

    @property
    def require_calling_aet(self) -> str | list[str]:
        """The calling AE titles accepted: one, a list (any matches), or '' (any)."""
        return self._require_calling_aet

    @require_calling_aet.setter
    def require_calling_aet(self, value: str | Iterable[str] | None) -> None:
        self._require_calling_aet = _title_setting(value)

    @property
    def require_called_aet(self) -> str | bool | list[str]:
        """The called AE titles answered to: one, a list (any matches), True
        (this AE's own title), or '' (any)."""
        return self._require_called_aet

    @require_called_aet.setter
    def require_called_aet(self, value: str | bool | Iterable[str] | None) -> None:
        self._require_called_aet = value if isinstance(value, bool) else _title_setting(value)

    @property
    def maximum_operations_performed(self) -> int:
        """The requests a requestor may have outstanding (PS3.7 D.3.3.3; 0: any)."""
        return self._maximum_operations_performed

    @maximum_operations_performed.setter
    def maximum_operations_performed(self, value: int) -> None:
        self._maximum_operations_performed = check_operations_window(value)

    @property
    def implementation_class_uid(self) -> str:
        """The Implementation Class UID sent in A-ASSOCIATE-RQ and -AC (PS3.7
        D.3.3.2), dicomul's by default; a non-UID raises ValueError when assigned."""
        return self._implementation_class_uid

    @implementation_class_uid.setter
    def implementation_class_uid(self, value: str) -> None:
        self._implementation_class_uid = check_implementation_class_uid(value)

    @property
    def implementation_version_name(self) -> str | None:
        """The Implementation Version Name sent with it (1 to 16 characters;
        None sends none), dicomul's by default; checked when assigned."""
        return self._implementation_version_name

    @implementation_version_name.setter
    def implementation_version_name(self, value: str | None) -> None:
        self._implementation_version_name = check_implementation_version_name(value)

    # --------------------------------------- presentation contexts by SOP class

    @property
    def requested_contexts(self) -> list[ContextSetting]:
        """The contexts :meth:`add_requested_context` added, proposed in that
        order before one per ``scu_sop_class`` entry they do not name."""
        return list(self._requested_contexts)

    def add_requested_context(
        self,
        abstract_syntax: str,
        transfer_syntaxes: str | Sequence[str] | None = None,
        *,
        scu_role: bool | None = None,
        scp_role: bool | None = None,
    ) -> None:
        """Propose a presentation context for ``abstract_syntax`` in every
        association this AE requests (pynetdicom 2's).

        ``transfer_syntaxes`` (one or several, in order of preference; None:
        the AE's ``transfer_syntax``, read at each association).  The same
        abstract syntax may be added again with other transfer syntaxes: one
        context each (a file then goes in its own syntax).  ``scu_role`` /
        ``scp_role`` propose SCP/SCU role selection (PS3.7 D.3.3.4) for the
        SOP class: ``scp_role=True`` to take C-STOREs back during a C-GET,
        say.  ValueError for a non-UID, or past 128 contexts (PS3.8 9.3.2.2).
        """
        if len(self._requested_contexts) >= MAX_CONTEXTS:
            raise ValueError(
                f"already {MAX_CONTEXTS} requested contexts, the most one association "
                "request carries (PS3.8 9.3.2.2)"
            )
        self._requested_contexts.append(
            ContextSetting(
                abstract_syntax=str(abstract_syntax),
                transfer_syntaxes=_syntaxes(transfer_syntaxes),
                scu_role=scu_role,
                scp_role=scp_role,
            )
        )

    def remove_requested_context(
        self, abstract_syntax: str, transfer_syntaxes: str | Sequence[str] | None = None
    ) -> None:
        """Stop proposing ``abstract_syntax`` (None), or only these transfer
        syntaxes of it (a context left with none goes)."""
        removed = _syntaxes(transfer_syntaxes)
        kept: list[ContextSetting] = []
        for context in self._requested_contexts:
            if context.abstract_syntax != abstract_syntax:
                kept.append(context)
            elif removed is not None:
                left = tuple(
                    ts for ts in context.syntaxes(self.transfer_syntax) if ts not in removed
                )
                if left:
                    kept.append(dataclasses.replace(context, transfer_syntaxes=left))
        self._requested_contexts = kept

    @property
    def supported_contexts(self) -> list[ContextSetting]:
        """The contexts :meth:`add_supported_context` added; each decides, for
        its abstract syntax, over ``scp_sop_class``/``scu_sop_class``."""
        return list(self._supported_contexts.values())

    def add_supported_context(
        self,
        abstract_syntax: str,
        transfer_syntaxes: str | Sequence[str] | None = None,
        scu_role: bool | None = None,
        scp_role: bool | None = None,
    ) -> None:
        """Accept ``abstract_syntax`` with these transfer syntaxes (in order of
        preference; None: the AE's ``transfer_syntax``, read at each
        association), as pynetdicom 2's.

        Roles (PS3.7 D.3.3.4), when the requestor proposes role selection:
        ``scu_role`` whether it may be SCU (None: yes), ``scp_role`` whether
        it may be SCP (None: no; True for a C-GET SCU's storage classes).
        Added again, the transfer syntaxes are added to its own and roles
        given replace its roles.  ValueError for a non-UID.
        """
        syntaxes = _syntaxes(transfer_syntaxes)
        old = self._supported_contexts.get(abstract_syntax)
        if old is not None:
            if syntaxes is not None and old.transfer_syntaxes is not None:
                syntaxes = tuple(dict.fromkeys((*old.transfer_syntaxes, *syntaxes)))
            scu_role = old.scu_role if scu_role is None else scu_role
            scp_role = old.scp_role if scp_role is None else scp_role
        self._supported_contexts[str(abstract_syntax)] = ContextSetting(
            abstract_syntax=str(abstract_syntax),
            transfer_syntaxes=syntaxes,
            scu_role=scu_role,
            scp_role=scp_role,
        )

    def remove_supported_context(
        self, abstract_syntax: str, transfer_syntaxes: str | Sequence[str] | None = None
    ) -> None:
        """Stop accepting ``abstract_syntax`` by :meth:`add_supported_context`
        (None), or only these transfer syntaxes of it.  The seed's
        ``scp_sop_class`` list is not changed: remove it there too."""
        context = self._supported_contexts.pop(abstract_syntax, None)
        removed = _syntaxes(transfer_syntaxes)
        if context is None or removed is None:
            return
        left = tuple(ts for ts in context.syntaxes(self.transfer_syntax) if ts not in removed)
        if left:
            self._supported_contexts[abstract_syntax] = dataclasses.replace(
                context, transfer_syntaxes=left
            )

    # ------------------------------------------------------------- SCP side

    def on_c_echo(self) -> int:
        """Answer a C-ECHO: the status to send (replace to customise)."""
        return GeneralStatus.SUCCESS

    def on_c_store(self, dataset: Dataset) -> int:
        """Store a received data set and return the status to send.

        Replace it (``ae.on_c_store = handler``); the default stores nothing
        and so answers "unrecognized operation" (0x0211), never Success.
        """
        raise NotImplementedError("no on_c_store handler is set on this AE")

    def on_c_find(self, identifier: Dataset) -> Iterator[Dataset | tuple[int, Dataset]]:
        """Yield the matches for a C-FIND identifier (replace to serve queries).

        Yield datasets (each sent as Pending, 0xFF00) or (status, dataset)
        pairs; a non-pending status ends the query with that status.  The
        default serves no query: "unrecognized operation" (0x0211).
        """
        raise NotImplementedError("no on_c_find handler is set on this AE")

    def on_c_get(self, identifier: Dataset) -> Iterable[RetrieveItem]:
        """The instances a C-GET identifier matches: Datasets or Part 10 file paths.

        Each is sent back to the requestor as a C-STORE sub-operation on the
        same association (files from disk, undecoded), with a pending
        response after each (PS3.4 C.4.3).  A ``(status, None)`` pair
        yielded before any instance refuses the retrieve with that status
        (0xA900 for an identifier without its unique keys, say), as
        ``on_c_find`` may.  The default serves no retrieve: 0x0211.
        """
        raise NotImplementedError("no on_c_get handler is set on this AE")

    def on_c_move(self, identifier: Dataset, move_aet: str) -> Iterable[RetrieveItem]:
        """The instances a C-MOVE identifier matches, to send to ``move_aet``.

        The destination's address comes from :attr:`move_destinations`
        (an unknown one is refused, 0xA801); each instance goes there as a
        C-STORE sub-operation over a new association (PS3.4 C.4.2).  A
        ``(status, None)`` pair yielded before any instance refuses the
        retrieve with that status, as in :meth:`on_c_get`.  The default
        serves no retrieve: 0x0211.
        """
        raise NotImplementedError("no on_c_move handler is set on this AE")

    # The DIMSE-N services (PS3.7 10).  Each handler gets the request (a
    # ServiceRequest: command, sop_class_uid, sop_instance_uid, dataset) and
    # returns a status, or (status, data set to send back).  Unset handlers
    # answer 0x0211 (unrecognized operation); a raise answers 0x0110.

    def on_n_event_report(self, request: ServiceRequest) -> object:
        """Serve an N-EVENT-REPORT (event_type_id in request.command)."""
        raise NotImplementedError("N-EVENT-REPORT")

    def on_n_get(self, request: ServiceRequest) -> object:
        """Serve an N-GET (attribute_identifier_list in request.command)."""
        raise NotImplementedError("N-GET")

    def on_n_set(self, request: ServiceRequest) -> object:
        """Serve an N-SET (the modification list is request.dataset)."""
        raise NotImplementedError("N-SET")

    def on_n_action(self, request: ServiceRequest) -> object:
        """Serve an N-ACTION (action_type_id in request.command)."""
        raise NotImplementedError("N-ACTION")

    def on_n_create(self, request: ServiceRequest) -> object:
        """Serve an N-CREATE; request.sop_instance_uid is set (assigned here
        if the requestor gave none, and returned to it)."""
        raise NotImplementedError("N-CREATE")

    def on_n_delete(self, request: ServiceRequest) -> object:
        """Serve an N-DELETE."""
        raise NotImplementedError("N-DELETE")

    def on_c_stored(self, path: pathlib.Path) -> None:
        """Called after a data set was durably stored under ``store_directory``."""

    def on_association_accepted(self, negotiated: Negotiated) -> None:
        """Notification: this SCP accepted an association (replace to act on it)."""

    def on_association_released(self, negotiated: Negotiated) -> None:
        """Notification: an association this SCP served was released."""

    def on_association_aborted(self, negotiated: Negotiated | None) -> None:
        """Notification: an association this SCP served was aborted."""

    @overload
    def start(
        self,
        ssl_context: ssl.SSLContext | None = None,
        *,
        block: Literal[True] = True,
        evt_handlers: Sequence[EventBinding] | None = None,
    ) -> None: ...

    @overload
    def start(
        self,
        ssl_context: ssl.SSLContext | None = None,
        *,
        block: Literal[False],
        evt_handlers: Sequence[EventBinding] | None = None,
    ) -> ServerHandle: ...

    def start(
        self,
        ssl_context: ssl.SSLContext | None = None,
        *,
        block: bool = True,
        evt_handlers: Sequence[EventBinding] | None = None,
    ) -> ServerHandle | None:
        """Listen on :attr:`bind_address`:``port`` and serve associations until :meth:`stop`.

        With ``ssl_context`` (a server-side :class:`ssl.SSLContext`; default
        the AE's :attr:`ssl_context`), every connection is TLS (PS3.15 B.1);
        require client certificates by setting its ``verify_mode``.  With
        ``block=False`` it returns once listening, with a
        :class:`ServerHandle` (``shutdown()``, ``active_associations``);
        ``port`` is then the port listened on (the system's choice for 0).
        ``evt_handlers`` binds event handlers for this server's associations
        (pynetdicom's: ``[(evt.EVT_C_STORE, handle_store), (evt.EVT_ACCEPTED,
        on_accept, [extra_arg])]``), besides those of :meth:`bind`.
        """
        return self._start(
            (self.bind_address, self.port),
            block=block,
            ssl_context=ssl_context,
            set_port=True,
            evt_handlers=evt_handlers,
        )

    @overload
    def start_server(
        self,
        address: tuple[str, int],
        *,
        block: Literal[True] = True,
        ssl_context: ssl.SSLContext | None = None,
        evt_handlers: Sequence[EventBinding] | None = None,
    ) -> None: ...

    @overload
    def start_server(
        self,
        address: tuple[str, int],
        *,
        block: Literal[False],
        ssl_context: ssl.SSLContext | None = None,
        evt_handlers: Sequence[EventBinding] | None = None,
    ) -> ServerHandle: ...

    def start_server(
        self,
        address: tuple[str, int],
        *,
        block: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        evt_handlers: Sequence[EventBinding] | None = None,
    ) -> ServerHandle | None:
        """Serve this AE's SCP side at ``address``, (host, port), as pynetdicom 2's.

        ``host`` '' listens on every IPv4 interface, ``'::'`` on every IPv6
        one (and IPv4 too where the system allows dual-stack sockets),
        ``'::1'`` or ``'127.0.0.1'`` on loopback only.  The socket is bound
        before this returns or blocks (an address in use raises OSError
        here).  Blocking, it serves until :meth:`stop`; with ``block=False``
        it serves in a thread and returns a :class:`ServerHandle`.  Several
        servers may run at once; :meth:`stop` stops them all.
        ``evt_handlers`` as for :meth:`start`.
        """
        return self._start(
            address,
            block=block,
            ssl_context=ssl_context,
            set_port=False,
            evt_handlers=evt_handlers,
        )

    def _start(
        self,
        address: tuple[str, int],
        *,
        block: bool,
        ssl_context: ssl.SSLContext | None,
        set_port: bool,
        evt_handlers: Sequence[EventBinding] | None = None,
    ) -> ServerHandle | None:
        from .server import Server  # noqa: PLC0415 - only an SCP needs it: a faster SCU start

        host, port = address
        server = Server(
            self,
            ssl_context or self.ssl_context,
            open_association=self._open_for_move,
            registry=self._events.copy(evt_handlers or ()),
            fork=self.fork_associations,
        )
        bound = server.bind(host, port)
        if set_port:
            self.port = bound  # before listening is set: who waits on it reads the port
        with self._servers_lock:
            self._servers.append(server)
        self.listening.set()
        if block:
            self._serve(server)
            return None
        thread = threading.Thread(
            target=self._serve, args=(server,), name=f"dicomul-server-{bound}", daemon=True
        )
        thread.start()
        return ServerHandle(server, thread, (host, bound))

    def _serve(self, server: Server) -> None:
        try:
            server.serve()
        finally:
            with self._servers_lock:
                self._servers.remove(server)
                if not self._servers:
                    self.listening.clear()

    @property
    def active_associations(self) -> list[ServedAssociation]:
        """The associations this AE's servers are serving now."""
        with self._servers_lock:
            servers = list(self._servers)
        return [association for server in servers for association in server.active_associations]

    def stop(self, *, abort: bool = False) -> None:
        """Stop :meth:`start` (from another thread or a signal handler).

        New connections are refused at once; :meth:`start` returns when the
        associations in progress end, or, with ``abort``, at once.  Stops
        every server :meth:`start_server` started.
        """
        for server in list(self._servers):  # no lock: safe from a signal handler
            server.stop(abort=abort)

    def associate(
        self,
        addr: str,
        port: int,
        ae_title: str = "ANY-SCP",
        max_pdu: int | None = DEFAULT_MAX_PDU_LENGTH,
        *,
        contexts: Sequence[ProposedContext] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        user_identity: UserIdentity | None = None,
        evt_handlers: Sequence[EventBinding] | None = None,
        ext_neg: Sequence[object] | None = None,
        bind_address: tuple[str, int] | None = None,
    ) -> Association:
        """Request an association with the peer at ``addr``:``port``.

        Always returns an :class:`Association`; check ``is_established``,
        ``is_rejected`` or ``is_aborted`` (a peer that cannot be reached
        counts as aborted, as in the seed documentation).  ``ae_title`` is
        the called AE title; one that is not an AE title raises ValueError
        before anything is sent.  The association keeps the AE's timeouts:
        with the default ``dimse_timeout`` of None, each request waits for
        its response for ever.  ``max_pdu`` is the
        largest PDU this side receives (None: no limit).  ``contexts``
        proposes exactly these presentation contexts instead of one per SCU
        SOP class with all of ``transfer_syntax``.  With
        ``ssl_context`` (a client-side :class:`ssl.SSLContext`) the
        connection is TLS, the peer's certificate checked against
        ``server_hostname`` (default ``addr``) as the context says.
        ``user_identity`` (a :class:`dicomul.UserIdentity`, e.g.
        ``UserIdentity.username("bob", "secret", positive_response_requested=True)``,
        ``.kerberos(ticket)``, ``.saml(assertion)``, ``.jwt(token)``) is
        asserted in the request (PS3.7 D.3.3.7); the peer's server response
        is then ``assoc.user_identity_response``.  ``evt_handlers`` binds
        event handlers for this association (pynetdicom's: EVT_C_STORE for a
        C-GET's sub-operations, say), besides those of :meth:`bind`.
        ``ext_neg`` lists extended negotiation items, as pynetdicom's does
        (PS3.7 D.3.3): :class:`dicomul.AsynchronousOperationsWindowNegotiation`,
        :class:`dicomul.RoleProposal` (SCP/SCU role selection),
        :class:`dicomul.SOPClassExtendedNegotiation`,
        :class:`dicomul.SOPClassCommonExtendedNegotiation`,
        :class:`dicomul.UserIdentity`, or pynetdicom's mutable items of the
        same names from :mod:`dicomul_sync.pdu_primitives` (checked when
        converted: TypeError or ValueError naming the attribute); anything
        else raises TypeError, and
        a second, different user identity (here and in ``user_identity``)
        ValueError.  What
        the peer answered is then on ``assoc.negotiated``:
        ``requestor_max_invoked``/``acceptor_max_invoked`` (the window),
        the contexts' ``requestor_is_scu``/``requestor_is_scp`` (roles),
        ``extended_negotiation`` (the replies by SOP class) and
        ``user_identity_response``.  ``bind_address``, a local (host,
        port), is where the connection comes from (pynetdicom's; default:
        any).
        """
        association = Association(
            self,
            addr,
            port,
            called_ae_title=check_ae_title(ae_title),
            max_pdu=max_pdu,
            contexts=contexts,
            ssl_context=ssl_context,
            server_hostname=server_hostname,
            open_association=self._open_for_move,
            user_identity=user_identity,
            registry=self._events.copy(evt_handlers or ()),
            ext_neg=ext_neg or (),
            bind_address=bind_address,
        )
        self._requested.add(association)
        association._connect()
        return association

    def _open_for_move(
        self,
        called_ae_title: str,
        address: tuple[str, int],
        contexts: Sequence[ProposedContext],
        options: MoveAssociationOptions | None = None,
    ) -> Association:
        """Request an association with a C-MOVE destination for the
        sub-operations of a C-MOVE this AE serves (the service layer's
        :data:`._handlers.OpenAssociation`): this AE's settings,
        :attr:`move_ssl_context`, and the presentation contexts the
        sub-operations need, each overridden by what the C-MOVE handler
        gave with the address (``options``: pynetdicom's ``associate()``
        keywords, checked).  Returned whether established or not."""
        options = options if options is not None else MoveAssociationOptions()
        ssl_context, server_hostname = options.tls_args or (self.move_ssl_context, None)
        association = Association(
            self,
            address[0],
            address[1],
            called_ae_title=options.ae_title or called_ae_title,
            max_pdu=options.max_pdu if options.max_pdu_given else self.maximum_pdu_size,
            contexts=contexts,
            ssl_context=ssl_context,
            server_hostname=server_hostname,
            open_association=self._open_for_move,
            registry=self._events.copy(options.evt_handlers),  # type: ignore[arg-type]
            ext_neg=options.ext_neg,
            bind_address=options.bind_address,
        )
        association._connect()
        return association


class ServerHandle:
    """A server :meth:`AE.start_server` runs in a thread (``block=False``).

    ``server_address`` is the (host, port) listened on, ``port`` its port.
    """

    def __init__(self, server: Server, thread: threading.Thread, address: tuple[str, int]) -> None:
        self._server = server
        self._thread = thread
        self.server_address = address
        self.port = address[1]

    @property
    def active_associations(self) -> list[ServedAssociation]:
        """The associations being served now (peer ``address``, ``negotiated``)."""
        return self._server.active_associations

    def bind(
        self, event: EventType, handler: Handler, args: Sequence[object] | None = None
    ) -> None:
        """Bind ``handler`` for this server's associations, new and current."""
        self._server.bind_handler(event, handler, args)

    def unbind(self, event: EventType, handler: Handler) -> None:
        """Unbind ``handler`` from this server's associations, new and current."""
        self._server.unbind_handler(event, handler)

    def get_handlers(self, event: EventType) -> object:
        """What is bound to ``event`` for this server's new associations."""
        return self._server.registry.get_handlers(event)

    @property
    def is_serving(self) -> bool:
        """True until the server has stopped and its associations ended."""
        return self._thread.is_alive()

    def shutdown(self, *, abort: bool = False, timeout: float | None = None) -> None:
        """Stop listening and wait (up to ``timeout`` seconds) for the
        associations in progress to end; with ``abort`` they end now."""
        self._server.stop(abort=abort)
        self._thread.join(timeout)


def _syntaxes(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """Transfer syntaxes as given: one UID, several, or None (the AE's)."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(str(uid) for uid in value)


def _title_setting(value: str | Iterable[str] | None) -> str | list[str]:
    """An AE title requirement as assigned: a str stays one ('' or None:
    none), any other iterable becomes a list; every title is checked
    (ValueError, TypeError for bytes), so a mistake shows where it is made."""
    if value is None:
        return ""
    if isinstance(value, str):
        return check_ae_title(value) if value else ""
    if not isinstance(value, Iterable) or isinstance(value, bytes | bytearray):
        raise TypeError(f"an AE title requirement is a str or an iterable of str, not {value!r}")
    return [check_ae_title(title) for title in value]
