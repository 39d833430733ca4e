"""SOP class constants and lists, generated from pydicom's UID dictionary.

``StorageSOPClassList`` holds the standard SOP classes of the Storage
Service Class (PS3.4 Annex B.5): the "... Storage" SOP classes under the
Storage root 1.2.840.10008.5.1.4.1.1 and the RT delivery instruction ones
(1.2.840.10008.5.1.4.34), without those of the Non-Patient Object Storage
Service Class (PS3.4 Annex GG: hanging protocols, colour palettes, implant
templates, defined procedure protocols, protocol approvals) and without the
DICOMDIR's Media Storage Directory Storage.  A requestor proposing it gets
its first 128 (PS3.8 9.3.2.2), so it is ordered: the classes in common use
first (CT, MR, CR, DX, MG, US, SC, PET, NM, XA, RT, PDF, SR, presentation
states...), the rarely used ones after the rest, the retired ones last.
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
    "storage_classes_for_retrieve",
    "storage_classes_to_accept",
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
#: The retired hardcopy and stored print storage classes (PS3.4 H, retired).
_PRINT_STORAGE_ROOT = "1.2.840.10008.5.1.1."
_MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"


def _sop_classes() -> dict[str, tuple[str, str, bool]]:
    """UID -> (name, keyword, retired) for every SOP class pydicom knows."""
    return {
        uid: (name, keyword, retired == "Retired")
        for uid, (name, kind, _, retired, keyword) in UID_dictionary.items()
        if kind == "SOP Class"
    }


def _storage(*, retired_too: bool = False) -> list[str]:
    roots = (*_STORAGE_ROOTS, _PRINT_STORAGE_ROOT) if retired_too else _STORAGE_ROOTS
    return [
        uid
        for uid, (name, _, retired) in _sop_classes().items()
        if (retired_too or not retired)
        and "Storage" in name
        and uid.startswith(roots)
        and uid not in _NON_PATIENT
    ]


def storage_classes_to_accept() -> list[str]:
    """What a storage SCP accepts: :data:`StorageSOPClassList` (its retired
    classes included), then the retired print storage classes (old
    modalities still send them; DCMTK's storescp accepts them too).  An
    acceptor is not bound by the 128 contexts a request may carry."""
    retired = [uid for uid in _storage(retired_too=True) if uid not in StorageSOPClassList]
    return [*StorageSOPClassList, *retired]


#: The storage classes in common use, most used first: what a modality, a
#: PACS or a treatment planning system sends day to day.  They open
#: :data:`StorageSOPClassList`, so that a requestor proposing the list
#: (one context each, at most 128: PS3.8 9.3.2.2) can send them.
COMMON_STORAGE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # Digital X-Ray Image - For Processing
    "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.2.1",  # Digital Mammography X-Ray Image - For Processing
    "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color Secondary Capture
    "1.2.840.10008.5.1.4.1.1.128",  # Positron Emission Tomography Image
    "1.2.840.10008.5.1.4.1.1.20",  # Nuclear Medicine Image
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic Image
    "1.2.840.10008.5.1.4.1.1.12.2",  # X-Ray Radiofluoroscopic Image
    "1.2.840.10008.5.1.4.1.1.481.1",  # RT Image
    "1.2.840.10008.5.1.4.1.1.481.2",  # RT Dose
    "1.2.840.10008.5.1.4.1.1.481.3",  # RT Structure Set
    "1.2.840.10008.5.1.4.1.1.481.5",  # RT Plan
    "1.2.840.10008.5.1.4.1.1.481.8",  # RT Ion Plan
    "1.2.840.10008.5.1.4.1.1.481.4",  # RT Beams Treatment Record
    "1.2.840.10008.5.1.4.1.1.481.6",  # RT Brachy Treatment Record
    "1.2.840.10008.5.1.4.1.1.481.7",  # RT Treatment Summary Record
    "1.2.840.10008.5.1.4.1.1.481.9",  # RT Ion Beams Treatment Record
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.104.2",  # Encapsulated CDA
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
    "1.2.840.10008.5.1.4.1.1.88.59",  # Key Object Selection Document
    "1.2.840.10008.5.1.4.1.1.88.67",  # X-Ray Radiation Dose SR
    "1.2.840.10008.5.1.4.1.1.88.68",  # Radiopharmaceutical Radiation Dose SR
    "1.2.840.10008.5.1.4.1.1.88.50",  # Mammography CAD SR
    "1.2.840.10008.5.1.4.1.1.88.65",  # Chest CAD SR
    "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
    "1.2.840.10008.5.1.4.1.1.11.2",  # Color Softcopy Presentation State
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET Image
    "1.2.840.10008.5.1.4.1.1.13.1.3",  # Breast Tomosynthesis Image
    "1.2.840.10008.5.1.4.1.1.1.3",  # Digital Intra-Oral X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.66.1",  # Spatial Registration
    "1.2.840.10008.5.1.4.1.1.66",  # Raw Data
    "1.2.840.10008.5.1.4.1.1.77.1.1",  # VL Endoscopic Image
    "1.2.840.10008.5.1.4.1.1.77.1.4",  # VL Photographic Image
    "1.2.840.10008.5.1.4.1.1.77.1.2",  # VL Microscopic Image
    "1.2.840.10008.5.1.4.1.1.77.1.6",  # VL Whole Slide Microscopy Image
    "1.2.840.10008.5.1.4.1.1.77.1.5.1",  # Ophthalmic Photography 8 Bit Image
    "1.2.840.10008.5.1.4.1.1.77.1.5.4",  # Ophthalmic Tomography Image
    "1.2.840.10008.5.1.4.1.1.9.1.1",  # 12-lead ECG Waveform
    "1.2.840.10008.5.1.4.1.1.9.1.2",  # General ECG Waveform
    "1.2.840.10008.5.1.4.1.1.9.2.1",  # Hemodynamic Waveform
    "1.2.840.10008.5.1.4.1.1.9.4.1",  # Basic Voice Audio Waveform
)


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


def _ordered_storage() -> list[str]:
    """The Storage Service Class's SOP classes (PS3.4 Annex B.5) in the
    order a requestor proposes them: :data:`COMMON_STORAGE_CLASSES` first,
    then the rest of the current ones, those rarely used after them, and the
    retired ones last (past the 128 contexts of one request)."""
    current = _storage()
    common = [uid for uid in COMMON_STORAGE_CLASSES if uid in current]
    listed = set(common)
    rest = [uid for uid in current if uid not in listed]
    rest.sort(key=_rarely_retrieved)  # stable: the dictionary's order otherwise
    retired = [
        uid
        for uid in _storage(retired_too=True)
        if uid not in listed and uid not in rest and uid.startswith(_STORAGE_ROOTS)
    ]
    return [*common, *rest, *retired]


#: The Query/Retrieve models (PS3.4 Annex C.6) and Modality Worklist FIND.
QueryRetrieveSOPClassList: list[str] = _query_retrieve()


#: Storage classes an archive rarely returns, proposed last by a C-GET SCU,
#: which can name only 127 of the 176 (one context is the C-GET model's):
#: security screening (DICOS), eddy current, ophthalmic measurements and
#: maps, the rarer waveforms, volumetric presentation states, the second
#: generation RT objects and delivery instructions, procedure protocols,
#: inventories and 3D model encapsulations.  Branches of the UID tree...
_RARE_BRANCHES = (
    "1.2.840.10008.5.1.4.1.1.501.",  # DICOS
    "1.2.840.10008.5.1.4.1.1.601.",  # eddy current
    "1.2.840.10008.5.1.4.1.1.78.",  # ophthalmic measurements
    "1.2.840.10008.5.1.4.1.1.79.",
    "1.2.840.10008.5.1.4.1.1.80.",
    "1.2.840.10008.5.1.4.1.1.81.",
    "1.2.840.10008.5.1.4.1.1.82.",
    "1.2.840.10008.5.1.4.1.1.9.",  # waveforms, but for _COMMON_WAVEFORMS
    "1.2.840.10008.5.1.4.1.1.200.",  # performed procedure protocols
    "1.2.840.10008.5.1.4.1.1.201.",  # inventory
    "1.2.840.10008.5.1.4.34.",  # RT delivery instructions
)
#: ... and single classes: volumetric presentation states, 3D models, and
#: the second generation RT objects (481.10 to 481.25).
_RARE_CLASSES = frozenset(
    [f"1.2.840.10008.5.1.4.1.1.11.{n}" for n in range(6, 12)]
    + [f"1.2.840.10008.5.1.4.1.1.104.{n}" for n in (3, 4, 5)]
    + [f"1.2.840.10008.5.1.4.1.1.481.{n}" for n in range(10, 26)]
)
_COMMON_WAVEFORMS = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.9.1.1",  # 12-lead ECG
        "1.2.840.10008.5.1.4.1.1.9.1.2",  # general ECG
        "1.2.840.10008.5.1.4.1.1.9.2.1",  # hemodynamic
        "1.2.840.10008.5.1.4.1.1.9.4.1",  # basic voice audio
    }
)


def _rarely_retrieved(uid: str) -> bool:
    if uid in _RARE_CLASSES:
        return True
    return uid.startswith(_RARE_BRANCHES) and uid not in _COMMON_WAVEFORMS


#: Every standard SOP class of the Storage Service Class (PS3.4 Annex B.5),
#: the common ones first and the retired ones last (:func:`_ordered_storage`).
StorageSOPClassList: list[str] = _ordered_storage()


def storage_classes_for_retrieve(limit: int = 127) -> list[str]:
    """The ``limit`` storage SOP classes a C-GET SCU proposes to receive
    (with the SCP role, PS3.7 D.3.3.4): the first of
    :data:`StorageSOPClassList`, whose order puts the rarely retrieved ones
    last, so that what an archive holds (CT, MR, PET, US, XA, CR/DX/MG, NM,
    SC, SR, RT, PDF, presentation states...) fits in one association's 128
    contexts."""
    return StorageSOPClassList[:limit]  # ordered so already
