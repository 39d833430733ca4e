"""A TCP proxy that adds a fixed latency to each direction, preserving order.

Usage::

    python bench/_proxy.py LISTEN_PORT TARGET_PORT [--delay SECONDS] [--host 127.0.0.1]

Every chunk read from one side is written to the other ``--delay`` seconds
after it was read (5 ms by default), in the order read, so a round trip
across the proxy takes at least twice the delay: a stand-in for a link with
latency, for the bench's asynchronous-operations-window scenario.  Bytes are
never merged across chunks nor held back beyond their due time, so the proxy
adds latency without adding Nagle-like batching.  It listens on the loopback
address only and serves until killed; it prints ``listening`` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys

CHUNK = 256 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk written ``delay`` s after it was read."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        while True:
            data = await reader.read(CHUNK)
            await queue.put((loop.time() + delay, data))
            if not data:
                return

    async def write() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    reading = asyncio.ensure_future(read())
    try:
        await write()
    except OSError:
        pass
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await reading


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def serve(listen_port: int, target_port: int, delay: float, host: str) -> None:
    """Accept on ``host:listen_port``; join each connection to ``host:target_port``."""

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(host, target_port)
        except OSError:
            client_w.close()
            return
        _nodelay(client_w)
        _nodelay(server_w)
        try:
            await asyncio.gather(
                _pipe(client_r, server_w, delay), _pipe(server_r, client_w, delay)
            )
        finally:
            for w in (client_w, server_w):
                w.close()
                with contextlib.suppress(OSError):
                    await w.wait_closed()

    server = await asyncio.start_server(handle, host, listen_port)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("listen_port", type=int)
    parser.add_argument("target_port", type=int)
    parser.add_argument("--delay", type=float, default=0.005, help="seconds each way (0.005)")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.listen_port, args.target_port, args.delay, args.host))
    return 0


if __name__ == "__main__":
    sys.exit(main())
