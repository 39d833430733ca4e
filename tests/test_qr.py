"""The Query/Retrieve models and identifier rules (dicomul._qr): baseline
retrieve's unique keys (PS3.4 C.4.2.2.1, C.4.3.2.1) and the Specific
Character Set of a C-FIND response (PS3.4 C.4.1.1.3.2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomul import (
    FIND_MODELS,
    GET_MODELS,
    MOVE_MODELS,
    QUERY_RETRIEVE_LEVELS,
    model_levels,
    response_character_set,
    retrieve_identifier_problem,
)

#: Patient Root, Study Root, Patient/Study Only.
P, S, PS = (QUERY_RETRIEVE_LEVELS[x] for x in "PSO")
LONG_UID = "1." + "2" * 63  # 65 characters: PS3.5 9.1 allows 64


def test_every_query_retrieve_sop_class_has_its_model() -> None:
    for models in (FIND_MODELS, GET_MODELS, MOVE_MODELS):
        for letter in "PSO":
            assert model_levels(models[letter]) == QUERY_RETRIEVE_LEVELS[letter]
    assert model_levels(FIND_MODELS["W"]) is None  # worklist: no levels
    assert model_levels("1.2.840.10008.1.1") is None


@pytest.mark.parametrize(
    ("levels", "level", "keys"),
    [
        (P, "PATIENT", {"PatientID": "PID1"}),
        (PS, "PATIENT", {"PatientID": "PID1", "PatientName": ""}),
        (S, "STUDY", {"StudyInstanceUID": "1.2.3"}),
        (S, "STUDY", {"StudyInstanceUID": "1.2.3\\1.2.4"}),  # a list of UIDs
        (S, "STUDY", {"StudyInstanceUID": "1.2.3 "}),  # padding
        (P, "STUDY", {"PatientID": "PID1", "StudyInstanceUID": "1.2.3\\1.2.4"}),
        (S, "SERIES", {"StudyInstanceUID": "1.2", "SeriesInstanceUID": "1.2.3\\1.2.4"}),
        (
            P,
            "IMAGE",
            {
                "PatientID": "PID1",
                "StudyInstanceUID": "1.2",
                "SeriesInstanceUID": "1.2.3",
                "SOPInstanceUID": "1.2.3.4\\1.2.3.5",
            },
        ),
        (
            S,
            "STUDY",
            {"StudyInstanceUID": "1.2", "PatientID": ""},
        ),  # no patient level above
    ],
)
def test_baseline_retrieve_identifiers(
    levels: tuple[str, ...], level: str, keys: dict[str, str]
) -> None:
    assert retrieve_identifier_problem(levels, level, keys) is None


@pytest.mark.parametrize(
    ("levels", "level", "keys", "problem"),
    [
        (
            S,
            "STUDY",
            {"StudyInstanceUID": ""},
            "StudyInstanceUID is empty (universal matching)",
        ),
        (S, "STUDY", {}, "no StudyInstanceUID"),
        (
            S,
            "STUDY",
            {"StudyInstanceUID": "1.2\\"},
            "StudyInstanceUID holds an empty UID",
        ),
        (
            S,
            "STUDY",
            {"StudyInstanceUID": "\\1.2"},
            "StudyInstanceUID holds an empty UID",
        ),
        (
            S,
            "STUDY",
            {"StudyInstanceUID": "1.2.*"},
            "StudyInstanceUID holds '1.2.*', not a UID",
        ),
        (
            S,
            "STUDY",
            {"StudyInstanceUID": LONG_UID},
            f"StudyInstanceUID holds {LONG_UID!r}, not a UID",
        ),
        (
            S,
            "PATIENT",
            {"PatientID": "PID1"},
            "no Query/Retrieve Level 'PATIENT' in this model",
        ),
        (
            PS,
            "SERIES",
            {"SeriesInstanceUID": "1.2"},
            "no Query/Retrieve Level 'SERIES' in this model",
        ),
        (S, "", {"StudyInstanceUID": "1.2"}, "no Query/Retrieve Level '' in this model"),
        (P, "PATIENT", {"PatientID": ""}, "PatientID is empty (universal matching)"),
        (
            P,
            "PATIENT",
            {"PatientID": "PID*"},
            "PatientID holds a wild card, not a single value",
        ),
        (
            P,
            "PATIENT",
            {"PatientID": "PID?"},
            "PatientID holds a wild card, not a single value",
        ),
        (
            P,
            "PATIENT",
            {"PatientID": "A\\B"},
            "PatientID holds a list, not a single value",
        ),
        (P, "STUDY", {"StudyInstanceUID": "1.2"}, "no PatientID"),
        (
            S,
            "SERIES",
            {"StudyInstanceUID": "1.2\\1.3", "SeriesInstanceUID": "1.2.1"},
            "StudyInstanceUID holds a list, not a single value",
        ),
        (
            S,
            "IMAGE",
            {"StudyInstanceUID": "1.2", "SeriesInstanceUID": "", "SOPInstanceUID": "1.2.1.1"},
            "SeriesInstanceUID is empty (universal matching)",
        ),
        (
            P,
            "SERIES",
            {"PatientID": "P", "StudyInstanceUID": "x", "SeriesInstanceUID": "1.2"},
            "StudyInstanceUID holds 'x', not a UID",
        ),
    ],
)
def test_identifiers_that_would_retrieve_too_much_are_refused(
    levels: tuple[str, ...], level: str, keys: dict[str, str], problem: str
) -> None:
    assert retrieve_identifier_problem(levels, level, keys) == problem


@pytest.mark.parametrize(
    ("texts", "requested", "expected"),
    [
        ([], [], None),
        (["DOE^JOHN", "CT"], [], None),  # the default repertoire: no (0008,0005)
        (["DOE^JOHN"], ["ISO_IR 192"], None),
        (["Müller^Jörg"], [], "ISO_IR 192"),
        (["Müller^Jörg"], ["ISO_IR 100"], "ISO_IR 100"),
        (["Müller^Jörg"], [" ISO_IR 100 "], "ISO_IR 100"),
        (["Иванов^Пётр"], ["ISO_IR 144"], "ISO_IR 144"),
        (["Иванов^Пётр"], ["ISO_IR 100"], "ISO_IR 192"),
        (["Müller^Jörg", "山田^太郎"], ["ISO_IR 100"], "ISO_IR 192"),
        (["山田^太郎"], ["", "ISO 2022 IR 87"], "ISO_IR 192"),  # code extensions
        (["ｱｲｳ"], ["ISO_IR 13"], "ISO_IR 192"),
        (["王^小東"], ["GB18030"], "GB18030"),
        (["王^小東"], ["NONSENSE"], "ISO_IR 192"),
    ],
)
def test_response_character_set(
    texts: list[str], requested: list[str], expected: str | None
) -> None:
    assert response_character_set(texts, requested) == expected


CODECS = {None: "ascii", "ISO_IR 100": "latin_1", "ISO_IR 144": "iso8859_5", "ISO_IR 192": "utf_8"}


@given(
    st.lists(st.text(max_size=10).filter(lambda t: t.encode("utf_8", "ignore").decode() == t)),
    st.sampled_from([[], ["ISO_IR 100"], ["ISO_IR 144"], ["ISO_IR 192"], ["", "ISO 2022 IR 87"]]),
)
def test_the_character_set_chosen_holds_every_text(texts: list[str], requested: list[str]) -> None:
    """Whatever the values: the set declared can encode them all (so the
    response says truthfully what its bytes are), and it is declared exactly
    when some value is beyond ASCII."""
    charset = response_character_set(texts, requested)
    for text in texts:
        text.encode(CODECS[charset])
    assert (charset is None) is all(text.isascii() for text in texts)
