"""The AE's settings are checked where they are made: AE titles (PS3.5 6.2,
VR AE) and the title requirements, as a pynetdicom3 or pynetdicom 2 user
writes them; and the acceptor configuration they become."""

from __future__ import annotations

import re

import pytest
from dicomul_sync import AE
from dicomul_sync.server import OUT_OF_SERVICE, Server, acceptor_config
from hypothesis import given
from hypothesis import strategies as st

from dicomul import ae_title_problem, check_ae_title, pdu

BAD_TITLES = [
    ("ÄÖÜ", "holds 'Ä', which is not allowed"),  # before: sent as '???'
    ("A" * 17, "longer than 16 characters (17)"),  # before: accepted until associate()
    ("", "empty or only spaces"),
    (" " * 16, "empty or only spaces"),
    ("BACK\\SLASH", "holds '\\\\'"),
    ("TAB\tHERE", "holds '\\t'"),
    ("DEL\x7f", "holds '\\x7f'"),
]


@pytest.mark.parametrize(("title", "problem"), BAD_TITLES)
def test_a_bad_title_is_refused_at_construction_and_assignment(title: str, problem: str) -> None:
    problem = re.escape(problem)
    with pytest.raises(ValueError, match=problem + ".*" + re.escape("(PS3.5 6.2, VR AE)")):
        AE(ae_title=title)
    ae = AE(ae_title="GOOD")
    with pytest.raises(ValueError, match=problem):
        ae.ae_title = title
    assert ae.ae_title == "GOOD"
    with pytest.raises(ValueError, match=problem):
        ae.associate("127.0.0.1", 1, ae_title=title)  # nothing is sent: no connection tried


def test_titles_at_the_limits_are_kept_as_given() -> None:
    assert AE(ae_title="A" * 16).ae_title == "A" * 16
    assert AE(ae_title=" PADDED ").ae_title == " PADDED "
    assert AE(ae_title="~!#$%&'()*+,-./:").ae_title == "~!#$%&'()*+,-./:"


@given(st.text(max_size=20))
def test_one_rule_for_the_api_and_the_wire(title: str) -> None:
    """The API refuses exactly what the PDU field cannot carry: a title it
    accepts goes on the wire as it is, never with characters replaced."""
    problem = ae_title_problem(title)
    if problem is None:
        assert check_ae_title(title) == title
        raw = pdu.ae_title(title)
        assert pdu.is_valid_ae_title(raw)
        assert raw.decode("ascii").rstrip(" ") == title.rstrip(" ")
    else:
        with pytest.raises(ValueError, match=re.escape("(PS3.5 6.2, VR AE)")):
            check_ae_title(title)


def test_bytes_are_not_a_title() -> None:
    # The second message is the mypyc-compiled core's (bench/README.md).
    with pytest.raises(TypeError, match=r"not bytes|str object expected; got bytes"):
        AE(ae_title=b"SCU")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("setting", "calling"),
    [
        ("", ()),
        (None, ()),
        ([], ()),
        ("SCU", ("SCU",)),
        (["SCU", "OTHER"], ("SCU", "OTHER")),  # pynetdicom 2's way
        (("SCU",), ("SCU",)),
        ({"SCU": 1}.keys(), ("SCU",)),
    ],
)
def test_calling_title_requirements_as_written(setting: object, calling: tuple[str, ...]) -> None:
    ae = AE(ae_title="SCP")
    ae.require_calling_aet = setting  # type: ignore[assignment]
    config = acceptor_config(ae)
    assert config.require_calling_aet == calling


@pytest.mark.parametrize(
    ("setting", "called"),
    [
        ("", ()),
        (False, ()),
        ("CALLED", ("CALLED",)),
        (["ONE", "TWO"], ("ONE", "TWO")),
        (True, ("SCP",)),  # pynetdicom 2's way: this AE's own title
    ],
)
def test_called_title_requirements_as_written(setting: object, called: tuple[str, ...]) -> None:
    ae = AE(ae_title="SCP")
    ae.require_called_aet = setting  # type: ignore[assignment]
    config = acceptor_config(ae)
    assert config.require_called_aet is bool(called)
    assert config.called_ae_titles == called


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        (["SCU", "ÄÖÜ"], ValueError),
        ("A" * 17, ValueError),
        (b"SCU", TypeError),
        ([b"SCU"], TypeError),
        (True, TypeError),
        (7, TypeError),
    ],
)
def test_a_bad_requirement_is_refused_when_assigned(
    setting: object, error: type[Exception]
) -> None:
    ae = AE(ae_title="SCP")
    with pytest.raises(error):
        ae.require_calling_aet = setting  # type: ignore[assignment]
    assert ae.require_calling_aet == ""


def test_a_setting_broken_after_it_was_checked_puts_the_server_out_of_service() -> None:
    """A list appended to after assignment is caught when the configuration
    is built: every association is rejected, the error is logged once."""
    ae = AE(ae_title="SCP")
    ae.require_calling_aet = ["SCU"]
    server = Server(ae)
    assert server.config().require_calling_aet == ("SCU",)
    ae.require_calling_aet.append("ÄÖÜ")  # type: ignore[union-attr]
    assert server.config() is OUT_OF_SERVICE


@pytest.mark.parametrize(("performed", "window"), [(1, None), (4, (1, 4)), (0, (1, 0))])
def test_the_operations_window_the_acceptor_offers(
    performed: int, window: tuple[int, int] | None
) -> None:
    """PS3.7 D.3.3.3: the AE performs ``maximum_operations_performed``
    requests at a time (0: any number) and invokes one; 1 offers no window,
    which is the default and means the same."""
    ae = AE(ae_title="SCP")
    assert ae.maximum_operations_performed == 1
    ae.maximum_operations_performed = performed
    assert acceptor_config(ae).asynchronous_operations == window


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (-1, ValueError),
        (0x10000, ValueError),
        (2.0, TypeError),
        (True, TypeError),
        ("4", TypeError),
    ],
)
def test_a_bad_operations_window_is_refused_when_assigned(value: object, error: type) -> None:
    ae = AE(ae_title="SCP")
    with pytest.raises(error, match="maximum_operations_performed"):
        ae.maximum_operations_performed = value  # type: ignore[assignment]
    assert ae.maximum_operations_performed == 1


def test_implementation_uid_and_version_are_checked_when_assigned() -> None:
    ae = AE()
    ae.implementation_class_uid = "1.2.826.0.1.3680043.9.9999"
    ae.implementation_version_name = "MYAPP_1"
    assert (ae.implementation_class_uid, ae.implementation_version_name) == (
        "1.2.826.0.1.3680043.9.9999",
        "MYAPP_1",
    )
    for bad in ("", "1.2.03", "1..2", "1.2.a", "1." + "2" * 63):
        with pytest.raises(ValueError, match=r"PS3\.5 9\.1"):
            ae.implementation_class_uid = bad
    for bad_name in ("", "A" * 17, "BACK\\SLASH", "ÄPP"):
        with pytest.raises(ValueError, match=r"PS3\.7 D\.3\.3\.2"):
            ae.implementation_version_name = bad_name
    assert ae.implementation_class_uid == "1.2.826.0.1.3680043.9.9999"
    ae.implementation_version_name = None  # none sent
    assert acceptor_config(ae).implementation_version_name is None
    assert acceptor_config(ae).implementation_class_uid == "1.2.826.0.1.3680043.9.9999"


CT_SOP = "1.2.840.10008.5.1.4.1.1.2"
MR_SOP = "1.2.840.10008.5.1.4.1.1.4"
IMPLICIT, EXPLICIT, BIG = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"


def test_requested_contexts_are_added_and_removed_as_pynetdicom_does() -> None:
    ae = AE()
    ae.add_requested_context(CT_SOP)
    ae.add_requested_context(CT_SOP, [EXPLICIT, IMPLICIT])
    ae.add_requested_context(MR_SOP, EXPLICIT)
    ae.remove_requested_context(CT_SOP, IMPLICIT)  # from each CT context
    assert [(c.abstract_syntax, c.transfer_syntax) for c in ae.requested_contexts] == [
        (CT_SOP, [EXPLICIT, BIG]),  # the AE's three, less Implicit
        (CT_SOP, [EXPLICIT]),
        (MR_SOP, [EXPLICIT]),
    ]
    ae.remove_requested_context(MR_SOP, EXPLICIT)  # left with none: gone
    ae.remove_requested_context(CT_SOP)
    assert ae.requested_contexts == []
    with pytest.raises(ValueError, match="is not a UID"):
        ae.add_requested_context("CT")
    for n in range(128):
        ae.add_requested_context(f"1.2.3.{n + 1}")
    with pytest.raises(ValueError, match=r"already 128 requested contexts.*\(PS3\.8 9\.3\.2\.2\)"):
        ae.add_requested_context(CT_SOP)


def test_supported_contexts_become_the_acceptor_configuration() -> None:
    ae = AE(scp_sop_class=[CT_SOP, MR_SOP])  # the seed's way, then per SOP class over it
    ae.add_supported_context(CT_SOP, EXPLICIT, scp_role=True)
    ae.add_supported_context(CT_SOP, IMPLICIT)  # syntaxes added, roles kept
    supported = acceptor_config(ae).supported
    assert supported[CT_SOP].transfer_syntaxes == (EXPLICIT, IMPLICIT)
    assert (supported[CT_SOP].scu_role, supported[CT_SOP].scp_role) == (True, True)
    assert supported[MR_SOP].transfer_syntaxes == (IMPLICIT, EXPLICIT, BIG)  # the seed's
    ae.remove_supported_context(CT_SOP, EXPLICIT)
    assert acceptor_config(ae).supported[CT_SOP].transfer_syntaxes == (IMPLICIT,)
    ae.remove_supported_context(CT_SOP)
    assert ae.supported_contexts == []
    assert acceptor_config(ae).supported[CT_SOP].transfer_syntaxes == (IMPLICIT, EXPLICIT, BIG)
