"""dicomul_asyncio: the asyncio adapter for the dicomul Sans-IO core.

Empty until its issue lands; it will only move bytes and keep time around
:mod:dicomul's protocol objects, holding no protocol rule of its own.
"""

__all__: list[str] = []
