"""Issue 12 item 6: at ``--log-level info`` each request is logged, natively (stderr) and on the tab (the
extension popup's log): client, method, path, status, bytes and milliseconds, never credentials."""

import json
import re
import time

import pytest
from helpers import http, start_browsercouch

from .support import port_of, send_raw

LINE = r"127\.0\.0\.1 {method} {path} {status} (\d+) B (\d+(?:\.\d+)?) ms"


def _find(text, method, path, status):
    return re.search(LINE.format(method=method, path=re.escape(path), status=status), text)


def _wait_for(read, method, path, status, timeout=5):
    deadline = time.monotonic() + timeout
    while not (found := _find(read(), method, path, status)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_requests_are_logged_at_info_natively(native):
    assert http("PUT", native.url + "logged")[0] == 201
    assert http("PUT", native.url + "logged/doc?x=1", {"n": 1})[0] == 201
    status, _, body = http("GET", native.url + "logged/doc")
    found = _wait_for(native.output, "GET", "/logged/doc", 200)
    assert found, native.output()
    assert int(found.group(1)) == len(json.dumps(body, separators=(",", ":"))) + 1
    assert _wait_for(native.output, "PUT", "/logged/doc?x=1", 201)
    assert http("GET", native.url + "logged/missing")[0] == 404
    assert _wait_for(native.output, "GET", "/logged/missing", 404)


def test_credentials_never_reach_the_log(native):
    port = port_of(native.url)
    send_raw(port, f"GET http://someone:s3cret-pw@127.0.0.1:{port}/_up?x=1 HTTP/1.1\r\n"
                   f"Host: 127.0.0.1:{port}\r\nAuthorization: Basic c29tZW9uZTpzM2NyZXQtcHc=\r\n"
                   "Connection: close\r\n\r\n".encode())
    http("GET", native.url.replace("http://", "http://someone:s3cret-pw@") + "_up")
    assert _wait_for(native.output, "GET", "http://127.0.0.1:%d/_up?x=1" % port, r"\d+"), native.output()
    assert "s3cret" not in native.output() and "c29tZW9u" not in native.output()


def test_nothing_is_logged_at_warning():
    server = start_browsercouch()  # --log-level warning, the default
    try:
        assert http("GET", server.url + "_up")[0] == 200
        time.sleep(0.5)
        assert "/_up" not in server.output()
    finally:
        server.stop()


@pytest.mark.chromium
@pytest.mark.slow
def test_the_tab_logs_requests_in_the_popup(tab):
    url = f"http://127.0.0.1:{tab.port}/"
    assert http("PUT", url + "tablog")[0] == 201
    assert http("GET", url + "tablog/nothing")[0] == 404
    lines = tab.log_lines("/tablog/nothing")
    assert any(_find(line, "PUT", "/tablog", 201) for line in lines), lines
    assert any(_find(line, "GET", "/tablog/nothing", 404) for line in lines), lines
