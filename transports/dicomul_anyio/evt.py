"""The events handlers are bound to, as pynetdicom's ``evt`` module has them:
``from dicomul_asyncio import evt`` (or ``dicomul_trio``) then
``evt.EVT_ACCEPTED``.  The same module as ``dicomul_sync.evt``
(:mod:`dicomul_common.evt`): the core's event types, the
:class:`~dicomul_common.events.Event` a handler gets."""

from __future__ import annotations

from dicomul_common.evt import *  # noqa: F403
from dicomul_common.evt import __all__  # noqa: F401 - the same public names
