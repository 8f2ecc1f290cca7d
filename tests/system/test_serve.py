"""``browsercouch serve`` end to end (a subprocess on 127.0.0.1): the flags a user types reach the app
(``--admin``, ``--cors``, ``--data``), and the native server answers keep-alive requests promptly."""

import http.client as http_client
import statistics
import subprocess
import sys
import time

from helpers import http

ORIGIN = "http://app.example"


def _port(server):
    return int(server.url.rstrip("/").rsplit(":", 1)[1])


def test_admin_and_cors_flags(browsercouch_factory):
    server = browsercouch_factory("--admin", "admin:s3cret", "--cors", ORIGIN)
    url, auth_url = server.url, server.url.replace("http://", "http://admin:s3cret@")
    assert http("GET", url)[0] == 200
    status, _, body = http("GET", url + "_all_dbs")
    assert status == 401 and body["error"] == "unauthorized"
    assert http("GET", auth_url + "_all_dbs")[0] == 200
    status, headers, _ = http("OPTIONS", url + "db/doc", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type"})
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "PUT" in headers["Access-Control-Allow-Methods"]
    status, headers, _ = http("GET", url, headers={"Origin": "http://other.example"})
    assert headers.get("Access-Control-Allow-Origin") is None


def test_cors_is_off_without_the_flag(browsercouch_factory):
    server = browsercouch_factory()
    _, headers, _ = http("GET", server.url, headers={"Origin": ORIGIN})
    assert headers.get("Access-Control-Allow-Origin") is None


def test_data_survives_a_restart(browsercouch_factory, tmp_path):
    server = browsercouch_factory("--data", tmp_path)
    uuid = http("GET", server.url)[2]["uuid"]
    assert http("PUT", server.url + "kept")[0] == 201
    rev = http("PUT", server.url + "kept/doc", {"v": 1})[2]["rev"]
    server.stop()
    server = browsercouch_factory("--data", tmp_path)
    assert http("GET", server.url)[2]["uuid"] == uuid
    assert http("GET", server.url + "kept/doc")[2] == {"_id": "doc", "_rev": rev, "v": 1}


def test_keep_alive_requests_are_fast(browsercouch_factory):
    # A regression guard: without TCP_NODELAY every small response waited ~40 ms for a delayed ACK.
    server = browsercouch_factory()
    conn = http_client.HTTPConnection("127.0.0.1", _port(server), timeout=10)
    timings = []
    try:
        for _ in range(40):
            started = time.perf_counter()
            conn.request("GET", "/")
            conn.getresponse().read()
            timings.append(time.perf_counter() - started)
    finally:
        conn.close()
    assert statistics.median(timings) < 0.02, timings


def test_a_network_bind_without_credentials_is_refused():
    """Secure by default: without --admin the server will not listen beyond loopback. The check runs
    before any socket is bound, so nothing is ever exposed (and no traffic leaves loopback)."""
    result = subprocess.run([sys.executable, "-m", "browsercouch", "serve", "--host", "0.0.0.0", "--memory"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "refusing to serve 0.0.0.0 without credentials" in result.stderr
    assert "listening" not in result.stdout
