"""Issue 12 item 4: requests whose framing two parsers could read differently are refused (RFC 9112): both
``Content-Length`` and ``Transfer-Encoding`` (400, and the connection closes: what follows could be a
smuggled request), obsolete line folding and header lines ended by a bare LF (400). Natively, on the tab,
and in the driver itself (in process)."""

import asyncio

import pytest

from browsercouch.http import memory_pipe, serve_connection

from .support import port_of, responses, send_raw

SMUGGLED = (b"POST /_session HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            b"GET /_all_dbs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")
FOLDED = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Long: a\r\n  b\r\n\r\n"
BARE_LF = b"GET / HTTP/1.1\nHost: 127.0.0.1:{port}\n\n"
BARE_LF_INSIDE = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\nX-A: b\r\n\r\n"
CASES = {
    "content-length-and-transfer-encoding": (SMUGGLED, "Content-Length and Transfer-Encoding"),
    "obsolete-line-folding": (FOLDED, "line folding"),
    "bare-lf": (BARE_LF, "CRLF"),
    "bare-lf-inside": (BARE_LF_INSIDE, "CRLF"),
}


def _check(data, reason, closed):
    answers = responses(data)
    assert len(answers) == 1, data  # nothing after the refusal: the smuggled GET is never answered
    assert answers[0].status_code == 400, data
    assert reason.encode() in answers[0].body and b'"bad_request"' in answers[0].body
    assert closed, "the connection stayed open"


@pytest.mark.parametrize("case", CASES)
def test_refused_natively(native, case):
    port = port_of(native.url)
    raw, reason = CASES[case]
    data, closed = send_raw(port, raw.replace(b"{port}", str(port).encode()))
    _check(data, reason, closed)


@pytest.mark.chromium
@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_refused_by_the_tab(tab, case):
    raw, reason = CASES[case]
    data, closed = send_raw(tab.port, raw.replace(b"{port}", str(tab.port).encode()))
    _check(data, reason, closed)


async def _app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"served"})


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("split", ["whole", "byte-by-byte"])
def test_refused_by_the_driver(case, split):
    raw, reason = CASES[case]
    raw = raw.replace(b"{port}", b"80")

    async def run():
        client, server = memory_pipe()
        serving = asyncio.ensure_future(serve_connection(_app, server))
        pieces = [raw] if split == "whole" else [raw[i:i + 1] for i in range(len(raw))]
        for piece in pieces:
            try:
                await client.write(piece)
            except ConnectionError:  # refused and closed before the rest was sent
                break
        received = b""
        while chunk := await asyncio.wait_for(client.read(), 5):
            received += chunk
        await asyncio.wait_for(serving, 5)
        return received

    _check(asyncio.run(run()), reason, True)


def test_well_formed_requests_still_pass_the_driver():
    async def run():
        client, server = memory_pipe()
        serving = asyncio.ensure_future(serve_connection(_app, server))
        await client.write(b"GET / HTTP/1.1\r\nHost: a\r\nX-Tab:\tb c\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n"
                           b"Connection: close\r\n\r\n")
        received = b""
        while chunk := await asyncio.wait_for(client.read(), 5):
            received += chunk
        await asyncio.wait_for(serving, 5)
        return received

    assert [r.status_code for r in responses(asyncio.run(run()))] == [200, 200]
