"""The serving page's end of the socket bridge's byte channel (``browsercouch/frames.py``).

The bridge accepts TCP connections and forwards their bytes as frames over one WebSocket; the page hands
every WebSocket message to ``ChannelServer.receive`` and sends what ``ChannelServer`` gives its ``send``
callable. Each TCP connection becomes a ``ChannelStream`` (the HTTP driver's byte-stream interface) served by
``serve_connection`` with the CouchDB app, exactly as the native server serves a socket. No JavaScript
here: the same class runs in CPython (tests drive it against the real bridge) and in Pyodide.

Requests whose ``Host`` does not name the tab are refused, as natively (``http.TrustedHosts``: DNS
rebinding). ``ChannelServer.stats()`` counts connections and requests and keeps the last lines of the
request log (``http.AccessLog``, also logged at INFO), for the extension's popup.
"""

import asyncio
import collections
import logging
import time

from .. import frames
from ..http import AccessLog, TrustedHosts, serve_connection

__all__ = ["ChannelServer", "ChannelStream"]

log = logging.getLogger("browsercouch.tab")

LOG_LINES = 50
# Most bytes one read() returns. More than the native streams' 64 KiB: these bytes are in memory already
# (at most a window of them), and every read costs the driver several event-loop trips, which in
# Pyodide are ~0.1 ms each; uploads arrive in frames faster than the page reads them.
READ_SIZE = frames.WINDOW
# Consumed bytes the page acknowledges at once: one ACK frame per quarter window, not one per read (a
# small request needs none). The bridge's window never stalls on it: while the page waits for bytes,
# fewer than this are unacknowledged, so the bridge may still send. (A channel with a smaller window
# acknowledges every quarter of its own.)
ACK_THRESHOLD = frames.WINDOW // 4


class ChannelStream:
    """One connection of a byte channel as a byte stream (see ``browsercouch.http.streams``).

    ``max_chunk`` is the largest DATA payload sent, ``window`` the bytes in flight allowed (both sides of
    a channel use the same); ``forget(conn)`` is called once the connection is gone.
    """

    def __init__(self, conn, send, *, max_chunk=frames.MAX_CHUNK, window=frames.WINDOW, forget=None):
        self.conn = conn
        self._send = send
        self._max_chunk = max_chunk
        self._forget = forget
        self._chunks = collections.deque()
        self._unacked = 0  # bytes read() returned and not acknowledged yet
        self._readable = asyncio.Event()
        self._eof = False  # the client will send nothing more
        self._gone = False  # the connection is closed (by either side)
        self._eof_sent = False
        self.window = frames.SendWindow(window)
        self._writable = asyncio.Event()
        self._writable.set()

    # -- from the channel ------------------------------------------------------------------------------

    def feed(self, data):
        if data and not self._gone:
            self._chunks.append(data)
            self._readable.set()

    def feed_eof(self):
        self._eof = True
        self._readable.set()

    def acked(self, count):
        self.window.acked(count)
        if self.window.available:
            self._writable.set()

    def lost(self):
        """The bridge closed the connection (or the channel is gone): reads end, writes fail."""
        self._gone = self._eof = True
        self._readable.set()
        self._writable.set()
        if self._forget is not None:
            self._forget(self.conn)

    # -- the byte-stream interface ---------------------------------------------------------------------

    async def read(self):
        while not self._chunks:
            if self._eof:
                return b""
            self._readable.clear()
            await self._readable.wait()
        chunks = self._chunks
        chunk = chunks.popleft()
        if len(chunk) > READ_SIZE:
            chunk, rest = chunk[:READ_SIZE], chunk[READ_SIZE:]
            chunks.appendleft(rest)
        elif chunks and len(chunk) + len(chunks[0]) <= READ_SIZE:
            # The page fell behind and frames queued up: hand them over in one read (one trip through
            # the driver and h11 instead of several).
            parts, size = [chunk], len(chunk)
            while chunks and size + len(chunks[0]) <= READ_SIZE:
                parts.append(chunks.popleft())
                size += len(parts[-1])
            chunk = b"".join(parts)
        self._unacked += len(chunk)
        if self._unacked >= self.window.size // 4 and not self._gone:
            self._send(frames.ack_frame(self.conn, self._unacked))
            self._unacked = 0
        return chunk

    async def write(self, data):
        """Send ``data`` as DATA frames, never more than the window allows in flight (the bridge closes a
        channel whose page ignores it)."""
        view = memoryview(data)
        while view:
            while not self.window.available and not self._gone:
                self._writable.clear()
                await self._writable.wait()
            if self._gone or self._eof_sent:
                raise ConnectionResetError("the channel's connection is closed")
            size = min(self._max_chunk, self.window.available)
            chunk, view = view[:size], view[size:]
            self.window.sent(len(chunk))
            self._send(frames.encode(frames.DATA, self.conn, chunk))

    async def write_eof(self):
        if not (self._gone or self._eof_sent):
            self._eof_sent = True
            self._send(frames.encode(frames.EOF, self.conn))

    async def close(self):
        if not self._gone:
            self._send(frames.encode(frames.CLOSE, self.conn))
        self.lost()


def deliver(streams, frame):
    """Hand a DATA, EOF, ACK or CLOSE ``frame`` to its stream in ``streams`` (conn -> ``ChannelStream``)."""
    stream = streams.get(frame.conn)
    if stream is None:
        return  # a frame that crossed our CLOSE on the wire
    if frame.kind == frames.DATA:
        stream.feed(frame.payload)
    elif frame.kind == frames.EOF:
        stream.feed_eof()
    elif frame.kind == frames.ACK:
        stream.acked(frame.acked())
    else:
        streams.pop(frame.conn, None)
        stream.lost()


class ChannelServer:
    """All connections of one byte channel, served by the ASGI ``app``.

    ``send(message: bytes)`` sends one WebSocket message to the bridge; ``receive(message)`` takes one
    from it. ``close()`` ends every connection (the WebSocket is gone). ``accept(peer, local)`` may refuse
    a new connection (it is closed at once). ``hostnames`` are names the tab is reached by besides its
    addresses (``--hostname``). ``addresses`` fixes every connection's ``(peer, local)`` where OPEN frames
    come from an untrusted peer (WebRTC) rather than the bridge; ``max_chunk`` and ``window`` are the
    frame size and flow-control window of the channel (``frames.py``'s by default).
    """

    def __init__(self, app, send, *, limits=None, accept=None, hostnames=(), addresses=None,
                 max_chunk=frames.MAX_CHUNK, window=frames.WINDOW):
        self._app = AccessLog(TrustedHosts(app, hostnames), on_line=self._log_line)
        self._send = send
        self._accept = accept or (lambda peer, local: True)
        self._addresses = addresses  # (peer, local) OPEN frames may not choose: they come from a peer
        self._stream_options = {"max_chunk": max_chunk, "window": window}
        self._serve_options = {} if limits is None else {"limits": limits}
        self._streams = {}
        self._tasks = set()
        self.connections_total = 0
        self.requests_total = 0
        self.log = collections.deque(maxlen=LOG_LINES)
        self.closed = False

    def receive(self, message):
        """Handle one frame; raises ``frames.FrameError`` for bytes that are not one."""
        frame = frames.decode(message)
        if frame.kind == frames.OPEN:
            self._open(frame)
            return
        deliver(self._streams, frame)

    def _open(self, frame):
        peer, local = self._addresses or frame.open_info()
        if self.closed or frame.conn in self._streams or not self._accept(peer, local):
            self._send(frames.encode(frames.CLOSE, frame.conn))
            return
        stream = self._streams[frame.conn] = ChannelStream(frame.conn, self._send, **self._stream_options)
        self.connections_total += 1
        task = asyncio.ensure_future(self._serve(stream, peer, local))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, stream, peer, local):
        try:
            await serve_connection(self._counted, stream, client=peer, server=local, **self._serve_options)
        finally:
            self._streams.pop(stream.conn, None)

    async def _counted(self, scope, receive, send):
        self.requests_total += 1
        await self._app(scope, receive, send)

    def _log_line(self, line):
        self.log.append(f"{time.strftime('%H:%M:%S')} {line}")

    def stats(self):
        return {"connections": len(self._streams), "connections_total": self.connections_total,
                "requests": self.requests_total, "log": list(self.log)}

    async def close(self):
        """The channel is gone: every connection ends, and their serving tasks with them."""
        self.closed = True
        for stream in list(self._streams.values()):
            stream.lost()
        self._streams.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
