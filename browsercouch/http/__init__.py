"""browsercouch.http: HTTP/1.1 for any ASGI application over any byte stream.

This layer turns bytes into ASGI calls and back, and nothing else. ``serve_connection()`` runs one
connection: h11 (sans-IO, pure Python) parses and frames HTTP/1.1, and a three-method byte stream
(``read``, ``write``, ``close``) carries the bytes, whether it wraps an asyncio socket
(``AsyncioStream``), a browser shell's per-connection feed, or an in-memory pipe (``memory_pipe()``).
The driver never knows which, so the same code serves natively and inside Pyodide. ``start_server()``
listens on a TCP port with it (``browsercouch serve``), capping connections, and ``lifespan()`` runs an
app's start-up and shutdown around it. Two ASGI middlewares guard and record what a shell serves, in
both runtimes: ``TrustedHosts`` refuses a ``Host`` that does not name the server (DNS rebinding), and
``AccessLog`` logs each request. ``HTTPConnection`` is the small client over the same streams, and
``open_app()`` joins that client to an in-process app through a memory pipe. The layer runs *any*
ASGI app and imports no other browsercouch layer.
"""

from .access_log import AccessLog
from .asyncio_server import Server, lifespan, start_server
from .client import AppStream, HTTPConnection, Response, StreamingResponse, open_app, open_tcp
from .driver import DEFAULT_LIMITS, ClientDisconnected, Limits, serve_connection
from .hosts import TrustedHosts
from .streams import AsyncioStream, ByteStream, MemoryStream, memory_pipe

__all__ = [
    "serve_connection",
    "Limits",
    "DEFAULT_LIMITS",
    "ClientDisconnected",
    "start_server",
    "Server",
    "lifespan",
    "TrustedHosts",
    "AccessLog",
    "ByteStream",
    "AsyncioStream",
    "MemoryStream",
    "memory_pipe",
    "HTTPConnection",
    "Response",
    "StreamingResponse",
    "AppStream",
    "open_tcp",
    "open_app",
]
