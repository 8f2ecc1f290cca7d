"""HTTP between two browsers over WebRTC data channels (issue 14): no bridge, no server, no install.

Theory of operation. The page's JavaScript (``web/webrtc.js``) owns the ``RTCPeerConnection``: browsers
offer it to pages only, not to the workers Pyodide runs in. Each side of a connected pair opens one
reliable, ordered data channel of its own, labelled ``requests``, and serves the one the other side
opened. So a *link* to a peer has two channels, one per direction of requests, and the page only moves
their messages between the channel and Python:

- what arrives on the peer's channel is served: its messages are the socket bridge's frames
  (``browsercouch/frames.py``: OPEN, DATA, EOF, ACK, CLOSE), handed to a ``ChannelServer`` exactly as the
  bridge's WebSocket messages are, so every HTTP/1.1 request of the peer runs through the same h11 driver
  and the same CouchDB app as a TCP client's would;
- our own channel carries our requests: ``ChannelClient.connect()`` opens a connection on it (an OPEN
  frame) and returns it as a byte stream, which ``PooledClient`` talks HTTP/1.1 over. The replicator
  reaches the peer at ``http://<its server uuid>.webrtc/<db>`` (``PeerRouter``); the replication id comes
  from that uuid, so a replication resumes from its checkpoint over a new link after a reconnection.

The bridge's flow control carries over: each side sends at most a window of DATA per connection that the
other has not acknowledged, so the channel's send buffer (which the browser caps at 16 MiB, closing the
channel beyond) stays bounded. Frames are smaller than the bridge's: Chromium's data channels take
messages of at most 256 KiB.

Who may connect: the page pairs only with a peer that proves it holds the pairing secret (``webrtc.js``
signs the offer and the answer, whose DTLS fingerprints bind the connection to them). A paired peer's
requests are served like a loopback client's: as an admin when the tab has none, after logging in
otherwise. The peer cannot choose its address: connections get ``(webrtc:<uuid>, 0)`` as client and
``<our uuid>.webrtc`` as the only ``Host`` allowed.
"""

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

from .. import frames
from ..http import HttpClient, PooledClient
from .channel import ChannelServer, ChannelStream, deliver

__all__ = ["ChannelClient", "PeerLink", "PeerRouter", "PEER_DOMAIN", "peer_url"]

log = logging.getLogger("browsercouch.tab")

# The pseudo-domain naming a peer in URLs: ``http://<uuid>.webrtc/db``. Never resolved: the router
# recognises it before anything reaches the network.
PEER_DOMAIN = "webrtc"
# DATA payloads at most this big: Chromium's data channels refuse messages over 256 KiB.
RTC_MAX_CHUNK = 128 * 1024
# Unacknowledged bytes per connection and direction: a replication keeps a few connections busy, and
# their windows together stay far below the 16 MiB a data channel may buffer.
RTC_WINDOW = 1 << 20


def peer_url(uuid, path="/"):
    """The URL of ``path`` on the peer whose server uuid is ``uuid``."""
    return f"http://{uuid}.{PEER_DOMAIN}{path}"


class ChannelClient:
    """The client end of a byte channel: opens connections on it and delivers their frames.

    ``send(message: bytes)`` sends one frame to the peer; ``receive(message)`` takes one from it (raises
    ``frames.FrameError`` for bytes that are not a frame, or an OPEN: a server never opens a connection).
    """

    def __init__(self, send, *, max_chunk=RTC_MAX_CHUNK, window=RTC_WINDOW):
        self._send = send
        self._options = {"max_chunk": max_chunk, "window": window}
        self._streams = {}
        self._next_conn = 1
        self.connections_total = 0
        self.closed = False

    async def connect(self, scheme, host, port):
        """A new connection as a ``ChannelStream`` (``PooledClient``'s ``connect``); ``ConnectionError``
        once the channel is closed."""
        if self.closed:
            raise ConnectionRefusedError(f"the WebRTC link to {host} is closed")
        conn, self._next_conn = self._next_conn, self._next_conn + 1
        stream = ChannelStream(conn, self._send, forget=self._forget, **self._options)
        self._streams[conn] = stream
        self.connections_total += 1
        self._send(frames.open_frame(conn, (PEER_DOMAIN, 0), (host, port)))
        return stream

    def _forget(self, conn):
        self._streams.pop(conn, None)

    def receive(self, message):
        frame = frames.decode(message)
        if frame.kind == frames.OPEN:
            raise frames.FrameError("a peer's server opened a connection")
        deliver(self._streams, frame)

    def close(self):
        """The channel is gone: every connection's reads end and its writes fail."""
        self.closed = True
        for stream in list(self._streams.values()):
            stream.lost()
        self._streams.clear()


class PeerLink:
    """One WebRTC link to the peer whose server uuid is ``peer_uuid``.

    ``send_requests(message)`` sends on our ``requests`` channel, ``send_served(message)`` on the peer's;
    ``receive(direction, message)`` takes a message from one of them (``"requests"`` or ``"served"``).
    ``client`` is the ``PooledClient`` for requests to the peer.
    """

    def __init__(self, app, own_uuid, peer_uuid, send_requests, send_served):
        self.peer_uuid = peer_uuid
        self.server = ChannelServer(app, send_served, hostnames=[f"{own_uuid}.{PEER_DOMAIN}"],
                              addresses=((f"{PEER_DOMAIN}:{peer_uuid}", 0), (f"{own_uuid}.{PEER_DOMAIN}", 0)),
                              max_chunk=RTC_MAX_CHUNK, window=RTC_WINDOW)
        self.channel_client = ChannelClient(send_requests)
        self.client = PooledClient(self.channel_client.connect)
        self.closed = False

    def receive(self, direction, message):
        """One data-channel message; a broken frame closes the link (``FrameError`` propagates)."""
        try:
            if direction == "served":
                self.server.receive(message)
            else:
                self.channel_client.receive(message)
        except frames.FrameError:
            asyncio.ensure_future(self.close())
            raise

    def stats(self):
        served = self.server.stats()
        return {"uuid": self.peer_uuid, "closed": self.closed, "served_requests": served["requests"],
                "served_connections": served["connections"],
                "connections_opened": self.channel_client.connections_total, "log": served["log"]}

    async def close(self):
        if self.closed:
            return
        self.closed = True
        self.channel_client.close()
        with contextlib.suppress(Exception):
            await self.client.close()
        await self.server.close()


class PeerRouter(HttpClient):
    """An ``HttpClient`` that sends requests for ``http://<uuid>.webrtc/...`` over the link to that peer
    and every other request through ``fallback`` (the page's ``fetch()``).

    ``links`` maps a peer's uuid to its current ``PeerLink``. A peer with no link is unreachable
    (``ConnectionRefusedError``): the replicator backs off and retries, and finds the new link once the
    pages have paired again.
    """

    def __init__(self, fallback, links):
        self.fallback = fallback
        self.links = links

    def _client(self, url):
        host = urlsplit(url).hostname or ""
        uuid, dot, domain = host.rpartition(".")
        if not dot or domain != PEER_DOMAIN:
            return self.fallback
        link = self.links.get(uuid)
        if link is None or link.closed:
            raise ConnectionRefusedError(f"no WebRTC link to the browser {uuid}: pair with it first")
        return link.client

    def stream(self, method, url, headers=None, body=None, *, timeout=None):
        return self._client(url).stream(method, url, headers, body, timeout=timeout)

    async def close(self):
        await self.fallback.close()
