"""The ``HttpClient`` in the browser: the page's ``fetch()``.

A tab cannot open sockets, so remote peers are reached with ``fetch``. Who may be reached depends on where
the worker runs:

- In the extension (``browsercouch browser``) any peer, with no setting on it: the manifest's
  ``host_permissions`` for every http(s) host lift CORS for the extension's pages and workers. Loopback
  and LAN addresses need nothing more (Chromium's Local Network Access checks leave extension origins
  alone; ``tests/security/test_tab_reach.py`` shows both).
- In a plain page (``browsercouch web``) only peers that allow the page's origin by CORS
  (``browsercouch serve --cors ORIGIN``, CouchDB's ``[cors]`` settings); a failed fetch says so.

The contract is ``browsercouch.http.HttpClient``'s: whole or streamed responses, ``timeout`` as seconds of
silence, ``OSError`` when the peer cannot be reached, ``TimeoutError`` when it stays silent. Connection
reuse is the browser's business. Works only inside Pyodide.
"""

import asyncio
import contextlib

import js
from pyodide.ffi import JsException, to_js

from ..http import DEFAULT_TIMEOUT, HttpClient, StreamedResponse

__all__ = ["FetchClient"]

# Origins whose fetches the extension's host permissions free from CORS.
EXTENSION_SCHEMES = ("chrome-extension:", "moz-extension:")

# Headers a page may not set (the fetch standard's forbidden request headers): the browser sets them.
FORBIDDEN_HEADERS = frozenset({
    "accept-charset", "accept-encoding", "access-control-request-headers", "access-control-request-method",
    "connection", "content-length", "cookie", "date", "dnt", "expect", "host", "keep-alive", "origin",
    "referer", "te", "trailer", "transfer-encoding", "upgrade", "via",
})


def _options(method, headers, body, signal):
    sendable = {name: value for name, value in (headers or {}).items()
                if name.lower() not in FORBIDDEN_HEADERS}
    options = {"method": method, "headers": sendable, "signal": signal, "credentials": "omit",
               "cache": "no-store"}
    if body is not None:
        options["body"] = to_js(bytes(body))
    return to_js(options, dict_converter=js.Object.fromEntries)


def _response_headers(response):
    return {str(entry[0]).lower(): str(entry[1]) for entry in response.headers.entries()}


async def _chunks(reader):
    while True:
        result = await reader.read()
        if result.done:
            return
        yield result.value.to_bytes()


class FetchClient(HttpClient):
    """``HttpClient`` over ``fetch``; ``timeout`` is the default seconds of silence tolerated."""

    def __init__(self, *, timeout=DEFAULT_TIMEOUT):
        self.timeout = timeout
        self.closed = False

    @contextlib.asynccontextmanager
    async def stream(self, method, url, headers=None, body=None, *, timeout=None):
        if self.closed:
            raise RuntimeError("the HTTP client is closed")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {url.split('/')[0]}")
        timeout = self.timeout if timeout is None else timeout
        controller = js.AbortController.new()
        try:
            try:
                async with asyncio.timeout(timeout):
                    response = await js.fetch(url, _options(method, headers, body, controller.signal))
            except JsException as error:
                raise ConnectionError(f"fetch {method} {url.split('?')[0]} failed: {error}"
                                      f"{_cors_hint()}") from None
            chunks = _chunks(response.body.getReader()) if response.body else _no_chunks()
            yield StreamedResponse(response.status, _response_headers(response),
                                   _translate_errors(chunks), timeout)
        finally:
            # Abandons whatever is left of the body (and any request still in flight) on every exit.
            controller.abort()

    async def close(self):
        self.closed = True


def _cors_hint():
    """What a failed fetch may also mean here: nothing in the extension; in a plain page, that the peer
    does not allow this page's origin by CORS (the browser tells the page no more than "Failed to
    fetch")."""
    origin = str(js.location.origin)
    if origin.startswith(EXTENSION_SCHEMES):
        return ""
    return (f" (the peer is down, or does not allow this page's origin {origin} by CORS: a web page "
            f"reaches only peers that do, e.g. browsercouch serve --cors {origin}, CouchDB's [cors] "
            "origins; browsercouch browser reaches any peer)")


async def _no_chunks():
    return
    yield


async def _translate_errors(chunks):
    """The body's chunks, with a broken connection raised as ``ConnectionError`` as the contract says."""
    try:
        async for chunk in chunks:
            yield chunk
    except JsException as error:
        raise ConnectionError(f"the response body was cut short: {error}") from None
