"""SOP class constants and lists, generated from pydicom's UID dictionary.

``StorageSOPClassList`` holds the standard, non-retired SOP classes of the
Storage Service Class (PS3.4 Annex B.5): the "... Storage" SOP classes under
the Storage root 1.2.840.10008.5.1.4.1.1 and the RT delivery instruction
ones (1.2.840.10008.5.1.4.34), without those of the Non-Patient Object
Storage Service Class (PS3.4 Annex GG: hanging protocols, colour palettes,
implant templates, defined procedure protocols, protocol approvals) and
without the DICOMDIR's Media Storage Directory Storage.
``QueryRetrieveSOPClassList`` holds the Query/Retrieve information models of
PS3.4 Annex C.6 (including the retired Patient/Study Only model, which the
seed's ``query_model='O'`` names) and Modality Worklist FIND (``'W'``).

Every SOP class of the dictionary is also a module constant named after its
keyword with ``SOPClass`` appended (``CTImageStorageSOPClass``).
"""

from __future__ import annotations

from pydicom._uid_dict import UID_dictionary

__all__ = [
    "QueryRetrieveSOPClassList",
    "StorageSOPClassList",
    "VerificationSOPClass",
    "sop_class_constants",
]

_STORAGE_ROOTS = ("1.2.840.10008.5.1.4.1.1.", "1.2.840.10008.5.1.4.34.")
#: Non-patient objects under the Storage root (PS3.4 Annex GG, not B.5).
_NON_PATIENT = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.200.1",  # CT Defined Procedure Protocol Storage
        "1.2.840.10008.5.1.4.1.1.200.3",  # Protocol Approval Storage
        "1.2.840.10008.5.1.4.1.1.200.7",  # XA Defined Procedure Protocol Storage
    }
)
_QUERY_RETRIEVE_ROOT = "1.2.840.10008.5.1.4.1.2."
_MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"


def _sop_classes() -> dict[str, tuple[str, str, bool]]:
    """UID -> (name, keyword, retired) for every SOP class pydicom knows."""
    return {
        uid: (name, keyword, retired == "Retired")
        for uid, (name, kind, _, retired, keyword) in UID_dictionary.items()
        if kind == "SOP Class"
    }


def _storage() -> list[str]:
    return [
        uid
        for uid, (name, _, retired) in _sop_classes().items()
        if not retired
        and "Storage" in name
        and uid.startswith(_STORAGE_ROOTS)
        and uid not in _NON_PATIENT
    ]


def _query_retrieve() -> list[str]:
    return [
        uid
        for uid in _sop_classes()
        if uid.startswith(_QUERY_RETRIEVE_ROOT) or uid == _MODALITY_WORKLIST_FIND
    ]


def sop_class_constants() -> dict[str, str]:
    """``<Keyword>SOPClass`` -> UID for every SOP class in pydicom's dictionary."""
    return {
        f"{keyword}SOPClass": uid for uid, (_, keyword, _) in _sop_classes().items() if keyword
    }


#: The Verification SOP Class (PS3.4 Annex A).
VerificationSOPClass = "1.2.840.10008.1.1"
#: Every standard SOP class of the Storage Service Class (PS3.4 Annex B.5).
StorageSOPClassList: list[str] = _storage()
#: The Query/Retrieve models (PS3.4 Annex C.6) and Modality Worklist FIND.
QueryRetrieveSOPClassList: list[str] = _query_retrieve()
