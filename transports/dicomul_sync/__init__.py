"""dicomul_sync: blocking sockets around the dicomul core, with the pynetdicom3 API.

This first slice is the SCU side of association and verification:
``AE(...).associate(addr, port)`` returns an :class:`Association` with
``send_c_echo()``, ``release()`` and ``abort()``.  The SCP side (``start``),
the other DIMSE services and the SOP class lists come with the rest of the
blocking-transport issue.
"""

from .ae import AE
from .association import Association

#: The Verification SOP Class (PS3.4 Annex A).
VerificationSOPClass = "1.2.840.10008.1.1"

__all__ = ["AE", "Association", "VerificationSOPClass"]
