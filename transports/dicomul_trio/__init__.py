"""dicomul_trio: dicomul on trio.

The SCU side: ``async with dicomul_trio.connect(host, port) as assoc``,
then ``await assoc.c_echo()``, ``await assoc.c_store(dataset_or_path)``,
``async for status, match in assoc.c_find(query)``; leaving the block
releases the association, an exception aborts it.

The SCP side: ``await dicomul_trio.serve(Handlers(...), port=...)``
(started with ``task_group.start`` to learn the bound port), async
handlers for every service, the durable directory store, a task per
association; cancelling it aborts what is open.  One implementation,
written on anyio (:mod:`dicomul_anyio`), runs natively on asyncio and on
trio; it holds no protocol rule of its own.
"""

# The same names as dicomul_anyio, whose one implementation runs on both.
from dicomul_anyio import *  # noqa: F403
from dicomul_anyio import __all__ as __all__
