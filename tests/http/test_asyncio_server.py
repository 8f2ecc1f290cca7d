"""``http.start_server`` (the native server) and ``http.lifespan``: connections beyond the cap are answered
503 and closed, ``shutdown()`` ends open connections, and an app's lifespan runs around serving."""

import asyncio

import pytest
from helpers import async_test

from browsercouch.http import HTTPConnection, lifespan, open_tcp, start_server


async def _ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.native
@async_test
async def test_connections_beyond_the_cap_are_answered_503():
    server = await start_server(_ok, max_connections=2)
    port = server.sockets[0].getsockname()[1]
    kept = [HTTPConnection(await open_tcp("127.0.0.1", port)) for _ in range(2)]
    for connection in kept:
        assert (await connection.request("GET", "/")).status == 200
    assert server.connections == 2
    async with HTTPConnection(await open_tcp("127.0.0.1", port)) as extra:
        refused = await extra.request("GET", "/")
    assert refused.status == 503 and refused.json()["error"] == "service_unavailable"
    assert refused.header("connection") == "close"
    await kept[0].close()
    await asyncio.sleep(0.1)
    async with HTTPConnection(await open_tcp("127.0.0.1", port)) as again:
        assert (await again.request("GET", "/")).status == 200
    await kept[1].close()
    await server.shutdown()


@pytest.mark.native
@async_test
async def test_shutdown_ends_open_connections():
    server = await start_server(_ok)
    connection = HTTPConnection(await open_tcp("127.0.0.1", server.sockets[0].getsockname()[1]))
    assert (await connection.request("GET", "/")).status == 200
    await asyncio.wait_for(server.shutdown(), 5)
    assert server.connections == 0
    await connection.close()


@async_test
async def test_lifespan_runs_around_serving():
    events = []

    async def app(scope, receive, send):
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            events.append(message["type"])
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return

    async with lifespan(app):
        events.append("serving")
    assert events == ["lifespan.startup", "serving", "lifespan.shutdown"]


@async_test
async def test_an_app_without_lifespan_is_served_all_the_same():
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return

    async with lifespan(app):
        pass
