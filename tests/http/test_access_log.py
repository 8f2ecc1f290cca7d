"""``http.AccessLog``: one line per request, at INFO and to ``on_line``; no credentials, no headers."""

import asyncio
import logging

from browsercouch.http import AccessLog


async def _app(scope, receive, send):
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"12345", "more_body": True})
    await send({"type": "http.response.body", "body": b"678"})


def _run(app, raw_path, query=b"", on_line=None):
    async def send(message):
        pass

    scope = {"type": "http", "method": "PUT", "path": raw_path.decode(), "raw_path": raw_path,
             "query_string": query, "client": ("10.0.0.7", 4000),
             "headers": [(b"authorization", b"Basic c2VjcmV0")]}
    asyncio.run(AccessLog(app, on_line)(scope, None, send))


def test_a_line_per_request(caplog):
    lines = []
    with caplog.at_level(logging.INFO, logger="browsercouch.access"):
        _run(_app, b"/db/doc%20x", b"rev=1-a", lines.append)
    assert len(lines) == 1
    client, method, target, status, size, unit, ms, ms_unit = lines[0].split()
    assert (client, method, target, status, size, unit, ms_unit) == (
        "10.0.0.7", "PUT", "/db/doc%20x?rev=1-a", "201", "8", "B", "ms")
    assert float(ms) >= 0 and caplog.messages == lines


def test_credentials_of_an_absolute_target_are_dropped():
    lines = []
    _run(_app, b"http://me:s3cret@127.0.0.1:5984/db", on_line=lines.append)
    assert lines[0].split()[2] == "http://127.0.0.1:5984/db" and "c2VjcmV0" not in lines[0]


def test_a_failing_app_is_logged_without_a_status():
    lines = []

    async def failing(scope, receive, send):
        raise RuntimeError("boom")

    try:
        _run(failing, b"/x", on_line=lines.append)
    except RuntimeError:
        pass
    assert lines[0].split()[3] == "-"


def test_nothing_is_done_when_nobody_listens(caplog):
    with caplog.at_level(logging.WARNING, logger="browsercouch.access"):
        _run(_app, b"/quiet")
    assert caplog.messages == []
