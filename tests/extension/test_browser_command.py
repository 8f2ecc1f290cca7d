"""``browsercouch browser`` end to end: one command makes a headless Chromium serve its databases on a
loopback port; stopping the command stops the browser; the same profile serves the same databases again,
and in LAN mode only with the admin's credentials."""

import socket

import pytest
from helpers import free_port, http, start_browser_server

from browsercouch import launcher

pytestmark = [pytest.mark.chromium, pytest.mark.slow,
              pytest.mark.skipif(launcher.missing_reason() is not None,
                                 reason=launcher.missing_reason() or "")]


def _refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


def test_one_command_serves_from_the_browser_and_stops_with_it(tmp_path):
    profile, port = tmp_path / "profile", free_port()
    server = start_browser_server(profile, port=port)
    try:
        status, _, welcome = http("GET", server.url)
        assert status == 200 and welcome["vendor"]["name"] == "browsercouch"
        assert http("PUT", server.url + "kept")[0] == 201
        assert http("PUT", server.url + "kept/doc", {"n": 1})[0] == 201
    finally:
        assert server.stop() == 0
    assert _refused(port), "the browser still serves after the command stopped"
    assert (profile / "NativeMessagingHosts" / "org.browsercouch.bridge.json").is_file()

    server = start_browser_server(profile, "--lan", "--admin", "admin:s3cret", port=port)
    try:
        assert http("GET", server.url + "_all_dbs")[0] == 401
        authorized = server.url.replace("http://", "http://admin:s3cret@")
        status, _, doc = http("GET", authorized + "kept/doc")
        assert status == 200 and doc["n"] == 1
        assert http("GET", server.url)[2]["uuid"] == welcome["uuid"]
    finally:
        server.stop()


def test_a_missing_extension_build_is_explained(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "EXTENSION_DIR", tmp_path / "extension")
    assert "python build.py" in launcher.missing_reason()
