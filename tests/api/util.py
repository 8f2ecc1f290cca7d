"""The synchronous test client of the API suite and small assertion helpers (fixtures: ``conftest.py``)."""

import asyncio
import base64
import json
import socket
import threading
import time

from browsercouch.api import auth as api_auth
from browsercouch.http import HTTPConnection

# Seconds a test waits for the background uvicorn to start listening.
UVICORN_START_TIMEOUT = 10.0
# PBKDF2 iterations for test passwords: fast, and still the real scheme.
TEST_ITERATIONS = 1000


class Client:
    """A synchronous CouchDB client over one keep-alive ``HTTPConnection`` (reopened when closed).

    ``request()`` returns a ``browsercouch.http.Response`` (``status``, ``header(name)``, ``body``,
    ``json()``). ``json=`` sends a JSON body with ``Content-Type: application/json``; ``auth=(name,
    password)`` adds Basic credentials; ``self.headers`` are sent with every request: ``Accept:
    application/json`` as most clients send it (without it CouchDB answers ``open_revs`` and
    ``attachments=true`` in multipart); a header given as ``None`` is not sent.
    """

    def __init__(self, loop, connect, app):
        self.loop = loop
        self._connect = connect
        self.app = app
        self.headers = {"Accept": "application/json"}
        self._conn = None

    def run(self, coro):
        """Run a coroutine to completion on the client's event loop and return its result."""
        return self.loop.run_until_complete(coro)

    async def connect(self):
        """A new, separate ``HTTPConnection`` to the app (for concurrent requests)."""
        return HTTPConnection(await self._connect())

    def _headers(self, headers, json_body, auth):
        merged = {**self.headers}
        if json_body is not _NOTHING:
            merged["Content-Type"] = "application/json"
        if auth is not None:
            merged["Authorization"] = basic(*auth)
        merged.update(headers or {})
        return {name: value for name, value in merged.items() if value is not None}

    async def arequest(self, method, target, *, json=None, body=None, headers=None, auth=None, conn=None):
        """The async ``request()``; ``conn`` sends on that connection instead of the shared one."""
        json_body = _NOTHING if json is None else json
        if json_body is not _NOTHING:
            body = _dumps(json_body)
        headers = self._headers(headers, json_body, auth)
        if conn is not None:
            return await conn.request(method, target, headers, body)
        if self._conn is None or self._conn.closed:
            self._conn = await self.connect()
        return await self._conn.request(method, target, headers, body)

    def request(self, method, target, **kwargs):
        return self.run(self.arequest(method, target, **kwargs))

    def get(self, target, **kwargs):
        return self.request("GET", target, **kwargs)

    def head(self, target, **kwargs):
        return self.request("HEAD", target, **kwargs)

    def put(self, target, **kwargs):
        return self.request("PUT", target, **kwargs)

    def post(self, target, **kwargs):
        return self.request("POST", target, **kwargs)

    def delete(self, target, **kwargs):
        return self.request("DELETE", target, **kwargs)

    def close(self):
        if self._conn is not None:
            self.run(self._conn.close())


class _Nothing:
    pass


_NOTHING = _Nothing()


def _dumps(value):
    return json.dumps(value).encode()


def basic(name, password):
    """An ``Authorization`` header value for HTTP Basic."""
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def admins(**passwords):
    """The ``admins=`` of ``CouchApp`` for clear ``name=password`` pairs, hashed with few iterations."""
    return {name: api_auth.hash_password(pw, iterations=TEST_ITERATIONS) for name, pw in passwords.items()}


class UvicornThread:
    """uvicorn serving ``app`` on 127.0.0.1 (a free port) in a daemon thread with its own event loop."""

    def __init__(self, app):
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        import uvicorn  # not in Pyodide, where the uvicorn transport is skipped

        # A second ASGI server besides browsercouch's own driver (which `browsercouch serve` runs).
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False,
                                server_header=False, date_header=True)
        self.app = app
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete,
                                       args=(self.server.serve(sockets=[self.sock]),), daemon=True)
        self._own_tasks = set()

    def start(self):
        self.thread.start()
        deadline = time.monotonic() + UVICORN_START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        own = asyncio.run_coroutine_threadsafe(_all_tasks(), self.loop)
        self._own_tasks = own.result(UVICORN_START_TIMEOUT)

    def stop_tasks(self, timeout):
        """Cancel and wait for every task on the server's loop but uvicorn's own: what the apps it
        served started (their ``_replicator`` watchers), which would otherwise be destroyed pending."""
        asyncio.run_coroutine_threadsafe(_cancel_all_but(self._own_tasks), self.loop).result(timeout)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(UVICORN_START_TIMEOUT)
        self.loop.close()
        self.sock.close()


async def _all_tasks():
    return asyncio.all_tasks()


async def _cancel_all_but(kept):
    tasks = [task for task in asyncio.all_tasks() if task not in kept and task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def expect_error(response, status, error, reason=None, ref=None):
    """Assert a CouchDB error answer: ``status``, JSON ``{"error": error, "reason": <str>}`` (and ``ref``
    with its ``X-Couch-Stack-Hash`` header when given); return it."""
    assert response.status == status, (response.status, response.body)
    assert (response.header("content-type") or "").startswith("application/json"), response.headers
    body = response.json()
    if ref is not None:
        assert body.pop("ref") == ref and response.header("x-couch-stack-hash") == str(ref), response
    assert set(body) == {"error", "reason"}, body
    assert body["error"] == error, body
    assert isinstance(body["reason"], str), body
    if reason is not None:
        assert body["reason"] == reason, body
    return body


def expect_json(response, status=200):
    """Assert ``status`` and a JSON body; return the decoded body."""
    assert response.status == status, (response.status, response.body)
    assert (response.header("content-type") or "").startswith("application/json"), response.headers
    return response.json()


async def read_lines(response, count, timeout=10.0):
    """Read a streaming response until ``count`` non-empty lines have arrived; return all lines read."""
    buffer, lines = b"", []
    async with asyncio.timeout(timeout):
        async for chunk in response.aiter_bytes():
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            lines.extend(complete)
            if len([line for line in lines if line.strip()]) >= count:
                break
    return lines


def call_app(app, method, path, messages, content_type):
    """Run one request through the ASGI ``app`` directly, its body as the ASGI ``messages`` (ending in
    ``http.disconnect`` for a client that left); returns what the app sent. Every message must be read."""
    sent = []
    pending = list(messages)

    async def receive():
        return pending.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "query_string": b"", "headers": [(b"content-type", content_type.encode())]}
    asyncio.run(app(scope, receive, send))
    assert pending == [], "the app did not read the whole request"
    return sent
