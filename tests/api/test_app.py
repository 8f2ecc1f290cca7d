"""The application shell (``api/app.py``): one error handler for everything, lifespan, and that the
same app serves over both transports."""

import asyncio

from browsercouch.api import CouchApp, routes
from browsercouch.store import Couch

from .util import call_app, expect_error


def test_an_unexpected_exception_is_a_json_500(client, db, monkeypatch):
    async def broken(req):
        raise RuntimeError("boom")

    table = [(m, p, a, broken if h is routes.databases.info else h) for m, p, a, h in routes.ROUTES]
    monkeypatch.setattr(routes, "ROUTES", table)
    expect_error(client.get("/" + db), 500, "internal_server_error")
    # The connection and the server carry on.
    assert client.get("/").status == 200


def test_lifespan_closes_the_store():
    couch = Couch(None)
    couch.create_db("x")
    app = CouchApp(couch)
    sent = []
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message["type"])

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert couch.all_dbs() == ["x"]


def test_websocket_scopes_are_ignored():
    async def never():
        raise AssertionError("not called")

    asyncio.run(CouchApp(Couch(None))({"type": "websocket"}, never, never))


def test_transport_is_what_the_fixture_says(client, transport):
    # Guards the harness itself: "pipe" never opens a socket, "uvicorn" really goes through one.
    assert client.get("/").status == 200
    stream = type(client._conn._stream).__name__
    assert stream == {"pipe": "AppStream", "uvicorn": "AsyncioStream"}[transport]


def test_a_client_gone_mid_body_ends_the_request_quietly():
    """Half a body, then ``http.disconnect``: nobody is left to answer, so the app sends nothing and
    raises nothing (an exception here is a traceback in uvicorn's log for every impatient client)."""
    messages = [{"type": "http.request", "body": b'{"docs":[', "more_body": True},
                {"type": "http.disconnect"}]
    assert call_app(CouchApp(Couch()), "POST", "/_replicate", messages, "application/json") == []
