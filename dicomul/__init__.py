"""dicomul: the DICOM Upper Layer protocol (PS3.8) and DIMSE (PS3.7), Sans-IO.

This package does no I/O: it turns received bytes into events and events into
bytes to send.  Adapters in ``dicomul_sync``, ``dicomul_asyncio`` and
``dicomul_trio`` bind it to sockets.  The PDU codec lives in
:mod:`dicomul.pdu`; hypothesis strategies for fuzzing in
:mod:`dicomul.testing.strategies`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__

# Every public name is imported from its private module on first use (PEP 562
# ``__getattr__``): a program that needs the association engine does not pay
# for the conversation decoder, the query matching or the RLE decoder, and
# ``dicomul echoscu`` starts in a fraction of the time (issue 16).  The type
# checker reads the imports below, so ``from dicomul import X`` is typed as
# before; ``tests/test_lazy_import.py`` checks they and the table agree.
if TYPE_CHECKING:
    from . import pdu
    from ._acse import (
        DEFAULT_MAX_PDU_LENGTH,
        IMPLEMENTATION_CLASS_UID,
        IMPLEMENTATION_VERSION_NAME,
        MAX_CONTEXTS,
        MAX_OPERATIONS,
        AcceptedContext,
        AcceptorConfig,
        AssociationRequest,
        Negotiated,
        NegotiationAnswers,
        ProposedContext,
        RoleProposal,
        SupportedContext,
        UserIdentity,
        association_batches,
        build_associate_rq,
        check_operations_window,
        contexts_to_send,
        interpret_ac,
        missing_context_reason,
        negotiate,
        propose_contexts,
    )
    from ._buffer import (
        DEFAULT_MAX_CONTROL_PDU_LENGTH,
        DEFAULT_MAX_PDATA_LENGTH,
        READ_INTO_PDU_ABOVE,
        STREAM_PDATA_ABOVE,
        ReceiveBuffer,
    )
    from ._command import (
        NO_DATA_SET,
        Command,
        CommandField,
        Priority,
        check_priority,
        decode_command,
        encode_command,
        response_for,
    )
    from ._connection import DEFAULT_ARTIM_TIMEOUT, Connection, OutgoingMessage, Role
    from ._conversation import (
        ConversationDecoder,
        ConversationEvent,
        Ending,
        Finding,
        SeenCommand,
        SeenContext,
        SeenDataSetBytes,
        SeenEnd,
        SeenMessage,
        SeenNegotiation,
        SeenPDU,
        guess_transfer_syntax,
    )
    from ._create import InstanceCreation
    from ._dataset import decode_dataset, encode_dataset
    from ._describe import (
        describe_association,
        describe_frame,
        describe_pdu,
        describe_pdv,
        hex_dump,
    )
    from ._dimse import (
        CommandReceived,
        DataSetFragment,
        DataSetSource,
        Fragmenter,
        Reassembler,
        fragment,
        join_data_set,
    )
    from ._enums import (
        AbortReason,
        AbortSource,
        ContextResult,
        ItemType,
        MessageControlHeader,
        PDUType,
        RejectReasonACSE,
        RejectReasonPresentation,
        RejectReasonUser,
        RejectResult,
        RejectSource,
        RoleValue,
        UserIdentityType,
        reject_reason_name,
    )
    from ._errors import (
        LocalProtocolError,
        PDUDecodeError,
        PDUTooLargeError,
        ProtocolError,
        RemoteProtocolError,
    )
    from ._events import (
        NEED_DATA,
        Abort,
        Aborted,
        AcceptAssociation,
        AssociationAccepted,
        AssociationRejected,
        AssociationRequested,
        ConnectionClosed,
        ConnectionEvent,
        NeedData,
        RejectAssociation,
        Released,
        ReleaseRequested,
        RequestAssociation,
        RequestRelease,
        RespondRelease,
    )
    from ._evt import (
        EVENT_TYPES,
        EVT_ABORTED,
        EVT_ACCEPTED,
        EVT_ASYNC_OPS,
        EVT_C_ECHO,
        EVT_C_FIND,
        EVT_C_GET,
        EVT_C_MOVE,
        EVT_C_STORE,
        EVT_CONN_CLOSE,
        EVT_CONN_OPEN,
        EVT_DATA_RECV,
        EVT_DATA_SENT,
        EVT_DIMSE_RECV,
        EVT_DIMSE_SENT,
        EVT_FSM_TRANSITION,
        EVT_N_ACTION,
        EVT_N_CREATE,
        EVT_N_DELETE,
        EVT_N_EVENT_REPORT,
        EVT_N_GET,
        EVT_N_SET,
        EVT_PDU_RECV,
        EVT_PDU_SENT,
        EVT_REJECTED,
        EVT_RELEASED,
        EVT_REQUESTED,
        EVT_SOP_COMMON,
        EVT_SOP_EXTENDED,
        EVT_USER_ID,
        SERVICE_EVENTS,
        EventType,
    )
    from ._extneg import (
        AsynchronousOperationsWindowNegotiation,
        RequestedNegotiation,
        SOPClassCommonExtendedNegotiation,
        SOPClassExtendedNegotiation,
        requested_negotiation,
    )
    from ._fsm import Action, Event, State
    from ._idle import (
        DEFAULT_DISPLACE_IDLE_AFTER,
        PROGRESS_BYTES,
        Progress,
        longest_idle,
        only_the_limit_refuses,
    )
    from ._incoming import IncomingRequests, unhandled_status
    from ._matching import (
        RANGE_VRS,
        WILDCARD_VRS,
        InvalidKeyError,
        KeyMatcher,
        WildcardPattern,
        compile_key,
        match_attribute,
    )
    from ._models import (
        FIND_MODELS,
        GET_MODELS,
        MOVE_MODELS,
        VERIFICATION_SOP_CLASS,
        ContextSetting,
        RejectedContext,
        RequestorProposal,
        model_sop_class,
        rejected_contexts,
        requestor_proposal,
    )
    from ._operations import FindOperation, Reply, RetrieveOperation, handler_refusal
    from ._part10 import part10_data_set_offset, part10_file_meta
    from ._qr import (
        CHARACTER_SET_VRS,
        QUERY_RETRIEVE_LEVELS,
        UNIQUE_KEYS,
        model_levels,
        response_character_set,
        retrieve_identifier_problem,
    )
    from ._requests import (
        c_cancel_rq,
        c_echo_rq,
        c_find_rq,
        c_get_rq,
        c_move_rq,
        c_store_rq,
        n_action_rq,
        n_create_rq,
        n_delete_rq,
        n_event_report_rq,
        n_get_rq,
        n_set_rq,
    )
    from ._responses import MAX_RESPONSE_DATA_SET, Response, ResponseCollector, is_final_response
    from ._rle import RLE_LOSSLESS, RLEDecodeError, decode_rle_frame, decompress_rle
    from ._scan import (
        MAX_INFLATED_SIZE,
        SOP_CLASS_UID,
        SOP_INSTANCE_UID,
        DataSetScanner,
        Inflater,
        StoreCheck,
        StoreRefusal,
    )
    from ._services import (
        OUTCOME_STATUSES,
        HandlerOutcome,
        answer_status,
        is_cancel_request,
        outcome_status,
        service_name,
    )
    from ._status import (
        GeneralStatus,
        QueryRetrieveStatus,
        Status,
        StatusCategory,
        StoreStatus,
        status_category,
        status_meaning,
        suboperations_status,
    )
    from ._structure import DataSetStructureError, StructureWalker, check_structure
    from ._suboperations import SubOperations
    from ._syntax import (
        DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
        EXPLICIT_VR_BIG_ENDIAN,
        EXPLICIT_VR_LITTLE_ENDIAN,
        IMPLICIT_VR_LITTLE_ENDIAN,
        transfer_syntax_encoding,
    )
    from ._wire import (
        AE_TITLE_RULE,
        BytesLike,
        ae_title_problem,
        check_ae_title,
        check_implementation_class_uid,
        check_implementation_version_name,
    )

#: Private module -> the public names it defines, space-separated (``.pdu`` is
#: itself the public name).
_LAZY_MODULES: dict[str, str] = {
    ".pdu": "pdu",
    "._acse": (
        "DEFAULT_MAX_PDU_LENGTH IMPLEMENTATION_CLASS_UID IMPLEMENTATION_VERSION_NAME "
        "MAX_CONTEXTS MAX_OPERATIONS AcceptedContext AcceptorConfig AssociationRequest "
        "Negotiated NegotiationAnswers ProposedContext RoleProposal SupportedContext "
        "UserIdentity "
        "association_batches build_associate_rq check_operations_window contexts_to_send "
        "interpret_ac missing_context_reason negotiate propose_contexts"
    ),
    "._buffer": (
        "DEFAULT_MAX_CONTROL_PDU_LENGTH DEFAULT_MAX_PDATA_LENGTH READ_INTO_PDU_ABOVE "
        "STREAM_PDATA_ABOVE ReceiveBuffer"
    ),
    "._command": (
        "NO_DATA_SET Command CommandField Priority check_priority decode_command encode_command "
        "response_for"
    ),
    "._connection": "DEFAULT_ARTIM_TIMEOUT Connection OutgoingMessage Role",
    "._conversation": (
        "ConversationDecoder ConversationEvent Ending Finding SeenCommand SeenContext "
        "SeenDataSetBytes SeenEnd SeenMessage SeenNegotiation SeenPDU guess_transfer_syntax"
    ),
    "._create": "InstanceCreation",
    "._describe": "describe_association describe_frame describe_pdu describe_pdv hex_dump",
    "._dimse": (
        "CommandReceived DataSetFragment DataSetSource Fragmenter Reassembler fragment "
        "join_data_set"
    ),
    "._enums": (
        "AbortReason AbortSource ContextResult ItemType MessageControlHeader PDUType "
        "RejectReasonACSE RejectReasonPresentation RejectReasonUser RejectResult RejectSource "
        "RoleValue UserIdentityType reject_reason_name"
    ),
    "._errors": (
        "LocalProtocolError PDUDecodeError PDUTooLargeError ProtocolError RemoteProtocolError"
    ),
    "._events": (
        "NEED_DATA Abort Aborted AcceptAssociation AssociationAccepted AssociationRejected "
        "AssociationRequested ConnectionClosed ConnectionEvent NeedData RejectAssociation "
        "Released ReleaseRequested RequestAssociation RequestRelease RespondRelease"
    ),
    "._evt": (
        "EVENT_TYPES EVT_ABORTED EVT_ACCEPTED EVT_CONN_CLOSE EVT_CONN_OPEN EVT_C_ECHO "
        "EVT_C_FIND EVT_C_GET EVT_C_MOVE EVT_C_STORE EVT_DATA_RECV EVT_DATA_SENT "
        "EVT_DIMSE_RECV EVT_DIMSE_SENT EVT_FSM_TRANSITION EVT_N_ACTION EVT_N_CREATE "
        "EVT_N_DELETE EVT_N_EVENT_REPORT EVT_N_GET EVT_N_SET EVT_PDU_RECV EVT_PDU_SENT "
        "EVT_REJECTED EVT_RELEASED EVT_REQUESTED EVT_USER_ID SERVICE_EVENTS EventType "
        "EVT_ASYNC_OPS EVT_SOP_COMMON EVT_SOP_EXTENDED"
    ),
    "._extneg": (
        "AsynchronousOperationsWindowNegotiation RequestedNegotiation "
        "SOPClassCommonExtendedNegotiation SOPClassExtendedNegotiation requested_negotiation"
    ),
    "._fsm": "Action Event State",
    "._idle": (
        "DEFAULT_DISPLACE_IDLE_AFTER PROGRESS_BYTES Progress longest_idle only_the_limit_refuses"
    ),
    "._incoming": "IncomingRequests unhandled_status",
    "._matching": (
        "RANGE_VRS WILDCARD_VRS InvalidKeyError KeyMatcher WildcardPattern compile_key "
        "match_attribute"
    ),
    "._models": (
        "FIND_MODELS GET_MODELS MOVE_MODELS VERIFICATION_SOP_CLASS RequestorProposal "
        "model_sop_class requestor_proposal ContextSetting RejectedContext rejected_contexts"
    ),
    "._operations": "FindOperation Reply RetrieveOperation handler_refusal",
    "._part10": "part10_data_set_offset part10_file_meta",
    "._qr": (
        "CHARACTER_SET_VRS QUERY_RETRIEVE_LEVELS UNIQUE_KEYS model_levels "
        "response_character_set retrieve_identifier_problem"
    ),
    "._requests": (
        "c_cancel_rq c_echo_rq c_find_rq c_get_rq c_move_rq c_store_rq n_action_rq "
        "n_create_rq n_delete_rq n_event_report_rq n_get_rq n_set_rq"
    ),
    "._responses": "MAX_RESPONSE_DATA_SET Response ResponseCollector is_final_response",
    "._rle": "RLE_LOSSLESS RLEDecodeError decode_rle_frame decompress_rle",
    "._scan": (
        "MAX_INFLATED_SIZE SOP_CLASS_UID SOP_INSTANCE_UID DataSetScanner Inflater StoreCheck "
        "StoreRefusal"
    ),
    "._services": (
        "OUTCOME_STATUSES HandlerOutcome answer_status is_cancel_request outcome_status "
        "service_name"
    ),
    "._status": (
        "GeneralStatus QueryRetrieveStatus Status StatusCategory StoreStatus status_category "
        "status_meaning suboperations_status"
    ),
    "._structure": "DataSetStructureError StructureWalker check_structure",
    "._suboperations": "SubOperations",
    "._syntax": (
        "DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN EXPLICIT_VR_BIG_ENDIAN EXPLICIT_VR_LITTLE_ENDIAN "
        "IMPLICIT_VR_LITTLE_ENDIAN transfer_syntax_encoding"
    ),
    "._wire": (
        "AE_TITLE_RULE BytesLike ae_title_problem check_ae_title "
        "check_implementation_class_uid check_implementation_version_name"
    ),
    "._dataset": "decode_dataset encode_dataset",  # pydicom: slow to import
}
#: Public name -> the private module to import it from.
_LAZY = {name: module for module, names in _LAZY_MODULES.items() for name in names.split()}


def __getattr__(name: str) -> object:
    """Import ``name``'s module on first use, then keep the name here."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'dicomul' has no attribute {name!r}")
    # The import statement's own machinery (``from ._acse import X``), with the
    # module named at run time: no importlib in the core.
    module = __import__(module_name[1:], globals(), None, (name,), 1)
    value = module if module_name == f".{name}" else getattr(module, name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    """The module's names, the lazy ones included (``help()`` and Sphinx's
    autodoc list a module's members from ``dir()``)."""
    return sorted({*globals(), *_LAZY})


__all__ = [
    "EVENT_TYPES",
    "EVT_ABORTED",
    "EVT_ACCEPTED",
    "EVT_ASYNC_OPS",
    "EVT_CONN_CLOSE",
    "EVT_CONN_OPEN",
    "EVT_C_ECHO",
    "EVT_C_FIND",
    "EVT_C_GET",
    "EVT_C_MOVE",
    "EVT_C_STORE",
    "EVT_DATA_RECV",
    "EVT_DATA_SENT",
    "EVT_DIMSE_RECV",
    "EVT_DIMSE_SENT",
    "EVT_FSM_TRANSITION",
    "EVT_N_ACTION",
    "EVT_N_CREATE",
    "EVT_N_DELETE",
    "EVT_N_EVENT_REPORT",
    "EVT_N_GET",
    "EVT_N_SET",
    "EVT_PDU_RECV",
    "EVT_PDU_SENT",
    "EVT_REJECTED",
    "EVT_RELEASED",
    "EVT_REQUESTED",
    "EVT_SOP_COMMON",
    "EVT_SOP_EXTENDED",
    "EVT_USER_ID",
    "SERVICE_EVENTS",
    "EventType",
    "ConversationDecoder",
    "ConversationEvent",
    "Ending",
    "Finding",
    "SeenCommand",
    "SeenContext",
    "SeenDataSetBytes",
    "SeenEnd",
    "SeenMessage",
    "SeenNegotiation",
    "SeenPDU",
    "guess_transfer_syntax",
    "describe_pdu",
    "describe_pdv",
    "MAX_RESPONSE_DATA_SET",
    "Response",
    "ResponseCollector",
    "is_final_response",
    "c_cancel_rq",
    "c_echo_rq",
    "c_find_rq",
    "c_get_rq",
    "c_move_rq",
    "c_store_rq",
    "n_action_rq",
    "n_create_rq",
    "n_delete_rq",
    "n_event_report_rq",
    "n_get_rq",
    "n_set_rq",
    "DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN",
    "EXPLICIT_VR_BIG_ENDIAN",
    "EXPLICIT_VR_LITTLE_ENDIAN",
    "IMPLICIT_VR_LITTLE_ENDIAN",
    "MAX_INFLATED_SIZE",
    "SOP_CLASS_UID",
    "SOP_INSTANCE_UID",
    "DataSetScanner",
    "DataSetStructureError",
    "Inflater",
    "StoreCheck",
    "StoreRefusal",
    "StoreStatus",
    "StructureWalker",
    "check_structure",
    "transfer_syntax_encoding",
    "AE_TITLE_RULE",
    "BytesLike",
    "ae_title_problem",
    "check_ae_title",
    "check_implementation_class_uid",
    "check_implementation_version_name",
    "check_operations_window",
    "part10_data_set_offset",
    "part10_file_meta",
    "CHARACTER_SET_VRS",
    "QUERY_RETRIEVE_LEVELS",
    "RANGE_VRS",
    "UNIQUE_KEYS",
    "WILDCARD_VRS",
    "IncomingRequests",
    "unhandled_status",
    "InstanceCreation",
    "InvalidKeyError",
    "KeyMatcher",
    "QueryRetrieveStatus",
    "WildcardPattern",
    "compile_key",
    "match_attribute",
    "model_levels",
    "response_character_set",
    "retrieve_identifier_problem",
    "DEFAULT_DISPLACE_IDLE_AFTER",
    "PROGRESS_BYTES",
    "Progress",
    "longest_idle",
    "only_the_limit_refuses",
    "RLE_LOSSLESS",
    "RLEDecodeError",
    "decode_rle_frame",
    "decompress_rle",
    "SubOperations",
    "FindOperation",
    "Reply",
    "RetrieveOperation",
    "handler_refusal",
    "FIND_MODELS",
    "GET_MODELS",
    "MOVE_MODELS",
    "VERIFICATION_SOP_CLASS",
    "RequestorProposal",
    "model_sop_class",
    "requestor_proposal",
    "ContextSetting",
    "RejectedContext",
    "rejected_contexts",
    "DEFAULT_ARTIM_TIMEOUT",
    "DEFAULT_MAX_CONTROL_PDU_LENGTH",
    "DEFAULT_MAX_PDATA_LENGTH",
    "DEFAULT_MAX_PDU_LENGTH",
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "MAX_CONTEXTS",
    "MAX_OPERATIONS",
    "NEED_DATA",
    "NO_DATA_SET",
    "Abort",
    "AbortReason",
    "AbortSource",
    "Aborted",
    "AcceptAssociation",
    "AcceptedContext",
    "AcceptorConfig",
    "Action",
    "AssociationAccepted",
    "AssociationRejected",
    "AssociationRequest",
    "AssociationRequested",
    "Command",
    "CommandField",
    "CommandReceived",
    "Connection",
    "OutgoingMessage",
    "ConnectionClosed",
    "ConnectionEvent",
    "ContextResult",
    "DataSetFragment",
    "DataSetSource",
    "Fragmenter",
    "Event",
    "Negotiated",
    "NegotiationAnswers",
    "AsynchronousOperationsWindowNegotiation",
    "RequestedNegotiation",
    "SOPClassCommonExtendedNegotiation",
    "SOPClassExtendedNegotiation",
    "requested_negotiation",
    "NeedData",
    "Priority",
    "check_priority",
    "ProposedContext",
    "Reassembler",
    "RejectAssociation",
    "ReleaseRequested",
    "Released",
    "RequestAssociation",
    "RequestRelease",
    "RespondRelease",
    "Role",
    "RoleProposal",
    "State",
    "Status",
    "StatusCategory",
    "SupportedContext",
    "UserIdentity",
    "build_associate_rq",
    "decode_command",
    "encode_command",
    "response_for",
    "association_batches",
    "contexts_to_send",
    "describe_association",
    "describe_frame",
    "hex_dump",
    "fragment",
    "decode_dataset",
    "encode_dataset",
    "interpret_ac",
    "missing_context_reason",
    "join_data_set",
    "negotiate",
    "propose_contexts",
    "status_category",
    "status_meaning",
    "suboperations_status",
    "GeneralStatus",
    "HandlerOutcome",
    "OUTCOME_STATUSES",
    "answer_status",
    "is_cancel_request",
    "outcome_status",
    "service_name",
    "ItemType",
    "LocalProtocolError",
    "MessageControlHeader",
    "PDUDecodeError",
    "PDUTooLargeError",
    "PDUType",
    "ProtocolError",
    "ReceiveBuffer",
    "READ_INTO_PDU_ABOVE",
    "STREAM_PDATA_ABOVE",
    "RejectReasonACSE",
    "RejectReasonPresentation",
    "RejectReasonUser",
    "RejectResult",
    "RejectSource",
    "RemoteProtocolError",
    "RoleValue",
    "UserIdentityType",
    "__version__",
    "pdu",
    "reject_reason_name",
]
