"""Fixtures for the API suite: a synchronous client for ``CouchApp``, over two transports.

Every test that takes ``client`` (or ``make_client``) runs twice:

- ``pipe``: the app is served by browsercouch's own h11 driver (``browsercouch.http``) through an in-memory
  pipe, in the test's event loop; no socket at all (the path the browser shells take).
- ``uvicorn``: the same app behind a real uvicorn on 127.0.0.1, port 0, in a background thread; the client
  connects over TCP (another ASGI server and real sockets: ``browsercouch serve`` runs the driver of
  ``pipe`` over asyncio sockets, tested end to end in ``tests/system`` and ``tests/security``).

The client is ``browsercouch.http.HTTPConnection`` in both cases. pytest-asyncio is not installed, so
``Client`` owns one event loop and runs each request with ``loop.run_until_complete``; tests that need
concurrency (long-poll feeds, racing writers) write a coroutine and hand it to ``Client.run``.
"""

import asyncio
import secrets

import pytest

from browsercouch.api import CouchApp
from browsercouch.http import open_app, open_tcp
from browsercouch.store import Couch

from .util import Client, UvicornThread

TRANSPORTS = ["pipe", "uvicorn"]
# Seconds an app's scheduler gets to stop on its server's loop.
STOP_TIMEOUT = 10


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    return request.param


class _AppSlot:
    """An ASGI app that hands each request to the app of the test currently using the server."""

    def __init__(self):
        self.app = None

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def uvicorn_pool():
    """``(acquire(app) -> UvicornThread, release(server))``: background uvicorns reused across tests, as
    starting and stopping one per test costs more than most tests."""
    idle, started = [], []

    def acquire(app):
        if not idle:
            server = UvicornThread(_AppSlot())
            server.start()
            started.append(server)
            idle.append(server)
        server = idle.pop()
        server.app.app = app
        return server

    def release(server):
        server.stop_tasks(STOP_TIMEOUT)  # the _replicator watchers of the test's apps, its peers' too
        server.app.app = None
        idle.append(server)

    yield acquire, release
    for server in started:
        server.stop()


@pytest.fixture
def make_client(transport, uvicorn_pool):
    """``make_client(admins=None, cors_origins=(), max_document_size=None, data_dir=None, **app_options)
    -> Client`` over the test's transport (``app_options`` go to ``CouchApp``, e.g. ``max_request_size``);
    everything is torn down after the test."""
    loop = asyncio.new_event_loop()
    cleanups = []

    def make(*, admins=None, cors_origins=(), max_document_size=None, data_dir=None, js_engine=None,
             **app_options):
        couch_options = {} if max_document_size is None else {"max_document_size": max_document_size}
        couch = Couch(data_dir, js_engine=js_engine, **couch_options)
        app = CouchApp(couch, admins=admins, cors_origins=cors_origins, **app_options)
        cleanups.append(couch.close)
        if transport == "pipe":
            def connect():
                return open_app(app)
        else:
            acquire, release = uvicorn_pool
            server = acquire(app)
            cleanups.append(lambda server=server: release(server))

            def connect(port=server.port):
                return open_tcp("127.0.0.1", port)
        client = Client(loop, connect, app)
        cleanups.append(client.close)
        return client

    yield make
    for cleanup in reversed(cleanups):
        cleanup()
    loop.run_until_complete(_settle())
    loop.close()


async def _settle():
    """Let in-process server tasks see their pipes close before the loop goes away."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
def client(make_client):
    """An admin-party client (no admins configured): every request is a server admin."""
    return make_client()


@pytest.fixture
def db(client):
    """The name of a fresh, empty database on ``client``."""
    name = "db-" + secrets.token_hex(4)
    response = client.put("/" + name)
    assert response.status == 201, response.body
    return name
