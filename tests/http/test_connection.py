"""Tests for browsercouch.http.client: HTTPConnection over a memory pipe (open_app) and a socket."""

import asyncio
import json
import socket

import pytest
from helpers import async_test

from browsercouch.http import HTTPConnection, open_app, open_tcp, start_server


async def app(scope, receive, send):
    """Echo the request as JSON; ``/close`` also asks to close, ``/chunks`` streams, ``/cut`` breaks off."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    if scope["path"] == "/chunks":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one", b"two", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["path"] == "/cut":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        await send({"type": "http.response.body", "body": b"only this", "more_body": True})
        raise RuntimeError("cut short on purpose")
    query = scope["query_string"].decode()
    echo = {
        "method": scope["method"],
        "target": scope["raw_path"].decode() + ("?" + query if query else ""),
        "headers": [[name.decode(), value.decode()] for name, value in scope["headers"]],
        "body": b"".join(chunks).decode(),
        "client": list(scope["client"]),
    }
    headers = [(b"content-type", b"application/json"), (b"x-multi", b"a"), (b"x-multi", b"b")]
    if scope["path"] == "/close":
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(echo).encode()})


def header_values(echo, name):
    return [value for key, value in echo["headers"] if key == name]


@async_test
async def test_request_returns_status_headers_and_body():
    async with HTTPConnection(await open_app(app)) as connection:
        response = await connection.request("POST", "/db/doc?rev=1-a", body=b'{"a": 1}')
    assert response.status == 201
    assert response.header("Content-Type") == "application/json"
    assert response.header(b"x-multi") == "a"  # the first of several
    assert response.header("x-missing", "none") == "none"
    assert (b"x-multi", b"b") in response.headers
    echo = response.json()
    assert echo["method"] == "POST"
    assert echo["target"] == "/db/doc?rev=1-a"
    assert echo["body"] == '{"a": 1}'
    assert header_values(echo, "content-length") == ["8"]
    assert header_values(echo, "host") == ["127.0.0.1"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept": "application/json", "X-Token": "t"},
        [("Accept", "application/json"), ("X-Token", "t")],
        [(b"accept", b"application/json"), (b"x-token", b"t")],
    ],
    ids=["mapping", "str-pairs", "byte-pairs"],
)
@async_test
async def test_headers_may_be_a_mapping_or_pairs_of_str_or_bytes(headers):
    async with HTTPConnection(await open_app(app), host="example.test") as connection:
        echo = (await connection.request("GET", "/", headers)).json()
    assert header_values(echo, "accept") == ["application/json"]
    assert header_values(echo, "x-token") == ["t"]
    assert header_values(echo, "host") == ["example.test"]


@async_test
async def test_an_explicit_host_header_wins():
    async with HTTPConnection(await open_app(app)) as connection:
        echo = (await connection.request("GET", "/", {"Host": "other.test"})).json()
    assert header_values(echo, "host") == ["other.test"]


@pytest.mark.native
@async_test
async def test_the_connection_is_kept_alive_between_requests():
    server = await start_server(app)
    port = server.sockets[0].getsockname()[1]
    async with HTTPConnection(await open_tcp("127.0.0.1", port)) as connection:
        clients = {tuple((await connection.request("GET", f"/{i}")).json()["client"]) for i in range(20)}
    assert len(clients) == 1  # one source port: one TCP connection
    server.close()
    await server.wait_closed()


@async_test
async def test_an_async_iterable_body_is_sent_chunked():
    async def parts():
        for part in (b"a" * 10, b"", b"b" * 100_000, b"c"):
            yield part

    async with HTTPConnection(await open_app(app)) as connection:
        echo = (await connection.request("PUT", "/upload", body=parts())).json()
    assert header_values(echo, "transfer-encoding") == ["chunked"]
    assert echo["body"] == "a" * 10 + "b" * 100_000 + "c"


@async_test
async def test_stream_yields_the_body_as_it_arrives_and_keeps_the_connection():
    async with HTTPConnection(await open_app(app)) as connection:
        async with connection.stream("GET", "/chunks") as response:
            assert response.status == 200
            assert [chunk async for chunk in response.aiter_bytes()] == [b"one", b"two", b"three"]
        assert (await connection.request("GET", "/after")).status == 201
        assert not connection.closed


@async_test
async def test_leaving_stream_early_closes_the_connection():
    stream = await open_app(app)
    connection = HTTPConnection(stream)
    async with connection.stream("GET", "/chunks") as response:
        assert await response.aiter_bytes().__anext__() == b"one"
    assert connection.closed
    await asyncio.wait_for(stream.server_task, 5)
    with pytest.raises(ConnectionError):
        await connection.request("GET", "/")


@async_test
async def test_a_server_close_ends_the_connection():
    async with HTTPConnection(await open_app(app)) as connection:
        assert (await connection.request("GET", "/close")).header("connection") == "close"
        assert connection.closed
        with pytest.raises(ConnectionError):
            await connection.request("GET", "/")


@async_test
async def test_a_response_cut_short_raises_connection_error():
    async with HTTPConnection(await open_app(app)) as connection:
        with pytest.raises(ConnectionError):
            await connection.request("GET", "/cut")
        assert connection.closed


@async_test
async def test_one_request_at_a_time():
    async with HTTPConnection(await open_app(app)) as connection:
        async with connection.stream("GET", "/chunks") as response:
            with pytest.raises(RuntimeError):
                await connection.request("GET", "/")
            await response.aread()
        assert (await connection.request("GET", "/")).status == 201


@pytest.mark.native
@async_test
async def test_open_tcp_raises_oserror_when_nothing_listens():
    with socket.socket() as probe:  # a port that was free a moment ago, and now nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OSError):
        await open_tcp("127.0.0.1", port)
