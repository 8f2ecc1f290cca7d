"""``http.client``: the pooled h11 client over TCP (a real uvicorn) and over the in-process
app transport: connection reuse, a stale kept-alive connection, silence timeouts, cut-short bodies."""

import asyncio

import pytest
from helpers import async_test
from replicator.peers import serve_uvicorn

from browsercouch.http import app_client, tcp_client


async def app(scope, receive, send):
    """``/echo`` answers the request line and headers; ``/stall`` sends a head and nothing more;
    ``/beats`` sends a newline every 150 ms for 1.2 s, then ``{}``; ``/cut`` promises 100 bytes, sends 10."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if path == "/cut":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        await send({"type": "http.response.body", "body": b"0123456789", "more_body": True})
        raise RuntimeError("the app dies mid-body")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    if path == "/stall":
        await asyncio.sleep(1)
    if path == "/beats":
        for _ in range(8):
            await send({"type": "http.response.body", "body": b"\n", "more_body": True})
            await asyncio.sleep(0.15)
        await send({"type": "http.response.body", "body": b"{}"})
        return
    headers = "".join(f"{k.decode()}: {v.decode()}\n" for k, v in scope["headers"])
    text = f"{scope['method']} {path}?{scope['query_string'].decode()}\n{headers}\n".encode()
    await send({"type": "http.response.body", "body": text + body})


@pytest.fixture(params=["tcp", "app"])
def transport(request):
    return request.param


class Served:
    def __init__(self, transport, **config):
        self.transport, self.config = transport, config

    async def __aenter__(self):
        if self.transport == "app":
            self.client = app_client(app, timeout=2)
            self.base = "http://127.0.0.1:5984"
            return self
        self._server = serve_uvicorn(app, **self.config)
        port = await self._server.__aenter__()
        self.client = tcp_client(timeout=2)
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc):
        await self.client.close()
        if self.transport == "tcp":
            await self._server.__aexit__(*exc)


@async_test
async def test_requests_reuse_one_connection(transport):
    async with Served(transport) as served:
        for i in range(5):
            response = await served.client.request("POST", f"{served.base}/echo?i={i}", {"x-a": "b"}, b"hi")
            assert response.status == 200
            assert response.body.startswith(f"POST /echo?i={i}\n".encode()) and response.body.endswith(b"hi")
            assert b"x-a: b\n" in response.body
        assert served.client.connections_opened == 1


@async_test
async def test_concurrent_requests_open_more_connections_and_keep_some(transport):
    async with Served(transport) as served:
        served.client.max_idle = 2
        url = f"{served.base}/beats"
        answers = await asyncio.gather(*(served.client.request("GET", url) for _ in range(4)))
        assert all(a.body.strip() == b"{}" for a in answers)
        assert served.client.connections_opened == 4
        await asyncio.gather(*(served.client.request("GET", f"{served.base}/echo") for _ in range(2)))
        assert served.client.connections_opened == 4


@async_test
async def test_host_header_never_carries_credentials(transport):
    async with Served(transport) as served:
        url = served.base.replace("http://", "http://user:secret@") + "/echo"
        body = (await served.client.request("GET", url)).body.decode()
        assert "host: 127.0.0.1:" in body.lower() and "secret" not in body and "user" not in body


@pytest.mark.native
@async_test
async def test_a_kept_alive_connection_the_server_closed_is_replaced():
    async with Served("tcp", timeout_keep_alive=0.1) as served:
        await served.client.request("GET", f"{served.base}/echo")
        await asyncio.sleep(0.5)  # uvicorn closes the idle connection meanwhile
        response = await served.client.request("POST", f"{served.base}/echo", None, b"again")
        assert response.body.endswith(b"again")
        assert served.client.connections_opened == 2


@async_test
async def test_silence_times_out_but_heartbeats_keep_a_response_alive(transport):
    async with Served(transport) as served:
        with pytest.raises(TimeoutError):
            await served.client.request("GET", f"{served.base}/stall", timeout=0.6)
        # Twice the timeout in all, but never silent that long (a margin for a loaded machine).
        response = await served.client.request("GET", f"{served.base}/beats", timeout=0.6)
        assert response.body == b"\n" * 8 + b"{}"


@async_test
async def test_streaming_yields_chunks_as_they_come(transport):
    async with Served(transport) as served:
        async with served.client.stream("GET", f"{served.base}/beats") as response:
            assert response.status == 200 and response.headers["content-type"] == "text/plain"
            chunks = [chunk async for chunk in response.aiter_bytes()]
        assert len(chunks) >= 8 and b"".join(chunks).endswith(b"{}")
        # Leaving a stream early drops that connection; the next request opens a new one.
        async with served.client.stream("GET", f"{served.base}/beats") as response:
            async for _ in response.aiter_bytes():
                break
        await served.client.request("GET", f"{served.base}/echo")


@async_test
async def test_a_cut_short_body_is_a_connection_error(transport):
    async with Served(transport) as served:
        with pytest.raises(ConnectionError):
            await served.client.request("GET", f"{served.base}/cut")
        assert (await served.client.request("GET", f"{served.base}/echo")).status == 200


@pytest.mark.native
@async_test
async def test_nobody_listening_is_an_os_error():
    client = tcp_client(timeout=2)
    async with serve_uvicorn(app) as port:
        pass
    with pytest.raises(OSError):
        await client.request("GET", f"http://127.0.0.1:{port}/echo")
    await client.close()


@async_test
async def test_bad_urls_and_a_closed_client():
    client = app_client(app)
    for url in ("ftp://127.0.0.1/x", "/relative", "http:///nohost"):
        with pytest.raises(ValueError):
            await client.request("GET", url)
    await client.close()
    with pytest.raises(RuntimeError):
        await client.request("GET", "http://127.0.0.1/echo")


@pytest.mark.native
@async_test
async def test_all_kept_alive_connections_to_a_restarted_server_are_replaced():
    client = tcp_client(timeout=2)
    async with serve_uvicorn(app, timeout_graceful_shutdown=0.1) as port:
        url = f"http://127.0.0.1:{port}/beats"
        await asyncio.gather(*(client.request("GET", url) for _ in range(3)))
        assert client.connections_opened == 3
    async with serve_uvicorn(app, port=port):
        response = await client.request("POST", f"http://127.0.0.1:{port}/echo", None, b"back")
        assert response.body.endswith(b"back") and client.connections_opened == 4
    await client.close()
