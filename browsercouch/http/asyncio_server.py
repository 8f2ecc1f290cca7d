"""A plain asyncio TCP server that runs an ASGI app through ``serve_connection``.

Natively, uvicorn is the production server; this one exists so that tests can exercise the very
driver the browser uses over real sockets, and as a fallback where uvicorn is absent. Each accepted
connection becomes an ``AsyncioStream`` served by ``serve_connection`` in asyncio's per-connection task.
"""

import asyncio

from .driver import DEFAULT_LIMITS, serve_connection
from .streams import AsyncioStream

__all__ = ["start_server"]


async def start_server(app, host="127.0.0.1", port=0, *, limits=DEFAULT_LIMITS):
    """Listen on ``host``:``port`` (loopback and a free port by default) and serve ``app`` there.

    Returns the listening ``asyncio.Server``; its port is ``server.sockets[0].getsockname()[1]``.
    Close it with ``server.close()`` and ``await server.wait_closed()``; connections already open run
    until they end. Raises ``OSError`` if the address cannot be bound.
    """

    async def handle(reader, writer):
        peer = writer.get_extra_info("peername") or ("", 0)
        local = writer.get_extra_info("sockname") or (host, port)
        try:
            await serve_connection(
                app, AsyncioStream(reader, writer), client=peer[:2], server=local[:2], limits=limits
            )
        except asyncio.CancelledError:
            # The loop is shutting down and the stream is closed. Nobody awaits this task, and
            # Python 3.11's start_server callback logs a cancelled one as an error.
            return

    return await asyncio.start_server(handle, host, port)
