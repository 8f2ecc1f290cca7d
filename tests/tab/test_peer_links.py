"""``tab.peers``: HTTP between two browsers over their WebRTC data channels, without the browsers.

Two CouchDB apps are joined as two tabs' Python is: each has a ``PeerLink`` to the other, and what one
link sends on a channel is the other's message on it, delivered on a later loop turn as a data channel
delivers it. The replicator reaches the other app through ``PeerRouter`` at ``http://<uuid>.webrtc/db``.
Runs on CPython and inside Pyodide; the real data channels, in two Chromium processes, are in
``tests/e2e/test_webrtc.py``.
"""

import asyncio
import base64
import json
import os

import pytest
from helpers import async_test

from browsercouch import frames
from browsercouch.api import CouchApp
from browsercouch.http import app_client, tcp_client
from browsercouch.store import Couch
from browsercouch.tab.peers import RTC_MAX_CHUNK, PeerLink, PeerRouter, peer_url


class Tab:
    """One side: a store, its app (replicating through a ``PeerRouter``) and its links by peer uuid."""

    def __init__(self):
        self.couch = Couch()
        self.links = {}
        self.app = CouchApp(self.couch, http_client=PeerRouter(tcp_client(), self.links))
        self.client = app_client(self.app)
        self.sent = []  # sizes of the messages this side's links sent

    @property
    def uuid(self):
        return self.couch.uuid

    async def call(self, method, path, body=None):
        headers = {"content-type": "application/json", "accept": "application/json"}
        response = await self.client.request(method, "http://127.0.0.1" + path, headers, _json(body))
        return response.status, _parse(response.body)

    async def close(self):
        for link in self.links.values():
            await link.close()
        await self.client.close()
        await self.app.scheduler.stop()


def _json(body):
    return None if body is None else json.dumps(body).encode()


def _parse(data):
    return json.loads(data) if data else None


def pair(a, b):
    """Link ``a`` and ``b`` as two paired pages do; returns their two ``PeerLink``s."""
    loop = asyncio.get_running_loop()
    links = {}

    def channel(sender, receiver, direction):
        def send(message):
            sender.sent.append(len(message))
            loop.call_soon(lambda: links[receiver].closed or links[receiver].receive(direction, message))
        return send

    # What a sends on its "requests" channel arrives on b's "served" one, and the other way round.
    links[a] = PeerLink(a.app, a.uuid, b.uuid, channel(a, b, "served"), channel(a, b, "requests"))
    links[b] = PeerLink(b.app, b.uuid, a.uuid, channel(b, a, "served"), channel(b, a, "requests"))
    a.links[b.uuid], b.links[a.uuid] = links[a], links[b]
    return links[a], links[b]


async def _until(check, timeout=10.0):
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.01)


@async_test
async def test_a_tab_replicates_both_ways_over_its_link_with_attachments():
    a, b = Tab(), Tab()
    try:
        pair(a, b)
        await a.call("PUT", "/notes")
        await b.call("PUT", "/notes")
        attachment = os.urandom(3 << 20)  # several windows and frames
        await a.call("PUT", "/notes/big", {"_attachments": {"blob": {
            "content_type": "application/octet-stream", "data": base64.b64encode(attachment).decode()}}})
        await b.call("PUT", "/notes/from-b", {"side": "b"})
        remote = peer_url(a.uuid, "/notes")
        for body in ({"source": remote, "target": "notes"}, {"source": "notes", "target": remote}):
            status, answer = await b.call("POST", "/_replicate", body)
            assert status == 200 and answer["ok"], answer
        status, doc = await b.call("GET", "/notes/big?attachments=true")
        assert base64.b64decode(doc["_attachments"]["blob"]["data"]) == attachment
        assert (await a.call("GET", "/notes/from-b"))[1]["side"] == "b"
        # Each message a data channel carries stays under Chromium's 256 KiB.
        assert max(a.sent + b.sent) <= RTC_MAX_CHUNK + frames.HEADER.size < 256 * 1024
    finally:
        await a.close()
        await b.close()


@async_test
async def test_the_peer_is_known_by_its_uuid_and_cannot_choose_its_address_or_host():
    a, b = Tab(), Tab()
    try:
        link_b = pair(a, b)[1]
        # b's requests to a are served with b's uuid as their client, whatever its OPEN frames claim.
        status, answer = await b.call("POST", "/_replicate", {"source": peer_url(a.uuid, "/missing"),
                                                              "target": "x", "create_target": True})
        assert status == 404, answer
        served = a.links[b.uuid].server
        assert any(f"webrtc:{b.uuid}" in line and "GET /missing" in line for line in served.log)
        # A forged OPEN claiming to come from loopback is served as the same peer.
        link_b.channel_client._send(frames.open_frame(99, ("127.0.0.1", 1), ("127.0.0.1", 5984)))
        request = f"GET /_up HTTP/1.1\r\nHost: {a.uuid}.webrtc\r\n\r\n".encode()
        link_b.channel_client._send(frames.encode(frames.DATA, 99, request))

        async def logged():
            return any("/_up" in line for line in served.log)
        await _until(logged)
        line = next(line for line in served.log if "/_up" in line)
        assert f"webrtc:{b.uuid}" in line and "127.0.0.1" not in line
        # A Host that does not name a's uuid is refused: the link reaches a's server under that name only.
        response = await link_b.client.request("GET", f"http://{b.uuid}.webrtc/")
        assert response.status == 400 and b"does not name this server" in response.body
    finally:
        await a.close()
        await b.close()


@async_test
async def test_requests_fail_while_unlinked_and_a_new_link_resumes_from_the_checkpoint():
    a, b = Tab(), Tab()
    try:
        await a.call("PUT", "/notes")
        await b.call("PUT", "/notes")
        for i in range(30):
            await a.call("PUT", f"/notes/d{i}", {"i": i})
        status, answer = await b.call("POST", "/_replicate", {"source": peer_url(a.uuid, "/notes"),
                                                              "target": "notes"})
        assert status >= 400 and "no WebRTC link" in answer["reason"], answer  # no link yet

        old_b = pair(a, b)[1]
        status, answer = await b.call("POST", "/_replicate", {"source": peer_url(a.uuid, "/notes"),
                                                              "target": "notes"})
        assert status == 200 and answer["history"][0]["docs_written"] == 30
        await old_b.close()
        b.links.pop(a.uuid)
        for i in range(30, 40):
            await a.call("PUT", f"/notes/d{i}", {"i": i})

        pair(a, b)
        status, answer = await b.call("POST", "/_replicate", {"source": peer_url(a.uuid, "/notes"),
                                                              "target": "notes"})
        assert status == 200, answer
        # Same replication id over the new link (the peer's uuid, not the link): only the 10 new ones.
        assert answer["history"][0]["start_last_seq"] != 0
        assert answer["history"][0]["docs_written"] == 10
    finally:
        await a.close()
        await b.close()


@async_test
async def test_a_message_that_is_not_a_frame_closes_the_link_and_the_peer_is_unreachable():
    a, b = Tab(), Tab()
    try:
        link_a, _ = pair(a, b)
        with pytest.raises(frames.FrameError):
            link_a.receive("served", b"\x09not a frame")
        await asyncio.sleep(0.05)
        assert link_a.closed
        status, answer = await a.call("POST", "/_replicate", {"source": peer_url(b.uuid, "/notes"),
                                                              "target": "notes", "create_target": True})
        assert status >= 400 and "no WebRTC link" in answer["reason"], answer
    finally:
        await a.close()
        await b.close()
