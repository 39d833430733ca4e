"""How many buffers one ``sendmsg`` call takes, for the adapters that
write a burst of PDUs as one gathered write (the blocking one and the
async direct socket)."""

from __future__ import annotations

import os

__all__ = ["IOV_MAX"]


def _iov_max() -> int:
    try:
        return max(16, os.sysconf("SC_IOV_MAX"))
    except (AttributeError, OSError, ValueError):
        return 1024


#: Buffers one sendmsg() takes at most (the system's IOV_MAX).
IOV_MAX = _iov_max()
