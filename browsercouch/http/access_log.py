"""One line per request: who asked what, the answer's status and size, and how long it took.

    127.0.0.1 GET /notes/doc?rev=1-abc 200 312 B 0.8 ms

The line goes to the ``browsercouch.access`` logger at INFO (``--log-level info`` shows it), and to a
callable the shell may give (the browser's popup keeps the last lines). The path is the request target
as sent (percent-encoded, so a line never holds a control character), without the credentials of an
absolute-form target (``http://user:pass@host/...``); headers, and so ``Authorization``, never appear.
"""

import logging
import re
import time

__all__ = ["AccessLog"]

log = logging.getLogger("browsercouch.access")

# The userinfo of an absolute-form request target (RFC 9112 section 3.2.2).
_USERINFO = re.compile(rb"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@")


class AccessLog:
    """ASGI middleware logging each ``http`` request of ``app``; ``on_line(text)`` also gets each line."""

    def __init__(self, app, on_line=None):
        self.app = app
        self.on_line = on_line

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or (self.on_line is None and not log.isEnabledFor(logging.INFO)):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, size = None, 0

        async def counting_send(message):
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            self._write(scope, status, size, (time.perf_counter() - started) * 1000)

    def _write(self, scope, status, size, ms):
        line = f"{_client(scope)} {scope['method']} {_target(scope)} {status or '-'} {size} B {ms:.1f} ms"
        log.info("%s", line)
        if self.on_line is not None:
            self.on_line(line)


def _client(scope):
    client = scope.get("client")
    return client[0] if client else "-"


def _target(scope):
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    raw = _USERINFO.sub(rb"\1", raw)
    query = scope.get("query_string")
    return (raw + b"?" + query if query else raw).decode("latin-1")
