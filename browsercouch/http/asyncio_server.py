"""A plain asyncio TCP server that runs an ASGI app through ``serve_connection``: ``browsercouch serve``.

This is the native server, the same driver the browser tab runs, over asyncio's sockets. Natively it
replaced uvicorn (whose h11 mode it outpaced on keep-alive GETs, with a lower p99 at 32 clients): one
driver means the limits, the framing checks and their tests are written once for both runtimes, and
uvicorn has no timeout for a request head nor one for a connection that never sends its first request.

Each accepted connection becomes an ``AsyncioStream`` served by ``serve_connection`` in asyncio's
per-connection task. ``max_connections`` caps the connections served at once: beyond it, a connection
is answered ``503`` at once and closed (with short timeouts), so idle clients cannot take every file the
process may open, and the cap is meant to sit below that limit. ``lifespan(app)`` runs an app's ASGI
lifespan (start-up and shutdown) around serving.
"""

import asyncio
import contextlib
import json

from .driver import DEFAULT_LIMITS, Limits, serve_connection
from .streams import AsyncioStream

__all__ = ["Server", "start_server", "lifespan"]

# How a connection beyond the cap is treated: answered as soon as its request head is in, else dropped.
OVERLOAD_LIMITS = Limits(keepalive_timeout=2.0, header_timeout=2.0, body_timeout=2.0, max_drain=0)


class Server:
    """A listening ``asyncio.Server`` (``sockets``, ``close()``, ``wait_closed()``) that counts the
    connections it serves (``connections``) and can end them all (``shutdown()``)."""

    def __init__(self, app, limits, max_connections):
        self.app = app
        self.limits = limits
        self.max_connections = max_connections
        self.connections = 0
        self.server = None
        self._tasks = set()

    @property
    def sockets(self):
        return self.server.sockets

    def close(self):
        self.server.close()

    async def wait_closed(self):
        await self.server.wait_closed()

    async def shutdown(self):
        """Stop listening, then cancel every connection's task and wait for them to end."""
        self.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def handle(self, reader, writer):
        peer = writer.get_extra_info("peername") or ("", 0)
        local = writer.get_extra_info("sockname") or ("", 0)
        stream = AsyncioStream(reader, writer)
        task = asyncio.current_task()
        self._tasks.add(task)
        if self.max_connections is not None and self.connections >= self.max_connections:
            app, limits, counted = self._overload, OVERLOAD_LIMITS, 0
        else:
            app, limits, counted = self.app, self.limits, 1
        self.connections += counted
        try:
            await serve_connection(app, stream, client=peer[:2], server=local[:2], limits=limits)
        except asyncio.CancelledError:
            # The server is shutting down and the stream is closed. Nobody awaits this task, and
            # Python 3.11's start_server callback logs a cancelled one as an error.
            return
        finally:
            self.connections -= counted
            self._tasks.discard(task)

    async def _overload(self, scope, receive, send):
        reason = (f"The server is at its limit of {self.max_connections} connections; "
                  "try again when fewer are open.")
        body = json.dumps({"error": "service_unavailable", "reason": reason}).encode() + b"\n"
        headers = [(b"content-type", b"application/json"), (b"connection", b"close"), (b"retry-after", b"1")]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def start_server(app, host="127.0.0.1", port=0, *, sock=None, limits=DEFAULT_LIMITS,
                       max_connections=None):
    """Serve ``app`` on ``sock`` (a bound, listening socket) or else on ``host``:``port`` (loopback and a
    free port by default), at most ``max_connections`` connections at once (``None``: no cap).

    Returns a ``Server``; its port is ``server.sockets[0].getsockname()[1]``. ``close()`` stops listening
    (connections already open run until they end), ``shutdown()`` ends them too. Raises ``OSError`` if the
    address cannot be bound.
    """
    server = Server(app, limits, max_connections)
    if sock is None:
        server.server = await asyncio.start_server(server.handle, host, port)
    else:
        server.server = await asyncio.start_server(server.handle, sock=sock)
    return server


@contextlib.asynccontextmanager
async def lifespan(app):
    """Run ``app``'s ASGI lifespan: start-up on entry, shutdown on exit. An app that does not speak the
    lifespan protocol (it returns or raises at once) is served without one, as ASGI servers do."""
    to_app, from_app = asyncio.Queue(), asyncio.Queue()
    task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}}, to_app.get,
                                     from_app.put))
    if not await _lifespan_step(task, to_app, from_app, "lifespan.startup"):
        yield
        return
    try:
        yield
    finally:
        await _lifespan_step(task, to_app, from_app, "lifespan.shutdown")
        await asyncio.gather(task, return_exceptions=True)


async def _lifespan_step(task, to_app, from_app, kind):
    """Send ``kind`` and wait for the app's answer; False when the app ended instead (no lifespan)."""
    await to_app.put({"type": kind})
    answer = asyncio.ensure_future(from_app.get())
    await asyncio.wait({task, answer}, return_when=asyncio.FIRST_COMPLETED)
    if not answer.done():
        answer.cancel()
        return False
    message = answer.result()
    if message["type"].endswith(".failed"):
        raise RuntimeError(f"{kind} failed: {message.get('message', '')}")
    return True
