"""Tests for browsercouch.http.driver: serve_connection() running a tiny ASGI app.

Most tests write raw request bytes into a memory pipe whose other end the driver serves, and parse the
bytes that come back with an h11 client. As in h11's ``tr()``, each request is fed whole, one byte at a
time, and with trailing data (a pipelined second request). A few tests run over real 127.0.0.1 sockets,
and one compares the answers with uvicorn's for the same app.
"""

import asyncio
import contextlib
import hashlib
import json
import logging
import socket
import time
from urllib.parse import parse_qs

import h11
import pytest
from helpers import async_test

from browsercouch.http import (
    ClientDisconnected,
    HTTPConnection,
    Limits,
    memory_pipe,
    open_app,
    open_tcp,
    serve_connection,
    start_server,
)
from browsercouch.http.streams import READ_SIZE

BIG = 20 * 1024 * 1024


# --- the app under test ---------------------------------------------------------------------------


class App:
    """A tiny ASGI app; each path is one behaviour. It records what it saw for the tests to check."""

    def __init__(self):
        self.gate = asyncio.Event()  # /gate waits for it between its two chunks
        self.disconnected = asyncio.Event()  # /feed and /spew set it when the client is gone
        self.connections = 0

    async def __call__(self, scope, receive, send):
        assert scope["type"] == "http"
        query = {key: values[0] for key, values in parse_qs(scope["query_string"].decode()).items()}
        handler = getattr(self, "route_" + scope["path"].strip("/").replace("-", "_"), self.route_scope)
        await handler(scope, receive, send, query)

    async def route_scope(self, scope, receive, send, query):
        body = await read_body(receive)
        fields = {key: scope[key] for key in ("http_version", "method", "path", "scheme", "root_path")}
        fields.update(
            raw_path=scope["raw_path"].decode("latin-1"),
            query_string=scope["query_string"].decode("latin-1"),
            headers=[[name.decode("latin-1"), value.decode("latin-1")] for name, value in scope["headers"]],
            client=list(scope["client"]),
            server=list(scope["server"]),
            body=body.decode("latin-1"),
        )
        await respond_json(send, fields)

    async def route_echo(self, scope, receive, send, query):
        digest, length, chunks, largest = hashlib.sha256(), 0, 0, 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            digest.update(message["body"])
            length += len(message["body"])
            chunks += 1
            largest = max(largest, len(message["body"]))
            if not message["more_body"]:
                break
        await respond_json(
            send, {"length": length, "sha256": digest.hexdigest(), "chunks": chunks, "largest": largest}
        )

    async def route_bytes(self, scope, receive, send, query):
        """``n`` bytes of a pattern; in ``chunk``-sized messages (no Content-Length) if ``chunk`` is given."""
        body = pattern(int(query["n"]))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"x/bytes")]})
        if "chunk" not in query:
            await send({"type": "http.response.body", "body": body})
            return
        step = int(query["chunk"])
        for start in range(0, len(body), step):
            await send({"type": "http.response.body", "body": body[start : start + step], "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def route_ignore_body(self, scope, receive, send, query):
        await respond_json(send, {"ignored": True})

    async def route_sleep(self, scope, receive, send, query):
        await asyncio.sleep(int(query["ms"]) / 1000)
        await respond_json(send, {"slept": query["ms"]})

    async def route_raise(self, scope, receive, send, query):
        raise RuntimeError("boom before the response")

    async def route_raise_after_start(self, scope, receive, send, query):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("boom after http.response.start")

    async def route_raise_mid(self, scope, receive, send, query):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("boom mid-response")

    async def route_silent(self, scope, receive, send, query):
        pass

    async def route_gate(self, scope, receive, send, query):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await self.gate.wait()
        await send({"type": "http.response.body", "body": b"second"})

    async def route_longpoll(self, scope, receive, send, query):
        """A long poll: one heartbeat, then nothing but waiting for receive() to report the client gone."""
        await read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"\n", "more_body": True})
        assert await receive() == {"type": "http.disconnect"}
        self.disconnected.set()

    async def route_feed(self, scope, receive, send, query):
        """A continuous feed: heartbeats every 10 ms until the client goes, whichever way the app hears."""
        await read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        watcher = asyncio.ensure_future(receive())
        try:
            while not watcher.done():
                await send({"type": "http.response.body", "body": b"\n", "more_body": True})
                await asyncio.wait({watcher}, timeout=0.01)
            assert watcher.result() == {"type": "http.disconnect"}
        except ClientDisconnected:
            watcher.cancel()
        self.disconnected.set()

    async def route_poll(self, scope, receive, send, query):
        """Long-poll style: ``n`` heartbeats, each after a receive() it cancels by timeout."""
        await read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(int(query["n"])):
            with contextlib.suppress(TimeoutError):
                assert await asyncio.wait_for(receive(), 0.005) == {"type": "http.disconnect"}
                return
            await send({"type": "http.response.body", "body": b"\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"done"})

    async def route_hold(self, scope, receive, send, query):
        """Answers only once the gate opens, watching for a disconnect meanwhile."""
        await read_body(receive)
        watcher = asyncio.ensure_future(receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await self.gate.wait()
        await send({"type": "http.response.body", "body": b"held"})
        assert await watcher == {"type": "http.disconnect"}  # the response is complete

    async def route_spew(self, scope, receive, send, query):
        """Streams without ever calling receive(): only a failing send() can stop it."""
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x" * 1024, "more_body": True})
                await asyncio.sleep(0)
        except ClientDisconnected:
            self.disconnected.set()
            raise


async def read_body(receive):
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def respond_json(send, value, status=200):
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": json.dumps(value).encode()})


def pattern(n):
    return (b"0123456789abcdef" * (n // 16 + 1))[:n]


# --- wire helpers ---------------------------------------------------------------------------------


def wire(method, target, headers=(), body=None, *, chunks=None):
    """The bytes of one request, framed by an h11 client (``chunks`` gives a chunked body)."""
    client = h11.Connection(h11.CLIENT)
    headers = [("host", "127.0.0.1"), *headers]
    if body is not None:
        headers.append(("content-length", str(len(body))))
    elif chunks is not None:
        headers.append(("transfer-encoding", "chunked"))
    out = client.send(h11.Request(method=method, target=target, headers=headers))
    for chunk in [body] if body is not None else chunks or []:
        out += client.send(h11.Data(data=chunk))
    return out + client.send(h11.EndOfMessage())


class Parsed:
    def __init__(self, status, headers, body, informational):
        self.status = status
        self.headers = headers
        self.body = body
        self.informational = informational

    def json(self):
        return json.loads(self.body)


def parse_responses(data, methods):
    """Parse the responses in ``data``, answers to requests with these ``methods`` (HEAD matters).

    Returns the list of parsed responses; stops early where a response closes the connection. Raises
    ``h11.RemoteProtocolError`` if a response is malformed or cut short.
    """
    client = h11.Connection(h11.CLIENT)
    client.receive_data(data)
    client.receive_data(b"")
    responses = []
    for method in methods:
        client.send(h11.Request(method=method, target="/", headers=[("host", "x")]))
        client.send(h11.EndOfMessage())
        informational, body, head = [], b"", None
        while True:
            event = client.next_event()
            if type(event) is h11.InformationalResponse:
                informational.append(event.status_code)
            elif type(event) is h11.Response:
                head = event
            elif type(event) is h11.Data:
                body += event.data
            elif type(event) is h11.EndOfMessage:
                break
        headers = {name.decode(): value.decode() for name, value in head.headers}
        responses.append(Parsed(head.status_code, headers, body, informational))
        if client.their_state is not h11.DONE:
            break
        client.start_next_cycle()
    return responses


async def feed(stream, data, mode):
    """Write ``data`` whole, or one byte per write (so one byte per driver read)."""
    if mode == "bytewise":
        for i in range(len(data)):
            await stream.write(data[i : i + 1])
    else:
        await stream.write(data)


async def read_until_eof(stream):
    chunks = []
    while chunk := await stream.read():
        chunks.append(chunk)
    return b"".join(chunks)


async def exchange(app, data, mode="whole", *, half_close=True, limits=None, **options):
    """Serve one memory-pipe connection: feed ``data``, then read everything until the driver closes.

    With ``half_close`` the client sends EOF after its data (as a finished client would); without it,
    this only returns if the driver closes the connection by itself.
    """
    client, server = memory_pipe()
    task = asyncio.ensure_future(serve_connection(app, server, limits=limits or Limits(), **options))
    await feed(client, data, mode)
    if half_close:
        await client.write_eof()
    out = await read_until_eof(client)
    await task
    return out


MODES = ["whole", "bytewise", "trailing"]
TRAILER = wire("GET", "/scope?second=1")


async def exchange_tr(app, data, mode, methods, **options):
    """``exchange`` in one of MODES; in "trailing" a pipelined GET follows and its answer is checked."""
    if mode == "trailing":
        responses = parse_responses(await exchange(app, data + TRAILER, **options), [*methods, "GET"])
        assert len(responses) == len(methods) + 1
        assert responses[-1].json()["query_string"] == "second=1"
        return responses[:-1]
    return parse_responses(await exchange(app, data, mode, **options), methods)


# --- requests fed every way -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@async_test
async def test_scope_describes_the_request(mode):
    request = wire("GET", "/a%20b/%C3%A9%2Fc?x=1&y=%20", [("X-Custom", "Hi")])
    [response] = await exchange_tr(
        App(), request, mode, ["GET"], client=("127.0.0.1", 5000), server=("127.0.0.1", 5984)
    )
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.body))
    assert "date" in response.headers
    scope = response.json()
    assert scope["method"] == "GET"
    assert scope["http_version"] == "1.1"
    assert scope["path"] == "/a b/é/c"
    assert scope["raw_path"] == "/a%20b/%C3%A9%2Fc"
    assert scope["query_string"] == "x=1&y=%20"
    assert scope["scheme"] == "http"
    assert scope["root_path"] == ""
    assert ["x-custom", "Hi"] in scope["headers"]
    assert ["host", "127.0.0.1"] in scope["headers"]
    assert scope["client"] == ["127.0.0.1", 5000]
    assert scope["server"] == ["127.0.0.1", 5984]


@pytest.mark.parametrize("mode", MODES)
@async_test
async def test_content_length_body_is_streamed_to_the_app(mode):
    body = pattern(3000)
    [response] = await exchange_tr(App(), wire("POST", "/echo", body=body), mode, ["POST"])
    echo = response.json()
    assert echo["length"] == 3000
    assert echo["sha256"] == hashlib.sha256(body).hexdigest()
    if mode == "bytewise":
        assert echo["chunks"] > 1000  # the body reached the app as it arrived, not buffered whole


@pytest.mark.parametrize("mode", MODES)
@async_test
async def test_chunked_upload(mode):
    chunks = [b"first,", b"second," * 100, b"third"]
    [response] = await exchange_tr(App(), wire("PUT", "/echo", chunks=chunks), mode, ["PUT"])
    assert response.json()["sha256"] == hashlib.sha256(b"".join(chunks)).hexdigest()


@pytest.mark.parametrize("mode", MODES)
@async_test
async def test_head_sends_the_get_headers_without_a_body(mode):
    [response] = await exchange_tr(App(), wire("HEAD", "/bytes?n=10"), mode, ["HEAD"])
    assert response.status == 200
    assert response.headers["content-length"] == "10"
    assert response.body == b""
    [streamed] = await exchange_tr(App(), wire("HEAD", "/bytes?n=10&chunk=3"), mode, ["HEAD"])
    assert streamed.headers["transfer-encoding"] == "chunked"
    assert streamed.body == b""


MALFORMED = {
    "no-colon-in-header": b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    "garbage-request-line": b"GARBAGE\r\n\r\n",
    "missing-host": b"GET / HTTP/1.1\r\n\r\n",
    "bad-content-length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
    "space-before-colon": b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
}


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
@pytest.mark.parametrize("name", sorted(MALFORMED))
@async_test
async def test_malformed_request_gets_400_json_and_the_connection_closes(name, mode):
    out = await exchange(App(), MALFORMED[name], mode, half_close=False)
    [response] = parse_responses(out, ["GET"])
    assert response.status == 400
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    assert response.json()["error"] == "bad_request"
    assert response.json()["reason"]


@async_test
async def test_unsupported_transfer_encoding_gets_501():
    request = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
    [response] = parse_responses(await exchange(App(), request, half_close=False), ["POST"])
    assert response.status == 501
    assert response.json()["error"] == "not_implemented"


@async_test
async def test_malformed_chunked_body_gets_400():
    request = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nnope\r\n0\r\n\r\n"
    [response] = parse_responses(await exchange(App(), request, half_close=False), ["POST"])
    assert response.status == 400
    assert response.json()["error"] == "bad_request"


@pytest.mark.parametrize(
    "mode, limit, size", [("whole", None, 70 * 1024), ("bytewise", 1024, 2000)], ids=["default", "small"]
)
@async_test
async def test_header_flood_gets_431_json(mode, limit, size):
    limits = Limits() if limit is None else Limits(max_incomplete_event_size=limit)
    request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Flood: " + b"a" * size + b"\r\n\r\n"
    out = await exchange(App(), request, mode, half_close=False, limits=limits)
    [response] = parse_responses(out, ["GET"])
    assert response.status == 431
    assert response.json()["error"] == "request_header_fields_too_large"


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
@async_test
async def test_a_head_just_under_the_limit_is_served(mode):
    request = b"GET /bytes?n=2 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 950 + b"\r\n\r\n"
    assert len(request) < 1024
    out = await exchange(App(), request, mode, limits=Limits(max_incomplete_event_size=1024))
    assert parse_responses(out, ["GET"])[0].body == b"01"


# --- connection behaviour -------------------------------------------------------------------------


@async_test
async def test_keep_alive_serves_many_requests_on_one_connection():
    stream = await open_app(App())
    async with HTTPConnection(stream) as connection:
        for i in range(50):
            response = await connection.request("GET", f"/scope?i={i}")
            assert response.json()["query_string"] == f"i={i}"
            assert response.header("connection") is None
            assert not stream.server_task.done()
    await stream.server_task


@async_test
async def test_pipelined_requests_are_answered_in_order():
    requests = wire("GET", "/sleep?ms=50") + wire("POST", "/echo", body=b"abc") + wire("GET", "/sleep?ms=0")
    responses = parse_responses(await exchange(App(), requests), ["GET", "POST", "GET"])
    assert [r.json() for r in responses] == [
        {"slept": "50"},
        {"length": 3, "sha256": hashlib.sha256(b"abc").hexdigest(), "chunks": 1, "largest": 3},
        {"slept": "0"},
    ]


@async_test
async def test_receive_cancelled_by_the_app_loses_no_pipelined_bytes():
    client, server = memory_pipe()
    task = asyncio.ensure_future(serve_connection(App(), server))
    await client.write(wire("GET", "/poll?n=20"))
    # Trickles in while the app keeps cancelling receive(); no EOF, which the app would take for a
    # disconnect: "Connection: close" makes the driver close after the second answer.
    for byte in wire("GET", "/scope?after=poll", [("Connection", "close")]):
        await client.write(bytes([byte]))
        await asyncio.sleep(0.001)
    first, second = parse_responses(await read_until_eof(client), ["GET", "GET"])
    assert first.body == b"\n" * 20 + b"done"
    assert second.json()["query_string"] == "after=poll"
    await task


@async_test
async def test_pipelined_bytes_are_not_read_beyond_max_pipelined_while_a_response_is_pending():
    app = App()
    client, server = memory_pipe()
    task = asyncio.ensure_future(serve_connection(app, server, limits=Limits(max_pipelined=1000)))
    await client.write(wire("GET", "/hold"))
    pipelined = b"".join(wire("GET", f"/scope?i={i}", [("X-Pad", "p" * 1000)]) for i in range(200))
    writer = asyncio.ensure_future(client.write(pipelined))
    await asyncio.sleep(0.1)
    assert not writer.done()  # the driver stopped reading, so the pipe pushed back
    reader = asyncio.ensure_future(read_until_eof(client))
    app.gate.set()
    await writer
    await client.write_eof()
    responses = parse_responses(await reader, ["GET"] * 201)
    assert responses[0].body == b"held"
    assert [r.json()["query_string"] for r in responses[1:]] == [f"i={i}" for i in range(200)]
    await task


@async_test
async def test_streamed_response_is_chunked_and_arrives_incrementally():
    app = App()
    async with HTTPConnection(await open_app(app)) as connection:
        async with connection.stream("GET", "/gate") as response:
            assert response.header("transfer-encoding") == "chunked"
            chunks = response.aiter_bytes()
            assert await chunks.__anext__() == b"first"  # before the app may finish
            app.gate.set()
            assert [chunk async for chunk in chunks] == [b"second"]
        assert (await connection.request("GET", "/bytes?n=5")).body == b"01234"


@async_test
async def test_expect_100_continue_is_answered_when_the_app_reads_the_body():
    client, server = memory_pipe()
    task = asyncio.ensure_future(serve_connection(App(), server))
    head, body = wire("POST", "/echo", [("Expect", "100-continue")], body=b"hello").split(b"\r\n\r\n", 1)
    await client.write(head + b"\r\n\r\n")
    assert await client.read() == b"HTTP/1.1 100 \r\n\r\n"  # before any body byte was sent
    await client.write(body)
    await client.write_eof()
    [response] = parse_responses(await read_until_eof(client), ["POST"])
    assert response.json()["length"] == 5
    await task


@async_test
async def test_expect_100_continue_unread_body_gets_the_answer_and_a_close():
    request = wire("POST", "/ignore-body", [("Expect", "100-continue")], body=b"hello").split(b"\r\n\r\n")[0]
    out = await exchange(App(), request + b"\r\n\r\n", half_close=False)
    [response] = parse_responses(out, ["POST"])
    assert response.informational == []
    assert response.json() == {"ignored": True}


@pytest.mark.parametrize("path", ["/raise", "/raise-after-start", "/silent"])
@async_test
async def test_app_failing_before_its_body_gets_500_json(path, caplog):
    caplog.set_level(logging.ERROR, logger="browsercouch.http.driver")
    out = await exchange(App(), wire("GET", path), half_close=False)
    [response] = parse_responses(out, ["GET"])
    assert response.status == 500
    assert response.headers["connection"] == "close"
    assert response.json()["error"] == "internal_server_error"
    if path != "/silent":
        assert "boom" in caplog.text


@async_test
async def test_app_failing_mid_response_closes_the_connection():
    out = await exchange(App(), wire("GET", "/raise-mid") + TRAILER, half_close=False)
    assert out.startswith(b"HTTP/1.1 200 ")
    assert b"partial" in out
    assert not out.endswith(b"0\r\n\r\n")  # the chunked body was never terminated
    with pytest.raises(h11.RemoteProtocolError):
        parse_responses(out, ["GET", "GET"])


@pytest.mark.parametrize("path", ["/longpoll", "/feed"])
@async_test
async def test_disconnect_reaches_a_streaming_app_over_a_memory_pipe(path):
    app = App()
    stream = await open_app(app)
    connection = HTTPConnection(stream)
    async with connection.stream("GET", path) as response:
        assert await response.aiter_bytes().__anext__() == b"\n"
    assert connection.closed  # left early, so the client closed
    await asyncio.wait_for(app.disconnected.wait(), 5)
    await asyncio.wait_for(stream.server_task, 5)


@pytest.mark.native
@pytest.mark.parametrize("path", ["/longpoll", "/feed"])
@async_test
async def test_disconnect_reaches_a_streaming_app_over_a_socket(path):
    app = App()
    server = await start_server(app)
    connection = HTTPConnection(await open_tcp("127.0.0.1", server.sockets[0].getsockname()[1]))
    async with connection.stream("GET", path) as response:
        assert await response.aiter_bytes().__anext__() == b"\n"
    await asyncio.wait_for(app.disconnected.wait(), 5)
    server.close()
    await server.wait_closed()


@async_test
async def test_send_raises_client_disconnected_once_the_client_has_gone():
    app = App()
    connection = HTTPConnection(await open_app(app))
    async with connection.stream("GET", "/spew") as response:
        assert await response.aiter_bytes().__anext__()
    await asyncio.wait_for(app.disconnected.wait(), 5)


@async_test
async def test_half_closed_client_still_gets_its_response():
    out = await exchange(App(), wire("GET", "/bytes?n=100&chunk=7"))
    [response] = parse_responses(out, ["GET"])
    assert response.body == pattern(100)


@async_test
async def test_http_1_0_gets_a_close_delimited_body():
    out = await exchange(App(), b"GET /bytes?n=10&chunk=3 HTTP/1.0\r\n\r\n", half_close=False)
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"transfer-encoding" not in head.lower()
    assert b"connection: close" in head.lower()
    assert body == pattern(10)


@async_test
async def test_a_small_unread_body_is_drained_and_the_connection_kept():
    stream = await open_app(App(), limits=Limits(max_drain=1000))
    async with HTTPConnection(stream) as connection:
        kept = await connection.request("POST", "/ignore-body", body=b"x" * 900)
        assert kept.status == 200 and kept.header("connection") is None
        assert (await connection.request("GET", "/bytes?n=3")).body == b"012"
        # Too much to drain: the answer says the connection closes (RFC 9112 section 9.6).
        closing = await connection.request("POST", "/ignore-body", body=b"x" * 5000)
        assert closing.status == 200 and closing.header("connection") == "close"
        await asyncio.wait_for(stream.server_task, 5)  # too much to drain: the driver closed
        with pytest.raises(ConnectionError):
            await connection.request("GET", "/bytes?n=3")


# --- timeouts -------------------------------------------------------------------------------------


async def timed_exchange(data, limits):
    started = time.monotonic()
    out = await exchange(App(), data, half_close=False, limits=limits)
    return out, time.monotonic() - started


@async_test
async def test_slowloris_head_is_cut_off_after_header_timeout():
    limits = Limits(header_timeout=0.2, keepalive_timeout=30)
    out, elapsed = await timed_exchange(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", limits)
    assert out == b""
    assert 0.2 <= elapsed < 5


@async_test
async def test_slowloris_trickling_bytes_is_still_cut_off():
    client, server = memory_pipe()
    task = asyncio.ensure_future(serve_connection(App(), server, limits=Limits(header_timeout=0.3)))
    started = time.monotonic()
    await client.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    with pytest.raises(BrokenPipeError):
        for _ in range(100):  # a byte every 20 ms: no read waits long, but the head never ends
            await asyncio.sleep(0.02)
            await client.write(b"a")
    assert time.monotonic() - started < 1.5
    assert await read_until_eof(client) == b""
    await task


@async_test
async def test_idle_keep_alive_connection_is_closed_after_keepalive_timeout():
    limits = Limits(keepalive_timeout=0.2)
    out, elapsed = await timed_exchange(wire("GET", "/bytes?n=2"), limits)
    assert parse_responses(out, ["GET"])[0].body == b"01"
    assert 0.2 <= elapsed < 5


@async_test
async def test_stalled_request_body_ends_after_body_timeout():
    limits = Limits(body_timeout=0.2)
    request = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"
    out, elapsed = await timed_exchange(request, limits)
    assert 0.2 <= elapsed < 5
    [response] = parse_responses(out, ["POST"])
    assert response.status == 408
    assert response.json()["error"] == "request_timeout"


# --- large bodies ---------------------------------------------------------------------------------


async def big_round_trip(connection):
    """Upload and download ``BIG`` bytes; check the body went through in READ_SIZE-bounded chunks."""
    body = pattern(BIG)
    echo = (await connection.request("PUT", "/echo", body=body)).json()
    assert echo["length"] == BIG
    assert echo["sha256"] == hashlib.sha256(body).hexdigest()
    assert echo["chunks"] > 100 and echo["largest"] <= READ_SIZE
    download = await connection.request("GET", f"/bytes?n={BIG}&chunk=65536")
    assert hashlib.sha256(download.body).digest() == hashlib.sha256(body).digest()
    whole = await connection.request("GET", f"/bytes?n={BIG}")
    assert whole.header("content-length") == str(BIG)
    assert len(whole.body) == BIG


@async_test
async def test_large_bodies_over_a_memory_pipe():
    async with HTTPConnection(await open_app(App())) as connection:
        await big_round_trip(connection)


@pytest.mark.native
@async_test
async def test_large_bodies_over_a_socket():
    server = await start_server(App())
    async with HTTPConnection(await open_tcp("127.0.0.1", server.sockets[0].getsockname()[1])) as connection:
        await big_round_trip(connection)
    server.close()
    await server.wait_closed()


# --- against uvicorn ------------------------------------------------------------------------------

COMPARED = [
    ("GET", "/a%20b/%C3%A9?x=1&y=%20", None),
    ("POST", "/scope", b"form=1"),
    ("GET", "/bytes?n=1000", None),
    ("GET", "/bytes?n=1000&chunk=100", None),
    ("PUT", "/echo", pattern(200_000)),
    ("HEAD", "/bytes?n=10", None),
    ("GET", "/gate-less?n=1", None),
]


async def answers(port):
    """The comparable part of each COMPARED answer: status, content type and body (scope without ports)."""
    results = []
    async with HTTPConnection(await open_tcp("127.0.0.1", port)) as connection:
        for method, target, body in COMPARED:
            response = await connection.request(method, target, {"X-Test": "yes"}, body)
            content = response.body
            if response.header("content-type") == "application/json":
                content = response.json()
                for key in ("client", "server", "chunks", "largest"):  # ports; read sizes
                    content.pop(key, None)
            results.append((response.status, response.header("content-type"), content))
    return results


@pytest.mark.native
@async_test
async def test_same_answers_as_uvicorn():
    ours = await start_server(App())
    # proto=IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose listener says so.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    import uvicorn  # not in Pyodide, where this test is skipped

    config = uvicorn.Config(App(), lifespan="off", log_level="warning", http="h11")
    theirs = uvicorn.Server(config)
    serving = asyncio.ensure_future(theirs.serve(sockets=[sock]))
    while not theirs.started:
        await asyncio.sleep(0.01)
    try:
        expected = await answers(sock.getsockname()[1])
        assert await answers(ours.sockets[0].getsockname()[1]) == expected
        assert expected[0][2]["path"] == "/a b/é"  # the comparison saw real content
    finally:
        theirs.should_exit = True
        await serving
        ours.close()
        await ours.wait_closed()
