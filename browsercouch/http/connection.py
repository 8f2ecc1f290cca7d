"""A minimal HTTP/1.1 client over a byte stream, with h11.

The mirror of ``driver.py``: an ``HTTPConnection`` owns a client-side ``h11.Connection`` and one byte
stream, sends one request at a time and reads its response, and reuses the stream for the next request
while both sides keep the connection alive. Where the stream comes from is not its business:
``open_tcp()`` gives a socket, and ``open_app()`` gives one end of a memory pipe whose other end an
in-process ``serve_connection()`` serves, so tests run the real driver without a socket.

Deliberately small: no connection pool, redirects, retries, cookies or TLS. The replicator's client
builds those on top.
"""

import asyncio
import contextlib
import json
from collections.abc import Mapping

import h11

from .driver import serve_connection
from .streams import AsyncioStream, ByteStream, memory_pipe

__all__ = ["Response", "ConnectionResponse", "HTTPConnection", "AppStream", "open_tcp", "open_app"]

# Request bodies up to this size go out in the same write() as the request head.
_COALESCE_SIZE = 64 * 1024


def _bytes(value):
    return value.encode("latin-1") if isinstance(value, str) else bytes(value)


class _Head:
    """Status and headers of a response; headers are ``(lowercase name, value)`` byte pairs."""

    def __init__(self, status, headers):
        self.status = status
        self.headers = headers

    def header(self, name, default=None):
        """The first value of header ``name`` (case-insensitive) as a ``str``, or ``default``."""
        wanted = _bytes(name).lower()
        for key, value in self.headers:
            if key == wanted:
                return value.decode("latin-1")
        return default


class Response(_Head):
    """A whole response: ``status`` (int), ``headers`` (list of byte pairs), ``body`` (bytes)."""

    def __init__(self, status, headers, body):
        super().__init__(status, headers)
        self.body = body

    def json(self):
        """The body parsed as JSON; raises ``ValueError`` if it is not JSON."""
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status}, {len(self.body)} bytes>"


class ConnectionResponse(_Head):
    """A response whose body is read as it arrives, inside ``HTTPConnection.stream()``."""

    def __init__(self, connection, status, headers):
        super().__init__(status, headers)
        self._connection = connection
        self.complete = False  # the whole body has been read

    async def aiter_bytes(self):
        """Yield the body's chunks as they arrive; raises ``ConnectionError`` if it is cut short."""
        while not self.complete:
            event = await self._connection._next_event()
            if type(event) is h11.Data:
                yield bytes(event.data)
            elif type(event) is h11.EndOfMessage:
                self.complete = True

    async def aread(self):
        """Read the rest of the body and return it."""
        return b"".join([chunk async for chunk in self.aiter_bytes()])


class HTTPConnection:
    """One HTTP/1.1 connection over a byte stream; one request at a time, kept alive between requests.

    Args:
        stream: a byte stream (see ``streams.py``), for example from ``open_tcp()`` or ``open_app()``.
        host: the ``Host`` header sent when a request does not name one.

    Errors: ``ConnectionError`` when the server closes or breaks the connection, or when a request is
    made after the connection has closed (the server may close it after any response; open a new one).
    Usable as an async context manager that closes the stream on exit.
    """

    def __init__(self, stream, *, host="127.0.0.1"):
        self._stream = stream
        self._host = _bytes(host)
        self._h11 = h11.Connection(h11.CLIENT)
        self._busy = False
        self.closed = False

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        await self.close()

    async def request(self, method, target, headers=None, body=None):
        """Send a request and return the whole ``Response``.

        Args:
            method, target: e.g. ``"GET"``, ``"/db/doc?rev=1-abc"`` (str or bytes).
            headers: a mapping or a list of ``(name, value)`` pairs, str or bytes.
            body: ``None``, bytes, or an async iterable of bytes (sent chunked unless a
                ``Content-Length`` header is given).
        """
        async with self.stream(method, target, headers, body) as response:
            body = await response.aread()
        return Response(response.status, response.headers, body)

    @contextlib.asynccontextmanager
    async def stream(self, method, target, headers=None, body=None):
        """Send a request and yield a ``ConnectionResponse`` once its head has arrived.

        Same arguments as ``request()``. Leaving the block before the body is read to the end closes
        the connection (the server sees the client go away); otherwise it stays open for reuse.
        """
        if self.closed:
            raise ConnectionError("the connection is closed")
        if self._busy:
            raise RuntimeError("HTTPConnection runs one request at a time")
        self._busy = True
        response = None
        try:
            await self._send_request(method, target, headers, body)
            head = await self._next_event()
            while type(head) is h11.InformationalResponse:
                head = await self._next_event()
            response = ConnectionResponse(self, head.status_code, list(head.headers))
            yield response
        finally:
            self._busy = False
            await self._finish(response)

    async def close(self):
        """Close the stream; idempotent."""
        self.closed = True
        await self._stream.close()

    async def _send_request(self, method, target, headers, body):
        headers = self._headers(headers, body)
        h = self._h11
        head = h.send(h11.Request(method=_bytes(method), target=_bytes(target), headers=headers))
        if body is None or isinstance(body, (bytes, bytearray, memoryview)):
            body = bytes(body or b"")
            if len(body) <= _COALESCE_SIZE:
                await self._stream.write(head + h.send(h11.Data(data=body)) + h.send(h11.EndOfMessage()))
                return
            await self._stream.write(head)
            await self._stream.write(h.send(h11.Data(data=body)))
        else:
            await self._stream.write(head)
            async for chunk in body:
                if chunk:
                    await self._stream.write(h.send(h11.Data(data=chunk)))
        await self._stream.write(h.send(h11.EndOfMessage()))

    def _headers(self, headers, body):
        items = headers.items() if isinstance(headers, Mapping) else headers or ()
        pairs = [(_bytes(name).lower(), _bytes(value)) for name, value in items]
        names = {name for name, _ in pairs}
        if b"host" not in names:
            pairs.insert(0, (b"host", self._host))
        if b"content-length" in names or b"transfer-encoding" in names:
            return pairs
        if isinstance(body, (bytes, bytearray, memoryview)):
            pairs.append((b"content-length", b"%d" % len(body)))
        elif body is not None:
            pairs.append((b"transfer-encoding", b"chunked"))
        return pairs

    async def _next_event(self):
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise ConnectionError(f"bad or cut-short response: {exc}") from exc
            if event is not h11.NEED_DATA:
                return event
            self._h11.receive_data(await self._stream.read())

    async def _finish(self, response):
        h = self._h11
        reusable = response is not None and response.complete and h.our_state is h11.DONE
        if reusable and h.their_state is h11.DONE:
            h.start_next_cycle()
        elif not self.closed:
            await self.close()


class AppStream(ByteStream):
    """The client end of an in-process connection to an ASGI app (from ``open_app()``).

    A byte stream like any other; ``server_task`` is the task running ``serve_connection()`` on the
    other end. It finishes soon after this end is closed.
    """

    def __init__(self, end, server_task):
        self._end = end
        self.server_task = server_task

    async def read(self) -> bytes:
        return await self._end.read()

    async def write(self, data: bytes) -> None:
        await self._end.write(data)

    async def write_eof(self) -> None:
        await self._end.write_eof()

    async def close(self) -> None:
        await self._end.close()


async def open_tcp(host, port):
    """Connect to ``host``:``port`` and return an ``AsyncioStream``; raises ``OSError`` on failure."""
    reader, writer = await asyncio.open_connection(host, port)
    return AsyncioStream(reader, writer)


async def open_app(app, **serve_options):
    """Start serving ``app`` on one end of a memory pipe and return the other end, an ``AppStream``.

    ``serve_options`` go to ``serve_connection()`` (``client``, ``server``, ``scheme``, ``limits``,
    ``extensions``).
    Must be called with an event loop running. No socket is opened.
    """
    client_end, server_end = memory_pipe()
    task = asyncio.ensure_future(serve_connection(app, server_end, **serve_options))
    return AppStream(client_end, task)
