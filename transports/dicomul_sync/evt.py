"""The events handlers are bound to, as pynetdicom's ``evt`` module has them.

``from dicomul_sync import evt`` then ``evt.EVT_C_STORE``: the event types
are the core's (:mod:`dicomul._evt`, shared by every adapter); the module
is :mod:`dicomul_common.evt`, which the async adapters export too.
"""

from __future__ import annotations

from dicomul_common.evt import *  # noqa: F403
from dicomul_common.evt import __all__  # noqa: F401 - the same public names
