"""A native browsercouch as a WebRTC peer of browsers (issue 14), with aiortc (PyPI, the ``webrtc`` extra).

The same links as a tab's (``tab/peers.py``: a ``requests`` data channel each way, the bridge's
frames, ``PeerLink`` serving the app and ``PeerRouter`` reaching ``http://<uuid>.webrtc/db``) over
aiortc's data channels instead of the browser's, and the same pairing as the web app's ``web/webrtc.js``:
invitation and answer codes, and rooms of a rendezvous database, every offer and answer signed with the
pairing secret (HMAC-SHA256 over their fields and SDP). A browser cannot tell this peer from a tab.

aioice, aiortc's ICE, never offers loopback addresses and has no per-connection choice of them:
``NativePeers(addresses=[...])`` replaces the host addresses it offers, for the whole process.
``browsercouch serve --webrtc ROOM@URL`` runs a server that is such a peer.
"""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
import zlib
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from .http import tcp_client
from .tab import PeerLink, PeerRouter

__all__ = ["NativePeers", "Room", "peer_router", "missing_reason", "encode_code", "decode_code"]

log = logging.getLogger("browsercouch.webrtc")

LABEL = "requests"
PROTOCOL = "browsercouch-webrtc/1"
CODE_PREFIX = "bc1."
# As web/webrtc.js: hellos older than this are from peers long gone; a long-poll waits at most this long;
# an offer unanswered this long is dropped; a failed rendezvous call is retried after this pause.
HELLO_MAX_AGE = 600.0
LONGPOLL_MS = 20000
ANSWER_TIMEOUT = 30.0
RETRY_DELAY = 1.0


def missing_reason():
    """Why this module cannot run here (aiortc is not installed), or ``None``."""
    try:
        import aiortc  # noqa: F401 - only to know that it is there
    except ImportError:
        return "needs aiortc: pip install 'browsercouch[webrtc]'"
    return None


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac_text(message):
    fields = (PROTOCOL, message["kind"], message.get("room") or "", message["from"], message.get("to") or "",
              message["session"], message.get("to_session") or "", message.get("sdp") or "")
    return "\n".join(fields).encode()


def sign(secret, message):
    """``message`` with its ``mac``: HMAC-SHA256 of its fields (web/webrtc.js's ``macText``)."""
    mac = hmac.new(secret.encode(), _mac_text(message), hashlib.sha256).digest()
    return {**message, "mac": _b64url(mac)}


def verified(secret, message):
    try:
        mac = _unb64url(message["mac"])
    except (KeyError, TypeError, ValueError):
        return False
    return hmac.compare_digest(mac, hmac.new(secret.encode(), _mac_text(message), hashlib.sha256).digest())


def encode_code(message):
    """A pairing message as the app's copy-paste code: JSON, raw deflate, base64url."""
    packer = zlib.compressobj(wbits=-15)
    return CODE_PREFIX + _b64url(packer.compress(json.dumps(message).encode()) + packer.flush())


def decode_code(code):
    """The message in a code; ``ValueError`` if it is not one."""
    text = code.strip()
    if not text.startswith(CODE_PREFIX):
        raise ValueError("not a browsercouch pairing code")
    try:
        return json.loads(zlib.decompress(_unb64url(text[len(CODE_PREFIX):]), wbits=-15))
    except (ValueError, zlib.error) as error:
        raise ValueError(f"the pairing code is damaged: {error}") from None


def _only_addresses(addresses):
    """Make aioice offer ``addresses`` as host candidates (it offers every non-loopback one otherwise)."""
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: list(addresses)


class _Link:
    """One ``RTCPeerConnection`` and its two channels; ``link`` is the ``PeerLink`` once one opened."""

    def __init__(self, peers, role, session, secret, room=None):
        from aiortc import RTCConfiguration, RTCPeerConnection

        self.peers = peers
        self.role, self.session, self.secret, self.room = role, session, secret, room
        self.peer = self.peer_session = None
        self.state = "pairing"
        self.was_connected = False
        self.link = None
        self.channels = {"requests": None, "served": None}
        self.queued = {"requests": [], "served": []}
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.on("datachannel", lambda channel: channel.label == LABEL and self._wire(channel, "served"))
        self.pc.on("connectionstatechange", self._state_changed)
        self._wire(self.pc.createDataChannel(LABEL), "requests")

    def _wire(self, channel, direction):
        self.channels[direction] = channel
        channel.on("open", lambda: self._opened(direction))
        channel.on("close", lambda: asyncio.ensure_future(self.close()))
        channel.on("message", lambda data: self._message(direction, data))
        if channel.readyState == "open":
            self._opened(direction)

    def _opened(self, direction):
        if self.state == "closed":
            return
        if self.link is None:
            self.link = PeerLink(self.peers.app, self.peers.uuid, self.peer,
                                 lambda message: self._send("requests", message),
                                 lambda message: self._send("served", message))
            self.peers.attach(self)
        for message in self.queued[direction]:
            self.channels[direction].send(message)
        self.queued[direction].clear()
        if all(channel is not None and channel.readyState == "open" for channel in self.channels.values()):
            self.state = "connected"
            self.was_connected = True

    def _message(self, direction, data):
        if self.link is not None and isinstance(data, bytes):
            self.link.receive(direction, data)

    def _send(self, direction, message):
        channel = self.channels[direction]
        if self.state == "closed":
            return
        if channel is None or channel.readyState != "open":
            self.queued[direction].append(message)
        else:
            channel.send(message)

    def _state_changed(self):
        if self.pc.connectionState in ("failed", "closed"):
            asyncio.ensure_future(self.close())

    async def _description(self):
        return self.pc.localDescription.sdp  # aiortc gathers every candidate in setLocalDescription

    async def offer(self):
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return await self._description()

    async def answer(self, sdp):
        from aiortc import RTCSessionDescription

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return await self._description()

    async def accept(self, sdp):
        from aiortc import RTCSessionDescription

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def close(self):
        if self.state == "closed":
            return
        self.state = "closed"
        self.peers.detach(self)
        if self.link is not None:
            await self.link.close()
        await self.pc.close()
        if self.room is not None:
            self.room.link_closed(self)


def peer_router(fallback=None):
    """``(links, client)``: the ``HttpClient`` to give an app's replicator, which reaches paired browsers
    at ``http://<uuid>.webrtc/db`` and everything else through ``fallback`` (TCP by default), and the
    dict of links it reads, for ``NativePeers``."""
    links = {}
    return links, PeerRouter(fallback or tcp_client(), links)


class NativePeers:
    """This process's WebRTC links, serving ``app`` as the server ``uuid``.

    ``links`` is the dict a ``peer_router()`` reads (peer uuid -> ``PeerLink``); ``addresses`` are the
    host addresses offered in ICE (aioice's default: every non-loopback one).
    """

    def __init__(self, app, uuid, links, *, addresses=None):
        self.app = app
        self.uuid = uuid
        self.links = links
        self._all = set()
        if addresses is not None:
            _only_addresses(addresses)

    def attach(self, link):
        """``link`` opened: requests to its peer go over it, and any older link to that peer closes."""
        self.links[link.peer] = link.link
        for other in list(self._all):
            if other is not link and other.peer == link.peer:
                asyncio.ensure_future(other.close())

    def detach(self, link):
        self._all.discard(link)
        if link.link is not None and self.links.get(link.peer) is link.link:
            del self.links[link.peer]

    def new_link(self, role, session, secret, room=None):
        link = _Link(self, role, session, secret, room)
        self._all.add(link)
        return link

    def connected(self, peer):
        return any(link.peer == peer and link.state == "connected" for link in self._all)

    async def drop(self, peer):
        for link in [link for link in self._all if link.peer == peer]:
            await link.close()

    async def accept_invitation(self, code):
        """The answer code for a browser's invitation code; the link opens once it has the answer."""
        invite = decode_code(code)
        if invite.get("kind") != "invite":
            raise ValueError("this is not an invitation code")
        await self.drop(invite["from"])
        link = self.new_link("answer", secrets.token_urlsafe(16), invite["secret"])
        link.peer, link.peer_session = invite["from"], invite["session"]
        sdp = await link.answer(invite["sdp"])
        return encode_code(sign(link.secret, {"kind": "answer", "from": self.uuid, "to": invite["from"],
                                              "session": link.session, "to_session": invite["session"],
                                              "sdp": sdp}))

    def join_room(self, url, room, secret):
        """Meet, in room ``room`` of the rendezvous database ``url``, every browser with ``secret``."""
        joined = Room(self, url, room, secret)
        joined.start()
        return joined

    async def close(self):
        for link in list(self._all):
            await link.close()


class Room:
    """web/webrtc.js's ``Room``: hellos, offers and answers as documents of a rendezvous database."""

    def __init__(self, peers, url, room, secret):
        parts = urlsplit(url)
        self.headers = {"content-type": "application/json", "accept": "application/json"}
        if parts.username:
            token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
            self.headers["authorization"] = f"Basic {token}"
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.peers, self.name, self.secret = peers, room, secret
        self.client = tcp_client()
        self.session = None
        self.latest = {}
        self.error = None
        self._task = None
        self._tasks = set()

    def start(self):
        self._task = asyncio.ensure_future(self._watch())

    async def _call(self, method, path, body=None, timeout=None):
        response = await self.client.request(method, self.url + path, self.headers,
                                             None if body is None else json.dumps(body).encode(),
                                             timeout=timeout)
        answer = json.loads(response.body)
        if response.status >= 400:
            raise ConnectionError(f"{method} {self.url}{path.split('?')[0]}: {response.status} {answer}")
        return answer

    async def _post(self, message):
        doc = sign(self.secret, {**message, "room": self.name, "from": self.peers.uuid,
                                 "time": int(time.time() * 1000)})
        doc_id = quote(f"{self.name}:{doc['kind']}:{doc['from']}:{secrets.token_urlsafe(6)}", safe="")
        await self._call("PUT", f"/{doc_id}", doc)

    async def _hello(self):
        self.session = secrets.token_urlsafe(16)
        await self._post({"kind": "hello", "session": self.session})

    async def _watch(self):
        since = 0
        while True:
            try:
                if self.session is None:
                    await self._hello()
                query = urlencode({"feed": "longpoll", "include_docs": "true", "filter": "_selector",
                                   "timeout": LONGPOLL_MS, "since": since})
                feed = await self._call("POST", f"/_changes?{query}", {"selector": {"room": self.name}},
                                        timeout=LONGPOLL_MS / 1000 + 10)
                since = feed["last_seq"]
                for row in feed["results"]:
                    if row.get("doc") and not row.get("deleted"):
                        await self._handle_safely(row["doc"])
                self.error = None
            except (OSError, ValueError, KeyError) as error:
                self.error = str(error)
                log.warning("rendezvous %s: %s", self.url, error)
                await asyncio.sleep(RETRY_DELAY)

    async def _handle_safely(self, doc):
        """``_handle``, where a document that breaks it (a bad SDP, a field missing) is skipped, not fatal."""
        try:
            await self._handle(doc)
        except Exception as error:  # aiortc's and the peer's failures alike: the room goes on
            log.warning("rendezvous %s: skipping %s: %r", self.url, doc.get("_id"), error)

    async def _handle(self, doc):
        me = self.peers.uuid
        if doc.get("from") == me or not verified(self.secret, doc):
            return
        if doc["kind"] == "hello":
            await self._on_hello(doc)
        elif doc["kind"] == "offer" and doc.get("to") == me and doc.get("to_session") == self.session:
            await self._on_offer(doc)
        elif doc["kind"] == "answer" and doc.get("to") == me:
            for link in list(self.peers._all):
                if (link.peer == doc["from"] and link.role == "offer" and link.state == "pairing"
                        and link.session == doc["to_session"] and link.peer_session == doc["session"]):
                    await link.accept(doc["sdp"])

    async def _on_hello(self, doc):
        stale = time.time() * 1000 - doc["time"] > HELLO_MAX_AGE * 1000
        if stale or self.latest.get(doc["from"], 0) >= doc["time"]:
            return
        self.latest[doc["from"]] = doc["time"]
        if self.peers.uuid > doc["from"]:
            return  # the peer with the smaller uuid offers
        await self.peers.drop(doc["from"])
        link = self.peers.new_link("offer", self.session, self.secret, self)
        link.peer, link.peer_session = doc["from"], doc["session"]
        sdp = await link.offer()
        self._later(ANSWER_TIMEOUT, lambda: link.state == "pairing" and link.close())
        await self._post({"kind": "offer", "to": doc["from"], "session": self.session,
                          "to_session": doc["session"], "sdp": sdp})

    async def _on_offer(self, doc):
        await self.peers.drop(doc["from"])
        link = self.peers.new_link("answer", self.session, self.secret, self)
        link.peer, link.peer_session = doc["from"], doc["session"]
        sdp = await link.answer(doc["sdp"])
        await self._post({"kind": "answer", "to": doc["from"], "session": self.session,
                          "to_session": doc["session"], "sdp": sdp})

    def _later(self, delay, action):
        async def run():
            await asyncio.sleep(delay)
            result = action()
            if asyncio.iscoroutine(result):
                await result
        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def link_closed(self, link):
        """A link of this room closed: a new hello, so the pair meets again."""
        if link.was_connected and self._task is not None:
            self._later(0, self._hello)

    async def stop(self):
        tasks = [task for task in (self._task, *self._tasks) if task is not None]
        self._task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in [link for link in self.peers._all if link.room is self]:
            await link.close()
        with contextlib.suppress(Exception):
            await self.client.close()
