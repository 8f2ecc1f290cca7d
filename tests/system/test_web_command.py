"""``browsercouch web`` (a subprocess on 127.0.0.1): it serves the web app built into the package
(``bundled.WEB_APP_DIR``) with the MIME types Pyodide needs and nothing outside it, and refuses to start
when the app is not built."""

import subprocess
import sys

import pytest
from helpers import http, start_browsercouch

from browsercouch import bundled

pytestmark = pytest.mark.skipif(bundled.missing_reason() is not None, reason=bundled.missing_reason() or "")
APP = bundled.WEB_APP_DIR


@pytest.fixture(scope="module")
def web_url():
    server = start_browsercouch(command="web")
    yield server.url
    server.stop()


@pytest.mark.parametrize("path, content_type", [
    ("couch.js", "text/javascript; charset=utf-8"),
    ("dist/pyodide.mjs", "text/javascript; charset=utf-8"),
    ("dist/pyodide.asm.wasm", "application/wasm"),
    ("dist/pyodide-lock.json", "application/json"),
])
def test_serves_the_app_files(web_url, path, content_type):
    status, headers, body = http("GET", web_url + path, headers={"Accept": "*/*"})
    assert status == 200
    assert headers["Content-Type"] == content_type
    assert headers["Cache-Control"] == "no-cache"
    raw = body if isinstance(body, bytes) else None
    if raw is not None:
        assert raw == (APP / path).read_bytes()


# The app's parent directory holds the extension's manifest.json: each of these would reach it.
@pytest.mark.parametrize("path", ["missing.js", "../manifest.json", "%2e%2e/manifest.json",
                                  "dist/../../manifest.json", "..%2fmanifest.json"])
def test_nothing_outside_web_or_missing(web_url, path):
    status, _, body = http("GET", web_url + path)
    assert status == 404 and body["error"] == "not_found"


def test_revalidation_answers_304_for_an_unchanged_file(web_url, tmp_path):
    status, headers, _ = http("GET", web_url + "dist/pyodide.asm.wasm", headers={"Accept": "*/*"})
    etag = headers["ETag"]
    status, headers, body = http("GET", web_url + "dist/pyodide.asm.wasm",
                                 headers={"Accept": "*/*", "If-None-Match": etag})
    assert status == 304 and body == b"" and headers["ETag"] == etag
    status, _, _ = http("GET", web_url + "couch.js", headers={"If-None-Match": etag})
    assert status == 200


def test_head_and_other_methods(web_url):
    status, headers, body = http("HEAD", web_url + "couch.js")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) == (APP / "couch.js").stat().st_size
    status, _, body = http("POST", web_url + "couch.js", b"x")
    assert status == 405 and body["error"] == "method_not_allowed"


def test_refuses_an_unbuilt_root(tmp_path):
    result = subprocess.run([sys.executable, "-m", "browsercouch", "web", "--port", "0", "--root", tmp_path],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "is not built" in result.stderr and "python build.py" in result.stderr
