"""A native browsercouch and a browser pair over WebRTC and replicate both ways (issue 14: a native peer
with aiortc, as the second peer). The browser is headless Chromium on the plain web app; the native peer
is ``browsercouch serve --webrtc ROOM@URL`` (``browsercouch/webrtc.py``). They meet in a room of a
rendezvous database on another ``browsercouch serve`` on loopback, logging in to it, and offer each other
loopback candidates only."""

import base64

import pytest
from conftest import App
from helpers import http, start_browsercouch
from test_webrtc import LOOPBACK_ONLY, PASSWORD, PERMISSIONS, ROOM, SECRET, USER, WEBRTC_FLAGS, Peer

from browsercouch import webrtc

pytestmark = pytest.mark.skipif(webrtc.missing_reason() is not None, reason=str(webrtc.missing_reason()))


def test_a_native_server_and_a_browser_pair_in_a_room_and_replicate_both_ways(web_url, tmp_path):
    rendezvous = start_browsercouch("--cors", web_url.rstrip("/"), "--admin", f"{USER}:{PASSWORD}")
    room_url = rendezvous.url + "rendezvous"
    logged_in = room_url.replace("://", f"://{USER}:{PASSWORD}@")
    native = app = None
    try:
        assert http("PUT", logged_in)[0] == 201
        native = start_browsercouch("--webrtc", f"{ROOM}@{logged_in}", "--webrtc-secret", SECRET,
                                    "--webrtc-address", "127.0.0.1")
        native_uuid = http("GET", native.url)[2]["uuid"]
        app = App(web_url, tmp_path / "profile", WEBRTC_FLAGS, PERMISSIONS).open()
        tab = Peer(app)
        app.browser.execute_script(LOOPBACK_ONLY)
        tab.join_room(room_url)
        tab.wait_linked(native_uuid)
        assert tab.offered_addresses() <= {"127.0.0.1", "::1"}
        # The browser's invitation codes read the same in Python (deflate-raw, base64url, JSON).
        code = app.browser.execute_async_script("""const done = arguments[0];
            window.browsercouch.peers.createInvitation().then((r) => { r.link.close(); done(r.code); });""")
        invite = webrtc.decode_code(code)
        assert invite["kind"] == "invite" and invite["from"] == tab.uuid and "a=candidate:" in invite["sdp"]

        # The browser's database, with an attachment; the native one's.
        blob = b"from the browser " * 1000
        assert tab.request("PUT", "/notes")[0] == 201
        status, _ = tab.request("PUT", "/notes/tab-doc", {"_attachments": {"a.bin": {
            "content_type": "application/octet-stream", "data": base64.b64encode(blob).decode()}}})
        assert status == 201
        assert http("PUT", native.url + "notes")[0] == 201
        assert http("PUT", native.url + "notes/native-doc", {"side": "native"})[0] == 201

        # The native server pulls from and pushes to the browser over the link (its own replicator).
        remote = f"http://{tab.uuid}.webrtc/notes"
        for body in ({"source": remote, "target": "notes"}, {"source": "notes", "target": remote}):
            status, _, answer = http("POST", native.url + "_replicate", body)
            assert status == 200, answer
        assert http("GET", native.url + "notes/tab-doc/a.bin", headers={"Accept": "*/*"})[2] == blob
        status, doc = tab.request("GET", "/notes/native-doc")
        assert status == 200 and doc["side"] == "native"

        # The browser pulls from the native server, which serves it over the link.
        status, answer = tab.request("POST", "/_replicate", {
            "source": f"http://{native_uuid}.webrtc/notes", "target": "copy", "create_target": True})
        assert status == 200 and answer["history"][0]["docs_written"] == 2, answer
    finally:
        if app is not None:
            app.quit()
        if native is not None:
            native.stop()
        rendezvous.stop()
