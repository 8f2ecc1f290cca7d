"""Serve any ASGI 3 application over any byte stream, with h11.

Theory of operation
-------------------
One connection is one coroutine, ``serve_connection()``. It owns an ``h11.Connection``, which parses
and frames HTTP/1.1 and never does I/O, and a byte stream (``streams.py``), which moves bytes and
knows nothing of HTTP. The connection loops over request/response *cycles*:

1. **Wait for a request head.** Read and feed h11 until it yields a ``Request``. The wait has two
   bounds: ``keepalive_timeout`` until the first byte of the request (an idle keep-alive connection),
   then ``header_timeout`` for the rest of the head (a slowloris client trickling headers). When either
   expires the connection is closed without an answer. A malformed head gets a 400, a head larger
   than ``max_incomplete_event_size`` a 431 (an unsupported Transfer-Encoding a 501), each with
   CouchDB-style error JSON, and then the connection is closed. So does a head h11 would accept but
   another parser could frame differently (RFC 9112): header lines ended by a bare LF, obsolete line
   folding, and both ``Content-Length`` and ``Transfer-Encoding`` (the classic request smuggling).
2. **Run the app.** Build the ``http`` scope and await ``app(scope, receive, send)`` in the
   connection's own task (no task per request: cheap keep-alive loops).

   ``receive()``, while the request body is unfinished, pulls the next body event from h11 and reads
   the stream when h11 needs data, so the body reaches the app chunk by chunk as it arrives and the
   driver never holds it whole. The first such call answers ``Expect: 100-continue``. Once the body
   is finished, ``receive()`` waits for the client to go away (EOF) and returns ``http.disconnect``;
   it returns that at once when the response is already complete. Bytes that arrive meanwhile are
   pipelined requests: h11 keeps them (it is ``PAUSED``) for the next cycle, and reading stops
   while ``max_pipelined`` bytes are waiting.

   ``send()`` holds ``http.response.start`` and writes the head together with the first body
   message, so a small response is one write, and an app that fails before its first body message
   can still get a clean 500. A body sent in one message without a ``Content-Length`` gets one; a
   body in several messages and no length is framed by h11 (chunked, or close-delimited for an
   HTTP/1.0 client). Bodies of responses to HEAD are dropped. A failed write raises
   ``ClientDisconnected`` into the app.
3. **Finish the cycle.** An app that returns (or raises) before its first body message gets a 500
   JSON answer; one that stops mid-response gets the connection closed, so the client sees a
   truncated body rather than a wrong one. A request body the app left unread is read and discarded
   up to ``max_drain`` bytes to keep the connection alive (unless the client is still waiting for a
   100 Continue it never got); beyond that, the connection closes. If both sides are ``DONE``,
   ``start_next_cycle()`` and go to 1: pipelined requests are answered in order, one at a time.

Rules that keep it honest:

- Reads are serialised. Outside the app, the loop reads the stream directly. Inside the app,
  ``receive()`` reads through one shared task that it waits on without cancelling it, so an app that
  cancels ``receive()`` (a heartbeat timer, say) loses no bytes; the loop takes over a read still in
  flight when the cycle ends.
- The stream is closed once, when ``serve_connection()`` returns, whatever happened.
- Timeouts are asyncio timers and nothing blocks or starts a thread, so the same code runs on
  Pyodide's event loop in a browser tab.
"""

import asyncio
import dataclasses
import json
import logging
import re
import time
from email.utils import formatdate
from functools import lru_cache
from urllib.parse import unquote

import h11

__all__ = [
    "MAX_INCOMPLETE_EVENT_SIZE",
    "KEEPALIVE_TIMEOUT",
    "HEADER_TIMEOUT",
    "BODY_TIMEOUT",
    "MAX_DRAIN",
    "MAX_PIPELINED",
    "Limits",
    "DEFAULT_LIMITS",
    "ClientDisconnected",
    "serve_connection",
]

log = logging.getLogger(__name__)

# Most bytes of a request line plus headers. h11's default is 16 KiB (node 80 KiB, IIS 16 KiB, Tomcat
# 8 KiB, Apache 8 KiB per line); 64 KiB leaves room for long _changes?doc_ids=... targets and big cookies.
MAX_INCOMPLETE_EVENT_SIZE = 64 * 1024

# Seconds an idle keep-alive connection waits for its next request; CouchDB (mochiweb) also waits 60 s.
KEEPALIVE_TIMEOUT = 60.0

# Seconds from a request's first byte until its head must be complete (slowloris guard; Apache's
# mod_reqtimeout allows 20-40 s for headers).
HEADER_TIMEOUT = 30.0

# Seconds the driver waits for the next piece of a request body before treating the client as gone.
BODY_TIMEOUT = 60.0

# Most unread request-body bytes discarded to keep a connection alive; a reconnect is cheaper beyond.
MAX_DRAIN = 64 * 1024

# Most bytes of pipelined requests buffered while a response is still being sent.
MAX_PIPELINED = 64 * 1024


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-server overrides of the module constants above (same names, lower case)."""

    max_incomplete_event_size: int = MAX_INCOMPLETE_EVENT_SIZE
    keepalive_timeout: float = KEEPALIVE_TIMEOUT
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    max_drain: int = MAX_DRAIN
    max_pipelined: int = MAX_PIPELINED


DEFAULT_LIMITS = Limits()


class ClientDisconnected(OSError):
    """Raised by ASGI ``send()`` when the response can no longer be written (the client has gone)."""


_ASGI = {"version": "3.0", "spec_version": "2.4"}
_DISCONNECT = {"type": "http.disconnect"}
_NO_BODY_STATUSES = frozenset([204, 304])
# CouchDB-style error names for the statuses h11 suggests when it refuses a request head.
_HEAD_ERRORS = {
    400: "bad_request",
    431: "request_header_fields_too_large",
    501: "not_implemented",  # a Transfer-Encoding other than chunked
}
# The end of a request head: its first empty line, however the lines end.
_HEAD_END = re.compile(rb"\n\r?\n")
# A header line that starts with white space continues the previous one (obs-fold).
_FOLDED_LINE = re.compile(rb"\n[ \t]")


async def serve_connection(
    app,
    stream,
    *,
    client=("127.0.0.1", 0),
    server=("127.0.0.1", 0),
    scheme="http",
    limits=DEFAULT_LIMITS,
    extensions=None,
):
    """Serve HTTP/1.1 requests from ``stream`` with the ASGI 3 application ``app`` until the connection ends.

    Args:
        app: an ASGI 3 callable ``app(scope, receive, send)``; it only ever sees ``http`` scopes.
        stream: a byte stream (``read``/``write``/``close``, see ``streams.py``), one connection.
        client: the peer's ``(host, port)``, passed to the app as ``scope["client"]``.
        server: our ``(host, port)``, passed as ``scope["server"]``.
        scheme: ``"http"`` or ``"https"``, passed as ``scope["scheme"]``.
        limits: a ``Limits``; sizes and timeouts.
        extensions: ASGI scope ``extensions`` every request of this connection carries (what the
            connection itself proves about its requests, e.g. that they come from the hosting page).

    Returns ``None`` once the client has closed, a timeout or error has ended the connection, or a
    response asked for the connection to close; the stream is closed by then. Exceptions from the app
    are logged and answered (500) or end the connection; they do not propagate. Cancelling the task
    closes the stream and propagates ``CancelledError``.
    """
    base_scope = {
        "type": "http",
        "asgi": _ASGI,
        "scheme": scheme,
        "root_path": "",
        "client": tuple(client),
        "server": tuple(server),
    }
    if extensions:
        base_scope["extensions"] = dict(extensions)
    connection = _Connection(app, stream, base_scope, limits)
    try:
        await connection.serve()
    finally:
        connection.cancel_read()
        try:
            await stream.close()
        except OSError:
            pass


class _Connection:
    """The state of one connection: h11, the stream, and the read shared with ``receive()``."""

    def __init__(self, app, stream, base_scope, limits):
        self.app = app
        self.stream = stream
        self.base_scope = base_scope
        self.limits = limits
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_incomplete_event_size)
        self.eof = False  # the client sent EOF (or reset the connection)
        self.broken = False  # a write failed or a body read timed out: close after this cycle
        self.read_task = None  # a read started by receive(), its bytes not yet fed to h11

    async def serve(self):
        while True:
            request = await self._next_request()
            if request is None:
                return
            cycle = _Cycle(self, request)
            await cycle.run()
            if not await self._end_cycle(cycle):
                return

    async def _next_request(self):
        """Return the next ``h11.Request``, or ``None`` when the connection should close."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.keepalive_timeout
        head_started = False
        # The bytes of the head so far (at most the head size limit), for the framing checks h11 skips.
        head = self.h11.trailing_data[0][: self.limits.max_incomplete_event_size]
        while True:
            refusal = _framing_refusal(head)
            if refusal is not None:
                await self._reject(h11.RemoteProtocolError(refusal, error_status_hint=400))
                return None
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                await self._reject(exc)
                return None
            if type(event) is h11.Request:
                return await self._check_head(event)
            if event is not h11.NEED_DATA:  # ConnectionClosed
                return None
            if not head_started and self.h11.trailing_data[0]:
                head_started = True
                deadline = loop.time() + self.limits.header_timeout
            try:
                async with asyncio.timeout_at(deadline):
                    data = await self.fill()
            except TimeoutError:
                return None
            if len(head) < self.limits.max_incomplete_event_size:
                head += data[: self.limits.max_incomplete_event_size - len(head)]

    async def _check_head(self, request):
        """Return ``request``, or answer it and return ``None`` when its head is refused: over the size
        limit (431), or framed by both ``Content-Length`` and ``Transfer-Encoding`` (400, RFC 9112 section
        6.3: a proxy in front could read another body, and the rest as a smuggled request).

        h11 enforces the size limit only on a head still incomplete in its buffer; a head that arrives
        complete within one read is measured here.
        """
        size = len(request.method) + len(request.target) + 14  # "M T HTTP/1.1\r\n" and the last "\r\n"
        framing = 0
        for name, value in request.headers.raw_items():
            size += len(name) + len(value) + 4  # ": " and "\r\n"
            lowered = name.lower()
            if lowered == b"content-length" or lowered == b"transfer-encoding":
                framing |= 1 if lowered == b"content-length" else 2
        if size > self.limits.max_incomplete_event_size:
            await self._reject(h11.RemoteProtocolError("Request head too long", error_status_hint=431))
            return None
        if framing == 3:
            await self._reject(h11.RemoteProtocolError(
                "A request must not have both Content-Length and Transfer-Encoding", error_status_hint=400))
            return None
        return request

    async def _reject(self, exc):
        """Answer a request head h11 refused, with the status it suggests, unless the client is gone."""
        if not self.eof:
            status = exc.error_status_hint
            await self.send_error(status, _HEAD_ERRORS.get(status, "bad_request"), str(exc))

    async def _end_cycle(self, cycle):
        """Get h11 ready for the next request; return False when the connection must close instead."""
        h = self.h11
        if self.broken or h.our_state is not h11.DONE:
            return False
        if h.their_state is h11.SEND_BODY:
            if cycle.expects_continue and not cycle.continued:
                return False
            if not await self._drain_body():
                return False
        if h.their_state is not h11.DONE:
            return False
        h.start_next_cycle()
        return True

    async def _drain_body(self):
        """Read and discard the rest of a request body; return False if it is too long, late or bad."""
        budget = self.limits.max_drain
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError:
                return False
            if type(event) is h11.Data:
                budget -= len(event.data)
                if budget < 0:
                    return False
            elif type(event) is h11.EndOfMessage:
                return True
            else:  # NEED_DATA
                try:
                    async with asyncio.timeout(self.limits.body_timeout):
                        await self.fill()
                except TimeoutError:
                    return False

    async def fill(self):
        """Read once (taking over a read ``receive()`` left in flight), feed the bytes to h11, return them."""
        task = self.read_task
        if task is None:
            data = await self._read()
        else:
            self.read_task = None
            data = await task
        self._feed(data)
        return data

    async def fill_shared(self, timeout=None, stop=None):
        """Read once through the shared read task and feed h11; never cancels that task.

        Returns False, having fed nothing, when ``timeout`` seconds pass or the future ``stop`` is done
        first; the read stays in flight for the next caller.
        """
        task = self.read_task
        if task is None:
            task = self.read_task = asyncio.ensure_future(self._read())
        waiting = {task} if stop is None else {task, stop}
        await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            return False
        if self.read_task is task:  # else a concurrent receive() or the loop has fed it already
            self.read_task = None
            self._feed(task.result())
        return True

    def cancel_read(self):
        if self.read_task is not None:
            self.read_task.cancel()
            self.read_task = None

    async def _read(self):
        try:
            return await self.stream.read()
        except OSError:
            return b""

    def _feed(self, data):
        if self.eof:
            return
        if not data:
            self.eof = True
        self.h11.receive_data(data)

    async def write(self, data):
        """Write to the stream; raises ``ClientDisconnected`` (and marks the connection) if that fails."""
        try:
            await self.stream.write(data)
        except OSError as exc:
            self.broken = True
            raise ClientDisconnected("the client has closed the connection") from exc

    async def send_error(self, status, error, reason, *, head_only=False):
        """Send a whole JSON error response with ``Connection: close``, if h11's state still allows one."""
        body = json.dumps({"error": error, "reason": reason}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            (b"connection", b"close"),
            (b"date", _http_date(int(time.time()))),
        ]
        try:
            data = self.h11.send(h11.Response(status_code=status, headers=headers))
            if not head_only:
                data += self.h11.send(h11.Data(data=body))
            data += self.h11.send(h11.EndOfMessage())
            await self.write(data)
        except (h11.LocalProtocolError, ClientDisconnected):
            self.broken = True


class _Cycle:
    """One request and its response: the ASGI scope and the ``receive``/``send`` callables."""

    def __init__(self, connection, request):
        self.connection = connection
        self.head_only = request.method == b"HEAD"
        self.expects_continue = connection.h11.they_are_waiting_for_100_continue
        self.continued = False  # we sent 100 Continue
        self.body_done = False  # the app has received the whole request body
        self.stash = None  # a body event read ahead by receive()
        self.body_error = None  # (status, error, reason) when the request body could not be read
        self.status = None  # from http.response.start, held until the first body message
        self.headers = None
        self.flushed = False  # the response head has been written
        self.complete = False  # the whole response has been written
        self.ended = None  # a future, done once the response is complete (made on demand)
        self.scope = self._scope(request)

    def _scope(self, request):
        raw_path, _, query_string = request.target.partition(b"?")
        scope = dict(self.connection.base_scope)
        scope["http_version"] = request.http_version.decode("ascii")
        scope["method"] = request.method.decode("ascii")
        scope["path"] = unquote(raw_path.decode("ascii"))
        scope["raw_path"] = raw_path
        scope["query_string"] = query_string
        scope["headers"] = list(request.headers)
        return scope

    async def run(self):
        """Run the app for this request; turn its failures into a 500 or a closed connection."""
        try:
            await self.connection.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            self.connection.broken = True
        except Exception:
            log.exception("ASGI application raised on %s %s", self.scope["method"], self.scope["path"])
            await self._fail("The server hit an unexpected error.")
        else:
            if not self.flushed:
                await self._fail("The application returned without sending a response.")
        finally:
            self._end()

    async def _fail(self, reason):
        """Answer a failed cycle: 400/408 for a bad or late body, else 500; close if the head is out."""
        connection = self.connection
        if self.flushed:
            connection.broken = True
        elif self.body_error is not None:
            await connection.send_error(*self.body_error, head_only=self.head_only)
        else:
            await connection.send_error(500, "internal_server_error", reason, head_only=self.head_only)

    def _end(self):
        self.complete = True
        if self.ended is not None and not self.ended.done():
            self.ended.set_result(None)

    async def receive(self):
        """ASGI receive: the next ``http.request`` body chunk; ``http.disconnect`` once the client goes."""
        if self.body_done or self.complete:
            return await self._wait_disconnect()
        if self.expects_continue and not self.continued and not await self._send_continue():
            event = None
        else:
            event = await self._next_body_event()
        if event is None:
            self.body_done = True
            return _DISCONNECT
        if type(event) is h11.EndOfMessage:
            self.body_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        more = self._read_ahead()
        return {"type": "http.request", "body": bytes(event.data), "more_body": more}

    async def _send_continue(self):
        """Send ``100 Continue`` unless a final response already went out; False if the client is gone."""
        self.continued = True
        h = self.connection.h11
        if h.they_are_waiting_for_100_continue:
            try:
                await self.connection.write(h.send(h11.InformationalResponse(status_code=100, headers=[])))
            except ClientDisconnected:
                return False
        return True

    async def _next_body_event(self):
        """Return the next ``Data``/``EndOfMessage``, or ``None`` if the body cannot be finished."""
        if self.stash is not None:
            event, self.stash = self.stash, None
            return event
        connection = self.connection
        while True:
            try:
                event = connection.h11.next_event()
            except h11.RemoteProtocolError as exc:
                self.body_error = (400, "bad_request", str(exc))
                connection.broken = True
                return None
            if event is not h11.NEED_DATA:
                return event
            if not await connection.fill_shared(timeout=connection.limits.body_timeout):
                self.body_error = (408, "request_timeout", "The request body did not arrive in time.")
                connection.broken = True
                return None

    def _read_ahead(self):
        """After a ``Data`` event, peek (without reading) whether the body ends; return ``more_body``."""
        try:
            event = self.connection.h11.next_event()
        except h11.RemoteProtocolError:
            return True  # the error shows up at the next receive()
        if type(event) is h11.EndOfMessage:
            self.body_done = True
            return False
        if type(event) is h11.Data:
            self.stash = event
        return True

    async def _wait_disconnect(self):
        connection = self.connection
        if self.ended is None:
            self.ended = asyncio.get_running_loop().create_future()
        while not (connection.eof or connection.broken or self.complete):
            if len(connection.h11.trailing_data[0]) > connection.limits.max_pipelined:
                # Not `await self.ended`: a receive() cancelled by the app would cancel the future too.
                await asyncio.wait({self.ended})
            else:
                await connection.fill_shared(stop=self.ended)
        return _DISCONNECT

    async def send(self, message):
        """ASGI send: ``http.response.start`` then ``http.response.body`` messages.

        Raises ``RuntimeError`` for messages out of order or of an unknown type, ``h11.LocalProtocolError``
        for an invalid status or headers (before anything is written) or a body longer than its
        ``Content-Length``, and ``ClientDisconnected`` once the client has gone.
        """
        kind = message["type"]
        if kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("http.response.start sent twice")
            self.status = message["status"]
            self.headers = list(message.get("headers", ()))
        elif kind == "http.response.body":
            if self.status is None or self.complete:
                raise RuntimeError("http.response.body sent before http.response.start or after the end")
            await self._send_body(message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(f"unexpected ASGI message type {kind!r}")

    async def _send_body(self, body, more):
        h = self.connection.h11
        parts = []
        if not self.flushed:
            parts.append(h.send(self._response(body, more)))
            self.flushed = True
        if body and not self.head_only:
            parts.extend(h.send_with_data_passthrough(h11.Data(data=body)))
        if not more:
            parts.append(h.send(h11.EndOfMessage()))
            self._end()
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if data:
            await self.connection.write(data)

    def _response(self, body, more):
        """The held head as an ``h11.Response``, adding ``Date`` and, when known, ``Content-Length``."""
        headers = self.headers
        names = {name.lower() for name, _ in headers}
        if b"date" not in names:
            headers.append((b"date", _http_date(int(time.time()))))
        framed = b"content-length" in names or b"transfer-encoding" in names
        if not (more or framed) and self._may_frame(body):
            headers.append((b"content-length", b"%d" % len(body)))
        if b"connection" not in names and self._will_close():
            headers.append((b"connection", b"close"))
        return h11.Response(status_code=self.status, headers=headers)

    def _will_close(self):
        """Whether the connection closes after this response because the app answers before the request
        body is read and more of it is coming than ``max_drain`` (a 413 to an upload, say), or the client
        still waits for a 100 Continue: then the response says so (``Connection: close``)."""
        if self.connection.h11.their_state is not h11.SEND_BODY or self.body_done:
            return False
        if self.expects_continue and not self.continued:
            return True
        headers = dict(self.scope["headers"])  # h11 lower-cases names and refuses duplicate lengths
        if b"transfer-encoding" in headers:
            return True  # chunked: how much is coming is unknown
        return int(headers.get(b"content-length", 0)) > self.connection.limits.max_drain

    def _may_frame(self, body):
        """Whether to add ``Content-Length``: never on 1xx/204/304, nor on an empty answer to HEAD."""
        if self.status < 200 or self.status in _NO_BODY_STATUSES:
            return False
        return bool(body) or not self.head_only


def _framing_refusal(head):
    """Why the request head at the start of ``head`` must be refused, or ``None`` (also while it is
    incomplete): a header line ended by a bare LF (RFC 9112 section 2.2) or folded onto the next line
    (section 5.2). h11 accepts both; a proxy in front of us might split the same bytes otherwise."""
    end = _HEAD_END.search(head)
    if end is None:
        return None
    head = head[: end.end()]
    if head.count(b"\n") != head.count(b"\r\n"):
        return "Request header lines must end with CRLF, not a bare LF"
    if _FOLDED_LINE.search(head):
        return "Obsolete line folding in a request header is not allowed"
    return None


@lru_cache(maxsize=1)
def _http_date(second):
    """The IMF-fixdate for a Unix time in whole seconds (RFC 9110 section 5.6.7), cached per second."""
    return formatdate(second, usegmt=True).encode("ascii")
