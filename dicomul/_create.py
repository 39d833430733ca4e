"""The SOP instance an N-CREATE names, as its performer handles it.

PS3.7 10.1.5.1.4 (Affected SOP Instance UID): the invoking side may leave
the instance UID out of its N-CREATE request; the performing side then
assigns one, and its response "shall" carry it.  The same paragraph lets
the response carry the UID "only" in a success response, whoever chose it:
an instance that was not created has no UID to report, not even the one the
requestor proposed.  (This differs from the other DIMSE-N responses, which
echo their request's instance whatever the status: :func:`response_for`.)
:class:`InstanceCreation` says which UID the request carries when the
handler sees it, and which the response carries for the status the handler
gave.

The core generates no UID itself: a UID made here would need a source of
randomness or time (pydicom's ``generate_uid`` reads both), and the core
reads neither.  So the adapter passes the generator in, and the core calls
it only when the request carries no UID (a request that names its
instance costs no UID); a test passes a fixed one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ._command import Command, CommandField
from ._errors import LocalProtocolError
from ._record import dataclass
from ._status import StatusCategory, status_category
from ._wire import is_valid_uid

__all__ = ["InstanceCreation"]

#: The statuses whose N-CREATE response may name the instance: it exists
#: (PS3.7 10.1.5.1.4 "success"; a Warning, 0x0107 or 0x0116, still created it).
_CREATED = frozenset({StatusCategory.SUCCESS, StatusCategory.WARNING})


@dataclass(frozen=True, slots=True)
class InstanceCreation:
    """One N-CREATE request being performed, and its instance UID.

    :attr:`request` is the request as the handler is to see it: with the
    requestor's Affected SOP Instance UID, or with the one assigned here
    (:attr:`assigned` True).  :meth:`response_uid` gives the UID the
    response carries for a status.

    >>> rq = Command(command_field=CommandField.N_CREATE_RQ, message_id=1,
    ...              affected_sop_class_uid="1.2.840.10008.3.1.2.3.3")
    >>> creation = InstanceCreation.of(rq, new_uid=lambda: "1.2.3.4")
    >>> creation.request.affected_sop_instance_uid, creation.assigned
    ('1.2.3.4', True)
    >>> creation.response_uid(0x0000), creation.response_uid(0x0110)
    ('1.2.3.4', None)
    """

    request: Command
    assigned: bool

    @classmethod
    def of(cls, request: Command, *, new_uid: Callable[[], str]) -> InstanceCreation:
        """The instance ``request`` (an N-CREATE-RQ) creates: the one it
        names, or a new one from ``new_uid``, called only then.

        Raises
        ------
        LocalProtocolError
            If ``request`` is no N-CREATE-RQ, or ``new_uid`` gives no UID
            (PS3.5 9.1: digits and dots, at most 64 characters).
        """
        if request.command_field != CommandField.N_CREATE_RQ:
            raise LocalProtocolError(
                f"{request.command_field:#06x} is not an N-CREATE request (0x0140)"
            )
        if request.affected_sop_instance_uid:
            return cls(request, assigned=False)
        uid = str(new_uid())
        if not is_valid_uid(uid.encode("ascii", "replace")):
            raise LocalProtocolError(f"the UID generator gave {uid!r}, which is no UID")
        assigned = dataclasses.replace(request, affected_sop_instance_uid=uid)
        return cls(assigned, assigned=True)

    def response_uid(self, status: int) -> str | None:
        """The Affected SOP Instance UID the response with ``status`` carries:
        the instance's UID (the requestor's or the assigned one) when the
        instance was created (Success or Warning), None otherwise
        (PS3.7 10.1.5.1.4: "may only be included in the success response").
        """
        if status_category(status) not in _CREATED:
            return None
        return self.request.affected_sop_instance_uid
