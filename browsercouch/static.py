"""An ASGI app serving one directory's files: what ``browsercouch web`` serves the web app with (by default
the one that ships in the package, ``bundled.WEB_APP_DIR``).

GET and HEAD only; ``/`` is ``index.html``; nothing outside the directory (no ``..``, no symlinks out);
the MIME types a Pyodide app needs (``.wasm`` must be ``application/wasm`` for streaming compilation,
``.mjs`` JavaScript). Files are sent with ``Cache-Control: no-cache`` and an ``ETag``, so the browser
revalidates every time (a rebuilt dist is picked up at once) and gets ``304 Not Modified`` otherwise; a
cached ``pyodide.asm.wasm`` also lets Chromium reuse its compiled code, which halves the start-up time.
"""

import json
from pathlib import Path
from urllib.parse import unquote

__all__ = ["StaticFiles"]

MIME_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".json": "application/json", ".wasm": "application/wasm", ".zip": "application/zip",
    ".whl": "application/zip", ".png": "image/png", ".svg": "image/svg+xml", ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8", ".map": "application/json",
}


class StaticFiles:
    def __init__(self, root):
        self.root = Path(root).resolve()

    def _file(self, path):
        relative = unquote(path).lstrip("/") or "index.html"
        candidate = (self.root / relative).resolve()
        if candidate.is_dir():
            candidate = candidate / "index.html"
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _send(send, 405, "application/json",
                        json.dumps({"error": "method_not_allowed", "reason": "Only GET and HEAD"}).encode())
            return
        found = self._file(scope["path"])
        if found is None:
            await _send(send, 404, "application/json",
                        json.dumps({"error": "not_found", "reason": "missing"}).encode())
            return
        stat = found.stat()
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'.encode()
        content_type = MIME_TYPES.get(found.suffix, "application/octet-stream")
        if etag in _if_none_match(scope):
            await _send(send, 304, content_type, b"", etag=etag)
            return
        await _send(send, 200, content_type, found.read_bytes(), etag=etag, head=scope["method"] == "HEAD")


def _if_none_match(scope):
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            return [tag.strip() for tag in value.split(b",")]
    return []


async def _send(send, status, content_type, body, *, etag=None, head=False):
    headers = [(b"content-type", content_type.encode()), (b"cache-control", b"no-cache"),
               (b"x-content-type-options", b"nosniff")]
    if status != 304:
        headers.append((b"content-length", str(len(body)).encode()))
    if etag is not None:
        headers.append((b"etag", etag))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
