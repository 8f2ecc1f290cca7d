"""browsercouch.http: HTTP/1.1 for any ASGI application over any byte stream.

This layer turns bytes into ASGI calls and back, and nothing else. ``serve_connection()`` runs one
connection: h11 (sans-IO, pure Python) parses and frames HTTP/1.1, and a three-method byte stream
(``read``, ``write``, ``close``) carries the bytes, whether it wraps an asyncio socket
(``AsyncioStream``), a browser shell's per-connection feed, or an in-memory pipe (``memory_pipe()``).
The driver never knows which, so the same code serves natively and inside Pyodide. ``start_server()``
listens on a TCP port with it (``browsercouch serve``), capping connections, and ``lifespan()`` runs an
app's start-up and shutdown around it. Two ASGI middlewares guard and record what a shell serves, in
both runtimes: ``TrustedHosts`` refuses a ``Host`` that does not name the server (DNS rebinding), and
``AccessLog`` logs each request. ``HTTPConnection`` is one client connection over the same streams, and
``open_app()`` joins it to an in-process app through a memory pipe. ``HttpClient`` is the interface every
outgoing request of browsercouch goes through (the replicator's peers, the tab's own requests);
``PooledClient`` implements it over ``HTTPConnection``s with keep-alive, over TCP (``tcp_client()``) or an
in-process app (``app_client()``); the page's ``fetch()`` is another implementation. The layer runs *any*
ASGI app and imports no other browsercouch layer.
"""

from .access_log import AccessLog
from .asyncio_server import Server, lifespan, start_server
from .client import (
    DEFAULT_TIMEOUT,
    HttpClient,
    HttpResponse,
    PooledClient,
    StreamedResponse,
    app_client,
    tcp_client,
)
from .connection import AppStream, ConnectionResponse, HTTPConnection, Response, open_app, open_tcp
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
    "ConnectionResponse",
    "AppStream",
    "open_tcp",
    "open_app",
    "HttpClient",
    "HttpResponse",
    "StreamedResponse",
    "PooledClient",
    "tcp_client",
    "app_client",
    "DEFAULT_TIMEOUT",
]
