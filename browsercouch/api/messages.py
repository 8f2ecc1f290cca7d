"""Requests and responses of the API, over ASGI: query parsing, bounded bodies, JSON in and out.

``Request`` wraps an ASGI scope and ``receive``; a ``Response`` knows how to ``send`` itself. Streamed
responses (``_changes``, ``_all_docs``) take an async iterator of byte chunks and stop when the client
disconnects.
"""

import asyncio
import hashlib
import json
import math
import re
from urllib.parse import parse_qsl, quote, unquote

from ..errors import BadContentType, BadRequest, TooLarge
from ..store import compact_json

__all__ = ["Request", "Response", "JSONResponse", "ChunkedResponse", "ClientGone", "dumps", "loads",
           "opaque_etag", "etag_matches"]

# CouchDB 3.x [chttpd] max_http_request_size: 4 GB there; 64 MB here, which is enough for any document
# (max_document_size is 8 MB) and keeps a hostile client from filling the memory of a browser tab.
DEFAULT_MAX_REQUEST_SIZE = 64 * 1024 * 1024
SERVER_HEADER = b"CouchDB/3.3.3 (browsercouch)"
# Deepest nesting of arrays and objects accepted in a JSON body or parameter. CouchDB's parser has no
# limit, but Python's recursion limit (1000, lower in effect inside Pyodide) bounds every recursive
# parse, dump and hash of a document: this cap keeps each of them far from it, whatever the stack depth,
# so a document that was stored can always be read back. Real documents nest a few levels (MongoDB caps
# BSON at 100).
MAX_JSON_DEPTH = 200
# A ``\uD800``-``\uDFFF`` escape: the only way a lone surrogate, which UTF-8 cannot carry, gets in.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def dumps(value):
    """JSON as CouchDB writes it: compact, UTF-8, newline-terminated."""
    return compact_json(value).encode() + b"\n"


def loads(data, what="JSON"):
    """Parse JSON from a client (bytes or str) as strictly as CouchDB's parser does.

    Raises ``BadRequest`` for anything that is not JSON a client could read back: malformed text or
    UTF-8, ``NaN``/``Infinity`` and numbers too large for a double, lone UTF-16 surrogates, and nesting
    deeper than ``MAX_JSON_DEPTH``.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if _nests_too_deep(raw):
        raise BadRequest(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)
        if _SURROGATE_ESCAPE.search(raw):
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply") from None
    except (ValueError, UnicodeError):
        raise BadRequest(f"invalid UTF-8 {what}") from None
    return value


def opaque_etag(*state):
    """An ETag for an answer that is no document revision (a changes feed, ``_uuids``), in CouchDB's
    form (``chttpd:make_etag/1``): the md5 of ``state`` (JSON values) in upper-case base 36, quoted."""
    number = int.from_bytes(hashlib.md5(json.dumps(state).encode()).digest(), "big")
    digits = ""
    while number:
        number, digit = divmod(number, 36)
        digits = _BASE36[digit] + digits
    return '"' + (digits or "0") + '"'


def etag_matches(request, etag):
    """Whether ``If-None-Match`` names ``etag`` (``chttpd:etag_match/2``: a list split at commas)."""
    return etag in (tag.strip() for tag in request.headers.get("if-none-match", "").split(","))


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def _finite_float(text):
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"number out of range: {text}")
    return number


# A JSON string, unrolled (runs of plain bytes between escapes): ~3x faster than "(?:[^"\\]|\\.)*"
# on bulk bodies, where it runs on every request.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


def _nests_too_deep(raw):
    """Whether the brackets of ``raw`` (outside strings) nest deeper than ``MAX_JSON_DEPTH``, checked
    before parsing: in Pyodide a deep enough document overflows the JavaScript stack inside ``json.loads``
    and kills the whole runtime before Python could raise ``RecursionError``."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for byte in _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        depth += 1 if byte in b"[{" else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


class ClientGone(Exception):
    """The client went away before its request body arrived: there is nobody left to answer."""


class Query:
    """The query string; values are JSON where CouchDB says so, plain strings otherwise."""

    def __init__(self, query_string):
        self.raw = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))

    def __contains__(self, name):
        return name in self.raw

    def get(self, name, default=None):
        return self.raw.get(name, default)

    def bool(self, name, default=False):
        value = self.raw.get(name)
        if value is None:
            return default
        if value in ("true", ""):
            return True
        if value == "false":
            return False
        raise BadRequest(f"Invalid boolean parameter: {name}")

    def int(self, name, default=None, minimum=0):
        value = self.raw.get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise BadRequest(f"Invalid value for integer parameter: {name}") from None
        if number < minimum:
            raise BadRequest(f"Invalid value for integer parameter: {name}")
        return number

    def json(self, name, default=None):
        value = self.raw.get(name)
        if value is None:
            return default
        return loads(value)


class Request:
    """One HTTP request as the handlers see it."""

    def __init__(self, scope, receive, *, max_request_size=DEFAULT_MAX_REQUEST_SIZE):
        self.scope = scope
        self.receive = receive
        self.method = scope["method"]
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
        # Bytes that are not UTF-8 stay surrogate escapes, apart from every valid name (app.py answers).
        self.segments = [unquote(s, errors="surrogateescape")
                         for s in raw_path.split(b"?")[0].decode("latin-1").split("/") if s]
        self.query = Query(scope.get("query_string", b""))
        self.headers = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            value = value.decode("latin-1")
            self.headers[key] = f"{self.headers[key]}, {value}" if key in self.headers else value
        self.max_request_size = max_request_size
        self.user = None
        self.params = {}
        self._disconnected = False

    @property
    def content_type(self):
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def client_address(self):
        """The peer's address (ASGI ``client``), or ``None`` when the server does not say."""
        client = self.scope.get("client")
        return client[0] if client else None

    def absolute_uri(self, *segments):
        """The URL of the path ``segments`` on this server as the client named it (``Host``), each
        segment percent-encoded as CouchDB encodes it (``chttpd:absolute_uri/2``,
        ``couch_util:url_encode/1``: only letters, digits and ``_.-:`` stay)."""
        host = self.headers.get("host")
        if not host:
            address, port = self.scope.get("server") or ("127.0.0.1", 80)
            host = f"{address}:{port}"
        path = "".join("/" + quote(segment, safe=":").replace("~", "%7E") for segment in segments)
        return f"{self.scope.get('scheme', 'http')}://{host}{path}"

    async def body(self):
        """The whole body; ``413 too_large`` past ``max_request_size``."""
        return b"".join([chunk async for chunk in self.body_chunks()])

    async def body_chunks(self):
        """The body as it arrives; ``413 too_large`` past ``max_request_size``, ``ClientGone`` if the
        client leaves first."""
        declared = self.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_request_size:
            raise TooLarge("Request body is too large")
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self._disconnected = True
                raise ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_request_size:
                raise TooLarge("Request body is too large")
            if chunk:
                yield chunk
            if not message.get("more_body"):
                return

    async def json(self, *, require_content_type=False):
        """The body as JSON; ``415`` if ``require_content_type`` and it is not ``application/json``."""
        if require_content_type and self.content_type != "application/json":
            raise BadContentType()
        return loads(await self.body())

    async def wait_disconnect(self):
        """Return when the client goes away (used to end long-running feeds)."""
        while not self._disconnected:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self._disconnected = True


class Response:
    """A complete response: status, headers (list of ``(str, str)``) and a bytes body. ``revalidate``
    says whether it gets CouchDB's default ``Cache-Control: must-revalidate``."""

    revalidate = True

    def __init__(self, status=200, body=b"", headers=(), content_type="application/json"):
        self.status = status
        self.body = body
        self.headers = [("Content-Type", content_type), *headers] if content_type else list(headers)

    def add_header(self, name, value):
        self.headers.append((name, value))

    def _raw_headers(self, extra):
        """The headers to send: ``Cache-Control: must-revalidate`` unless the response sets its own or is a
        304 (CouchDB sends none with those)."""
        base = [(b"server", SERVER_HEADER)]
        if self.revalidate and self.status != 304 \
                and not any(name.lower() == "cache-control" for name, _ in self.headers):
            base.append((b"cache-control", b"must-revalidate"))
        return base + [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers + extra]

    async def send(self, send, *, head=False):
        extra = [("Content-Length", str(len(self.body)))]
        headers = self._raw_headers(extra)
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else self.body})


class JSONResponse(Response):
    def __init__(self, value, status=200, headers=()):
        super().__init__(status, dumps(value), headers)


class ChunkedResponse(Response):
    """A chunked response from an async iterator of bytes; stops early if the client disconnects."""

    def __init__(self, chunks, status=200, headers=(), content_type="application/json", request=None):
        super().__init__(status, b"", headers, content_type)
        self.chunks = chunks
        self.request = request

    async def send(self, send, *, head=False):
        await send({"type": "http.response.start", "status": self.status, "headers": self._raw_headers([])})
        if not head:
            await self._pump(send)
        await send({"type": "http.response.body", "body": b""})

    async def _pump(self, send):
        try:
            if self.request is None:
                async for chunk in self.chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            else:
                await self._pump_until_disconnect(send)
        finally:
            await _aclose(self.chunks)

    async def _pump_until_disconnect(self, send):
        """Race each chunk against the client going away, for feeds that wait between chunks."""
        watcher = asyncio.ensure_future(self.request.wait_disconnect())
        chunks = self.chunks.__aiter__()
        try:
            while True:
                step = asyncio.ensure_future(chunks.__anext__())
                await asyncio.wait({step, watcher}, return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    step.cancel()
                    await asyncio.gather(step, return_exceptions=True)
                    return
                try:
                    chunk = step.result()
                except StopAsyncIteration:
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            watcher.cancel()


async def _aclose(iterator):
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
