"""The HTTP client interface (``HttpClient``) every outgoing request goes through, and its pooled h11
implementation.

The replicator's remote endpoints, the tab's own requests and the page's ``fetch()`` client all speak it.
It is two coroutines and a context manager, and ``request()`` is written once here over ``stream()``, so
an implementation is ``stream()`` and ``close()``:

``await client.request(method, url, headers=None, body=None, *, timeout=None) -> HttpResponse``
    One whole response: ``status`` (int), ``headers`` (dict, lowercase names) and ``body`` (bytes).
``async with client.stream(method, url, headers=None, body=None, *, timeout=None) as response:``
    The response once its head has arrived; ``response.aiter_bytes()`` yields the body as it comes
    (``_changes`` feeds with heartbeats). Leaving the block early abandons the rest of the body.
``await client.close()``
    Close every idle connection; idempotent.

``url`` is absolute (``http://host:port/path?query``); credentials are never part of it (the endpoint
sends an ``Authorization`` header instead). ``body`` is ``None`` or bytes. ``timeout`` is how many
seconds of *silence* are tolerated: to connect, for the response head, and between two body chunks (a
long-poll that sends heartbeats never times out; a peer that stops talking does). Errors: ``OSError``
(``ConnectionError`` included) when the peer cannot be reached or breaks the connection, ``TimeoutError``
when it stays silent, ``ValueError`` for a URL that is not ``http``/``https``. HTTP error statuses are not
errors here: the caller reads ``status``.

``PooledClient`` implements it over ``HTTPConnection`` (``connection.py``, h11) with a small keep-alive
pool per ``(scheme, host, port)``. A request on a kept-alive connection that the server has meanwhile
closed is sent once more on a fresh connection (and the host's other idle connections are dropped).
Where the bytes go is one ``connect(scheme, host, port)`` coroutine: ``tcp_client()`` opens TCP (and
TLS for ``https``) connections with asyncio; ``app_client(app)`` joins each connection to an in-process
ASGI app through a memory pipe running the real HTTP driver, no socket, for tests.
"""

import asyncio
import contextlib
from urllib.parse import urlsplit

from .connection import HTTPConnection, open_app
from .streams import AsyncioStream

__all__ = ["HttpClient", "HttpResponse", "StreamedResponse", "PooledClient", "tcp_client", "app_client",
           "DEFAULT_TIMEOUT", "DEFAULT_MAX_IDLE"]

# CouchDB's replicator waits 30 s ([replicator] connection_timeout = 30000) before it gives up on a peer.
DEFAULT_TIMEOUT = 30.0
# Idle connections kept per host: a replication keeps a few batches in flight, each using one.
DEFAULT_MAX_IDLE = 8


class HttpResponse:
    """A whole response: ``status``, ``headers`` (dict of lowercase name -> value) and ``body`` bytes."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self):
        return f"<HttpResponse {self.status}, {len(self.body)} bytes>"


class HttpClient:
    """The interface; see the module docstring for the contract. Subclasses implement ``stream()`` and
    ``close()``."""

    async def request(self, method, url, headers=None, body=None, *, timeout=None):
        async with self.stream(method, url, headers, body, timeout=timeout) as response:
            data = await response.read()
        return HttpResponse(response.status, response.headers, data)

    def stream(self, method, url, headers=None, body=None, *, timeout=None):
        raise NotImplementedError

    async def close(self):
        raise NotImplementedError


class StreamedResponse:
    """A response whose body is read as it arrives (from ``HttpClient.stream()``)."""

    def __init__(self, status, headers, chunks, timeout):
        self.status = status
        self.headers = headers
        self._chunks = chunks
        self._timeout = timeout

    async def aiter_bytes(self):
        """Yield body chunks; ``TimeoutError`` after ``timeout`` s without one, ``ConnectionError`` if the
        body is cut short."""
        while True:
            async with asyncio.timeout(self._timeout):
                chunk = await anext(self._chunks, None)
            if chunk is None:
                return
            yield chunk

    async def read(self):
        """The rest of the body."""
        return b"".join([chunk async for chunk in self.aiter_bytes()])


def _split_url(url):
    """``((scheme, host, port), target, host_header)`` of an absolute http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    host_header = f"{host}:{parts.port}" if parts.port else host
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.scheme, parts.hostname, port), target, host_header


def _headers(head):
    headers = {}
    for name, value in head.headers:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


class PooledClient(HttpClient):
    """``HttpClient`` over h11 connections from ``connect(scheme, host, port) -> byte stream``.

    Args:
        connect: a coroutine function opening one connection; raises ``OSError`` when it cannot.
        timeout: default seconds of silence tolerated (see the module docstring).
        max_idle: idle connections kept per host.

    ``connections_opened`` counts the connections made so far (tests and benchmarks read it).
    """

    def __init__(self, connect, *, timeout=DEFAULT_TIMEOUT, max_idle=DEFAULT_MAX_IDLE):
        self._connect = connect
        self.timeout = timeout
        self.max_idle = max_idle
        self._idle = {}
        self.connections_opened = 0
        self.closed = False

    @contextlib.asynccontextmanager
    async def stream(self, method, url, headers=None, body=None, *, timeout=None):
        if self.closed:
            raise RuntimeError("the HTTP client is closed")
        timeout = self.timeout if timeout is None else timeout
        key, target, host = _split_url(url)
        async with contextlib.AsyncExitStack() as stack:
            conn, head = await self._send(stack, key, host, (method, target, headers, body), timeout)
            try:
                yield StreamedResponse(head.status, _headers(head), head.aiter_bytes(), timeout)
            finally:
                # Closing the stream's context first lets the connection decide whether it is reusable.
                await stack.aclose()
                await self._release(key, conn)

    async def _send(self, stack, key, host, request, timeout):
        """Send ``request`` and return ``(connection, response head)``; retry once on a stale connection."""
        for attempt in (1, 2):
            conn, reused = await self._acquire(key, host, timeout)
            try:
                async with asyncio.timeout(timeout):
                    head = await stack.enter_async_context(conn.stream(*request))
                return conn, head
            except ConnectionError:
                await conn.close()
                if not reused or attempt == 2:
                    raise
                # A kept-alive connection the server closed while it sat idle: the others kept for this
                # host are likely stale too (a restarted server). Replay on a fresh connection.
                for stale in self._idle.pop(key, []):
                    await stale.close()
            except BaseException:
                await conn.close()
                raise
        raise AssertionError("unreachable")

    async def _acquire(self, key, host, timeout):
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn, True
        async with asyncio.timeout(timeout):
            stream = await self._connect(*key)
        self.connections_opened += 1
        return HTTPConnection(stream, host=host), False

    async def _release(self, key, conn):
        if conn.closed:
            return
        idle = self._idle.setdefault(key, [])
        if self.closed or len(idle) >= self.max_idle:
            await conn.close()
        else:
            idle.append(conn)

    async def close(self):
        """Close all idle connections; later requests raise ``RuntimeError``. Idempotent."""
        self.closed = True
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                await conn.close()


async def _connect_tcp(scheme, host, port):
    ssl_context = None
    if scheme == "https":
        import ssl  # only when needed: Pyodide ships ssl as a separate package

        ssl_context = ssl.create_default_context()
    reader, writer = await asyncio.open_connection(host, port, ssl=ssl_context)
    # No lingering close: a client closes its side after reading the whole response it wanted.
    return AsyncioStream(reader, writer, linger=0)


def tcp_client(**options):
    """A ``PooledClient`` over TCP (asyncio; TLS for https). ``options``: ``timeout``, ``max_idle``."""
    return PooledClient(_connect_tcp, **options)


def app_client(app, **options):
    """A ``PooledClient`` whose every connection is served by the ASGI ``app`` in this process.

    Requests go through ``browsercouch.http``'s real h11 driver over a memory pipe; the URL's host and
    port only name the pool. ``options``: ``timeout``, ``max_idle``.
    """

    async def connect(scheme, host, port):
        return await open_app(app, server=(host, port), scheme=scheme)

    return PooledClient(connect, **options)
