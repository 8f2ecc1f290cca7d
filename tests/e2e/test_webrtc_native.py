"""A native browsercouch and a browser pair over WebRTC and replicate both ways (issue 14: a native peer
with aiortc, as the second peer). The browser is headless Chromium on the plain web app; the native peer
is a ``CouchApp`` in this process whose links run on aiortc (``browsercouch/webrtc.py``). They meet in a
room of a rendezvous database on a native ``browsercouch serve`` on loopback, and offer each other
loopback candidates only."""

import asyncio
import base64
import json

import pytest
from conftest import App
from helpers import async_test, http, start_browsercouch
from test_webrtc import LOOPBACK_ONLY, PASSWORD, PERMISSIONS, ROOM, SECRET, USER, WEBRTC_FLAGS, Peer

from browsercouch.api import CouchApp
from browsercouch.http import app_client
from browsercouch.store import Couch

aiortc = pytest.importorskip("aiortc", reason="needs aiortc (pip install -e .[test])")
from browsercouch.webrtc import NativePeers, peer_router  # noqa: E402 - after the skip

WAIT = 30


async def _until(check, message, timeout=WAIT):
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


@async_test(timeout=150)
async def test_a_native_peer_and_a_browser_pair_in_a_room_and_replicate_both_ways(web_url, tmp_path):
    server = start_browsercouch("--cors", web_url.rstrip("/"), "--admin", f"{USER}:{PASSWORD}")
    app = App(web_url, tmp_path / "profile", WEBRTC_FLAGS, PERMISSIONS)
    couch = Couch()
    links, router = peer_router()
    native_app = CouchApp(couch, http_client=router)
    native = app_client(native_app)
    peers = NativePeers(native_app, couch.uuid, links, addresses=["127.0.0.1"])
    room = None
    try:
        rendezvous = server.url + "rendezvous"
        assert http("PUT", rendezvous.replace("://", f"://{USER}:{PASSWORD}@"))[0] == 201
        await asyncio.to_thread(app.open)
        tab = await asyncio.to_thread(Peer, app)
        await asyncio.to_thread(app.browser.execute_script, LOOPBACK_ONLY)

        room = peers.join_room(rendezvous.replace("://", f"://{USER}:{PASSWORD}@"), ROOM, SECRET)
        await asyncio.to_thread(tab.join_room, rendezvous)
        await asyncio.to_thread(tab.wait_linked, couch.uuid)

        async def linked():
            return peers.connected(tab.uuid)
        await _until(linked, "the native peer never saw the link")
        assert await asyncio.to_thread(tab.offered_addresses) <= {"127.0.0.1", "::1"}

        # The browser's database, with an attachment; the native one's.
        blob = b"from the browser " * 1000
        assert (await asyncio.to_thread(tab.request, "PUT", "/notes"))[0] == 201
        status, _ = await asyncio.to_thread(tab.request, "PUT", "/notes/tab-doc", {"_attachments": {"a.bin": {
            "content_type": "application/octet-stream", "data": base64.b64encode(blob).decode()}}})
        assert status == 201
        await native.request("PUT", "http://127.0.0.1/notes")
        await native.request("PUT", "http://127.0.0.1/notes/native-doc", {"content-type": "application/json"},
                             b'{"side": "native"}')

        # The native peer pulls from and pushes to the browser over the link (its replicator, its client).
        remote = f"http://{tab.uuid}.webrtc/notes"
        for body in ({"source": remote, "target": "notes"}, {"source": "notes", "target": remote}):
            response = await native.request("POST", "http://127.0.0.1/_replicate",
                                            {"content-type": "application/json"}, json.dumps(body).encode())
            assert response.status == 200, response.body
        response = await native.request("GET", "http://127.0.0.1/notes/tab-doc/a.bin")
        assert response.body == blob
        status, doc = await asyncio.to_thread(tab.request, "GET", "/notes/native-doc")
        assert status == 200 and doc["side"] == "native"

        # The browser pulls from the native peer, which serves it over the link.
        status, answer = await asyncio.to_thread(tab.request, "POST", "/_replicate", {
            "source": f"http://{couch.uuid}.webrtc/notes", "target": "copy", "create_target": True})
        assert status == 200 and answer["history"][0]["docs_written"] == 2, answer
    finally:
        if room is not None:
            await room.stop()
        await peers.close()
        await native.close()
        await native_app.scheduler.stop()
        await asyncio.to_thread(app.quit)
        server.stop()
