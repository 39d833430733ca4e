"""The Query/Retrieve information models and what an SCP checks of an
identifier (PS3.4 C.4, C.6).

- The levels of each model (PS3.4 C.6.1-C.6.3: Patient Root, Study Root,
  Patient/Study Only) and the unique key of each level.
- A C-GET or C-MOVE identifier under baseline (hierarchical) retrieve,
  PS3.4 C.4.2.2.1 and C.4.3.2.1: a single value in the unique key of each
  level above the Query/Retrieve Level; at that level, a single value if it
  is PATIENT, else one UID or a list of UIDs.  Anything less would be
  universal matching, the whole archive: such an identifier does not match
  the SOP class (0xA900).
- The Specific Character Set of a C-FIND response (PS3.4 C.4.1.1.3.2: present
  exactly when an expanded or replacement character set is used; PS3.5 6.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from ._models import FIND_MODELS, GET_MODELS, MOVE_MODELS

__all__ = [
    "CHARACTER_SET_VRS",
    "QUERY_RETRIEVE_LEVELS",
    "UNIQUE_KEYS",
    "model_levels",
    "response_character_set",
    "retrieve_identifier_problem",
]

#: The levels of each information model by its letter (PS3.4 C.6.1.1.1,
#: C.6.2.1.1, C.6.3.1.1), top down.
QUERY_RETRIEVE_LEVELS: Mapping[str, tuple[str, ...]] = {
    "P": ("PATIENT", "STUDY", "SERIES", "IMAGE"),
    "S": ("STUDY", "SERIES", "IMAGE"),
    "O": ("PATIENT", "STUDY"),
}
#: The unique key of each level (PS3.4 C.6.1.1.2-C.6.1.1.5).
UNIQUE_KEYS: Mapping[str, str] = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}
_BY_SOP_CLASS = {
    uid: QUERY_RETRIEVE_LEVELS[letter]
    for models in (FIND_MODELS, GET_MODELS, MOVE_MODELS)
    for letter, uid in models.items()
    if letter in QUERY_RETRIEVE_LEVELS
}
#: The VRs whose values the Specific Character Set applies to (PS3.5 6.1.2.3).
CHARACTER_SET_VRS = frozenset({"SH", "LO", "ST", "PN", "LT", "UC", "UT"})
UTF8 = "ISO_IR 192"
#: Single-valued character sets without code extensions (PS3.3 C.12.1.1.2,
#: Table C.12-2 and C.12-4) that a response may be given in, with Python's
#: codec for each; the others (code extensions, ISO_IR 13) are answered in UTF-8.
_CODECS = {
    "ISO_IR 100": "latin_1",
    "ISO_IR 101": "iso8859_2",
    "ISO_IR 109": "iso8859_3",
    "ISO_IR 110": "iso8859_4",
    "ISO_IR 126": "iso8859_7",
    "ISO_IR 127": "iso8859_6",
    "ISO_IR 138": "iso8859_8",
    "ISO_IR 144": "iso8859_5",
    "ISO_IR 148": "iso8859_9",
    "ISO_IR 166": "tis_620",
    UTF8: "utf_8",
    "GB18030": "gb18030",
    "GBK": "gbk",
}
_UID = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_MAX_UID_LENGTH = 64


def model_levels(sop_class_uid: str) -> tuple[str, ...] | None:
    """The levels of the Query/Retrieve model of a C-FIND, C-GET or C-MOVE
    SOP class, top down (None for another SOP class).

    >>> model_levels("1.2.840.10008.5.1.4.1.2.2.3")  # Study Root C-GET
    ('STUDY', 'SERIES', 'IMAGE')
    """
    return _BY_SOP_CLASS.get(sop_class_uid)


def _single_value_problem(keyword: str, value: str) -> str | None:
    """PS3.4 C.2.2.2.1: one value, no wild card."""
    if not value:
        return f"{keyword} is empty (universal matching)"
    if "\\" in value:
        return f"{keyword} holds a list, not a single value"
    if "*" in value or "?" in value:
        return f"{keyword} holds a wild card, not a single value"
    return None


def _uid_problem(keyword: str, uid: str) -> str | None:
    """PS3.5 9.1: digits and periods, at most 64 characters."""
    if not uid:
        return f"{keyword} holds an empty UID"
    if len(uid) > _MAX_UID_LENGTH or _UID.fullmatch(uid) is None:
        return f"{keyword} holds {uid[:70]!r}, not a UID"
    return None


def _key_problem(keyword: str, value: str | None, *, uid_list: bool) -> str | None:
    if value is None:
        return f"no {keyword}"
    value = value.strip(" \0")
    if uid_list and value:  # one UID, or a list (C.2.2.2.2)
        for uid in value.split("\\"):
            problem = _uid_problem(keyword, uid.strip(" \0"))
            if problem is not None:
                return problem
        return None
    problem = _single_value_problem(keyword, value)
    if problem is None and keyword != UNIQUE_KEYS["PATIENT"]:
        problem = _uid_problem(keyword, value)
    return problem


def retrieve_identifier_problem(
    levels: Sequence[str], level: str, keys: Mapping[str, str]
) -> str | None:
    """Why a C-GET or C-MOVE identifier does not match its SOP class under
    baseline retrieve (PS3.4 C.4.2.2.1, C.4.3.2.1), or None if it does.

    ``levels`` are the model's (:data:`QUERY_RETRIEVE_LEVELS`), ``level`` the
    identifier's Query/Retrieve Level, ``keys`` its values by keyword (a
    multi-valued one backslash-separated; a keyword absent if the element
    is).  Keys other than these unique keys play no part in a retrieve.

    >>> levels = QUERY_RETRIEVE_LEVELS["P"]
    >>> keys = {"PatientID": "P1", "StudyInstanceUID": "1.2\\\\"}
    >>> retrieve_identifier_problem(levels, "STUDY", keys)
    'StudyInstanceUID holds an empty UID'
    >>> retrieve_identifier_problem(levels, "STUDY", {"StudyInstanceUID": "1.2"})
    'no PatientID'
    """
    if level not in levels:
        return f"no Query/Retrieve Level {level!r} in this model"
    depth = levels.index(level)
    for above in levels[:depth]:
        keyword = UNIQUE_KEYS[above]
        problem = _key_problem(keyword, keys.get(keyword), uid_list=False)
        if problem is not None:
            return problem
    keyword = UNIQUE_KEYS[level]
    return _key_problem(keyword, keys.get(keyword), uid_list=level != "PATIENT")


def response_character_set(texts: Iterable[str], requested: Sequence[str] = ()) -> str | None:
    """The Specific Character Set for a C-FIND response holding ``texts``
    (its values of the :data:`CHARACTER_SET_VRS`), the request having had
    ``requested`` (its (0008,0005) values, if any).

    PS3.4 C.4.1.1.3.2 and PS3.5 6.1.2.5: the attribute is present if and only
    if a character set beyond the default repertoire is used.  So: None when
    every text is ASCII; else the requested set, if it is a single set
    without code extensions that holds every text (the peer said it reads
    it); else ISO_IR 192, UTF-8, which holds any text.

    >>> response_character_set(["DOE^JOHN"], ["ISO_IR 100"]) is None
    True
    >>> response_character_set(["Müller"], ["ISO_IR 100"])
    'ISO_IR 100'
    >>> response_character_set(["Müller", "山田"], ["ISO_IR 100"])
    'ISO_IR 192'
    """
    texts = [text for text in texts if not text.isascii()]
    if not texts:
        return None
    wanted = [term.strip() for term in requested]
    codec = _CODECS.get(wanted[0]) if len(wanted) == 1 else None
    if codec is not None and all(_encodes(text, codec) for text in texts):
        return wanted[0]
    return UTF8


def _encodes(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True
