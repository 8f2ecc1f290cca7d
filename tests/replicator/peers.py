"""Peers for the replication tests: one browsercouch store, reached by the replicator three ways.

``open_peer(kind)`` gives a ``Peer`` whose store lives in this process (so tests set up and inspect it
directly) and whose ``endpoint(name)`` is what the replicator talks to:

- ``local``: a ``LocalEndpoint`` on the store, no HTTP at all;
- ``pipe``: a ``RemoteEndpoint`` whose client serves each connection with ``CouchApp`` through
  browsercouch's own h11 driver over a memory pipe (no socket);
- ``uvicorn``: a ``RemoteEndpoint`` over TCP to a real uvicorn serving ``CouchApp`` on 127.0.0.1, port 0,
  in the test's own event loop.

PouchDB's ``test.replication.js`` runs its suite local->http, http->http, http->local and local->local;
``PAIRS`` is the same idea over these three kinds. Also: ``snapshot(db)`` (every document's leaves with
their full ``_revisions``, the winner and its ``_conflicts``) for comparing databases, ``async_test``
(pytest-asyncio is not installed), ``Counting`` (an ASGI middleware that records requests and response
sizes), ``serve_uvicorn`` and ``seed`` (documents with attachments, deletions and conflicts).
"""

import asyncio
import base64
import contextlib
import hashlib
import itertools
import socket
import time

from browsercouch.api import CouchApp
from browsercouch.errors import NotFound
from browsercouch.http import app_client, tcp_client
from browsercouch.replicator import Backoff, LocalEndpoint, RemoteEndpoint
from browsercouch.store import Couch

KINDS = ["local", "pipe", "uvicorn"]
PAIRS = [f"{a}->{b}" for a, b in itertools.product(KINDS, KINDS)]
UVICORN_START_TIMEOUT = 10.0
# Back-off for tests: retries come quickly and deterministically.
FAST_BACKOFF = Backoff(0.01, 0.05, spread=0)


def split_pair(pair):
    source, target = pair.split("->")
    return source, target


class Peer:
    """A store and the way the replicator reaches it (``kind``)."""

    def __init__(self, kind, couch, client=None, base_url=None, app=None):
        self.kind = kind
        self.couch = couch
        self.client = client
        self.base_url = base_url
        self.app = app

    def db(self, name):
        """The store database ``name``, created if missing."""
        return self.couch.get_db(name) if self.couch.exists(name) else self.couch.create_db(name)

    def endpoint(self, name, *, user=None, password=None):
        if self.kind == "local":
            return LocalEndpoint(self.couch, name)
        auth = f"{user}:{password}@" if user else ""
        return RemoteEndpoint(self.base_url.replace("http://", "http://" + auth) + name, self.client)


@contextlib.asynccontextmanager
async def serve_uvicorn(app, port=0, **config):
    """Serve ``app`` with uvicorn on 127.0.0.1:``port`` in this event loop; yield the port. ``config``
    goes to ``uvicorn.Config`` (``timeout_keep_alive``, ...)."""
    import uvicorn  # not in Pyodide, where the uvicorn peers are skipped

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False,
                                          server_header=False, **config))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    deadline = time.monotonic() + UVICORN_START_TIMEOUT
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()
        if hasattr(app, "scheduler"):  # a CouchApp's _replicator watcher would be left pending
            await app.scheduler.stop()


@contextlib.asynccontextmanager
async def open_peer(kind, *, wrap=None, couch=None, admins=None):
    """A ``Peer`` of ``kind`` over a fresh in-memory store (or ``couch``); ``wrap(app)`` may wrap the
    ASGI app (a counting or failing middleware); ``admins`` go to ``CouchApp``."""
    couch = couch or Couch(None)
    app = CouchApp(couch, admins=admins)
    served = wrap(app) if wrap else app
    try:
        if kind == "local":
            yield Peer(kind, couch)
        elif kind == "pipe":
            client = app_client(served)
            try:
                yield Peer(kind, couch, client, "http://127.0.0.1:5984/", app)
            finally:
                await client.close()
        else:
            async with serve_uvicorn(served) as port:
                client = tcp_client()
                try:
                    yield Peer(kind, couch, client, f"http://127.0.0.1:{port}/", app)
                finally:
                    await client.close()
    finally:
        couch.close()


class Counting:
    """ASGI middleware recording ``(method, path, status, response_body_bytes)`` of every request."""

    def __init__(self, app):
        self.app = app
        self.requests = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        record = [scope["method"], scope["path"], None, 0]
        self.requests.append(record)

        async def counting_send(message):
            if message["type"] == "http.response.start":
                record[2] = message["status"]
            elif message["type"] == "http.response.body":
                record[3] += len(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, counting_send)

    def paths(self, suffix):
        return [r for r in self.requests if r[1].endswith(suffix)]


SPECIAL_IDS = ["a/b", "with space", "ünïcödé", "_design/app", "plus+and%percent", "q?x=1&y"]


def _hash(*parts):
    return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()


def seed(db, count, *, prefix="doc"):
    """``count`` documents: every 7th with an attachment, every 11th deleted, every 13th with a conflict
    (two branches written as a replicator would), every 17th edited twice; plus ids that need escaping."""
    for i in range(count):
        doc_id = f"{prefix}-{i:05}"
        doc = {"_id": doc_id, "n": i, "text": "x" * (i % 50)}
        if i % 7 == 0:
            doc["_attachments"] = {"file.bin": {"content_type": "application/octet-stream",
                                                "data": b64(bytes([i % 256]) * (100 + i))}}
        rev = db.put(doc)["rev"]
        if i % 13 == 0:
            first = rev.split("-")[1]
            for branch in ("a", "b"):
                db.put({"_id": doc_id, "_rev": f"2-{_hash(doc_id, branch)}", "branch": branch,
                        "_revisions": {"start": 2, "ids": [_hash(doc_id, branch), first]}}, new_edits=False)
            continue
        if i % 17 == 0:
            rev = db.put({"_id": doc_id, "_rev": rev, "n": i, "edited": 1})["rev"]
            rev = db.put({"_id": doc_id, "_rev": rev, "n": i, "edited": 2})["rev"]
        if i % 11 == 0:
            db.put({"_id": doc_id, "_rev": rev, "_deleted": True})
    for doc_id in SPECIAL_IDS:
        db.put({"_id": doc_id, "special": True})


def b64(data):
    return base64.b64encode(data).decode("ascii")


def snapshot(db):
    """Every document of ``db`` (deleted ones too) as comparable data: ``{id: {"leaves": sorted leaf
    docs with _revisions and attachment stubs, "winner": rev, "deleted": bool, "conflicts": [...],
    "deleted_conflicts": [...]}}``. Two databases with equal snapshots have identical revision trees
    (up to stemming), leaves, winners and attachment digests."""
    result = {}
    for doc_id, _, winner, deleted, _ in db.change_rows(0):
        leaves = db.open_revs(doc_id, "all", revs=True)
        entry = {"leaves": sorted((row["ok"] for row in leaves if "ok" in row), key=lambda d: d["_rev"]),
                 "winner": winner, "deleted": deleted}
        try:
            doc = db.get(doc_id, conflicts=True, deleted_conflicts=True)
        except NotFound:
            doc = {}
        entry["conflicts"] = doc.get("_conflicts", [])
        entry["deleted_conflicts"] = doc.get("_deleted_conflicts", [])
        result[doc_id] = entry
    return result


async def wait_until(predicate, timeout=20.0, interval=0.02):
    """Poll ``predicate()`` until it is true; ``AssertionError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)
