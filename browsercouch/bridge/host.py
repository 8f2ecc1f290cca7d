"""The socket bridge program: a native messaging host that lends the serving page a listening TCP socket.

The browser starts it (``python -m browsercouch.bridge ORIGIN``) when the page connects to the native
host, and closes its stdin when the page goes away; the bridge then closes every TCP connection and the
listener and exits. It logs to stderr only: stdout carries native messaging (``nativemessaging.py``).

Control, over native messaging (page -> bridge, each answered by one message; an ``"id"`` in a request is
copied into its answer):

    {"type": "listen", "host": "127.0.0.1", "port": 61984}
        -> {"type": "listening", "host": H, "port": P, "channel": "ws://127.0.0.1:WSPORT/channel/TOKEN",
            "addresses": [A, ...]}     (this machine's LAN IPv4 addresses when H is 0.0.0.0 or ::, else [H])
        -> {"type": "error", "error": "listen_failed", "reason": "..."}     (port in use, bad address)
       Opens the TCP listener and, the first time, the byte channel's WebSocket server. A ``listen`` while
       listening replaces the listener: its connections are closed (``CLOSE`` frames); the channel stays.
    {"type": "stop"} -> {"type": "stopped"}
       Closes the listener, every connection, the channel and its server. The next ``listen`` opens a new
       channel with a new token.
    {"type": "ping"} -> {"type": "pong", "connections": N, "channel": true|false, "listening": true|false}
    {"type": "announce", "uuid": U, "name": N?, "auth": true|false}
        -> {"type": "announced", "instance": "N (U[:8])"}
        -> {"type": "announced", "instance": null, "reason": "..."}     (listening on loopback only)
       Announces the served server on the LAN with DNS-SD over multicast DNS (``discovery.py``) and
       browses for other servers and browsers; from then on, and each time what is found changes, the
       bridge sends {"type": "peers", "peers": [PEER, ...]} unasked (``discovery.Peer.to_json()``). A new
       ``listen`` or a ``stop`` withdraws the announcement and stops browsing.
    {"type": "peers"} -> {"type": "peers", "peers": [...]}     ([] before an announce)
    anything else -> {"type": "error", "error": "bad_request", "reason": "..."}

Bytes, over the channel (``../frames.py``): one WebSocket client at a time; a newer one (right token, right
``Origin``) replaces it, and the old one's connections are closed. Per TCP connection the bridge sends
``OPEN``, then ``DATA`` read from the socket while the connection's ``SendWindow`` is open (it reads no
more than the window allows, and stops reading when it is full: backpressure reaches the client), ``EOF``
when the client shut down its side, ``CLOSE`` when the connection is gone. From the page, ``DATA`` is
written to the socket and acknowledged (``ACK``) once the socket took it (the kernel's buffer, not ours:
a slow client stops the page's window, not the other connections), ``EOF`` shuts down the sending side,
``CLOSE`` closes the connection: the bridge flushes what it holds, shuts down its side and discards what
the client still sends for a while (a "lingering close", so that an error answer to a big upload is not
lost to a reset). Connections accepted while no page is connected wait up to ``CHANNEL_WAIT`` seconds.
"""

import asyncio
import logging
import os
import re
import secrets
import socket
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from .. import frames
from . import nativemessaging

__all__ = ["Bridge", "main"]

log = logging.getLogger("browsercouch.bridge")

DEFAULT_PORT = 61984
# Pending connections the kernel queues while the page is busy (nginx and uvicorn use 511 and 2048).
BACKLOG = 1024
# How long an accepted connection waits for a page to connect to the channel before it is closed.
CHANNEL_WAIT = 10.0
# After the page closed a connection: how long the bridge still flushes and discards before a reset.
LINGER = 30.0
# The channel's largest message: a DATA frame of MAX_CHUNK bytes, plus its header, plus slack.
CHANNEL_MAX_SIZE = frames.HEADER.size + frames.MAX_CHUNK + 1024
# The channel's WebSocket send buffer (bytes) before the sender waits for the socket: a few frames.
CHANNEL_WRITE_LIMIT = 4 * frames.MAX_CHUNK
CHANNEL_PATH = "/channel/"

# A frame is built in place: its header, then the bytes read from the socket straight behind it. The
# selector event loop calls get_buffer() and buffer_updated() back to back and the frame is copied out at
# once, so all connections share one buffer (an idle connection costs none). Windows' proactor loop holds
# the buffer during an overlapped read: one per connection there.
_FRAME_SIZE = frames.HEADER.size + frames.MAX_CHUNK
_SHARED_FRAME = None if sys.platform == "win32" else memoryview(bytearray(_FRAME_SIZE))

# A connection's states: no page yet; bridged to the page; closed by the page (lingering); gone.
WAITING, OPEN, LINGERING, CLOSED = "waiting", "open", "lingering", "closed"


class Connection(asyncio.BufferedProtocol):
    """One accepted TCP connection, bridged to the page's channel as connection ``id``."""

    def __init__(self, bridge):
        self.bridge = bridge
        self.id = None
        self.channel = None
        self.state = WAITING
        self.transport = None
        self.window = frames.SendWindow()
        self._frame = _SHARED_FRAME or memoryview(bytearray(_FRAME_SIZE))
        self.client_eof = False  # the client shut down its sending side
        self.page_eof = False  # the page did (we shut down ours)
        self._unacked = 0  # bytes from the page written to the socket but not acknowledged yet
        self._write_blocked = False
        self._timer = None

    # -- asyncio's side --------------------------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Pause as soon as anything stays buffered, resume when all of it is in the kernel: resume_writing
        # is the moment to acknowledge the page's bytes.
        transport.set_write_buffer_limits(high=0, low=0)
        transport.pause_reading()
        self.bridge.accepted(self)

    def get_buffer(self, sizehint):
        start = frames.HEADER.size
        if self.state == LINGERING:
            return self._frame[start:]
        return self._frame[start:start + min(frames.MAX_CHUNK, self.window.available)]

    def buffer_updated(self, nbytes):
        if self.state != OPEN:
            return  # lingering: discard
        frames.HEADER.pack_into(self._frame, 0, frames.DATA, self.id)
        self.channel.send(bytes(self._frame[:frames.HEADER.size + nbytes]))
        self.window.sent(nbytes)
        self._update_reading()

    def eof_received(self):
        if self.state != OPEN:
            return False  # lingering: the client saw our side close and left too
        self.client_eof = True
        self.channel.send(frames.encode(frames.EOF, self.id))
        return not self.page_eof  # keep the sending side open until the page is done with it

    def pause_writing(self):
        self._write_blocked = True

    def resume_writing(self):
        self._write_blocked = False
        self._ack()

    def connection_lost(self, exc):
        if self._timer is not None:
            self._timer.cancel()
        if self.state == OPEN:
            self.channel.send(frames.encode(frames.CLOSE, self.id))
        self.state = CLOSED
        self.bridge.forget(self)

    # -- the page's side -------------------------------------------------------------------------------

    def wait_for_channel(self, seconds):
        self._timer = asyncio.get_running_loop().call_later(seconds, self.abort)

    def attach(self, channel):
        """Bridge the connection to ``channel``: announce it, then start reading."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.channel = channel
        self.state = OPEN
        peer = self.transport.get_extra_info("peername")
        local = self.transport.get_extra_info("sockname")
        channel.send(frames.open_frame(self.id, peer[:2], local[:2]))
        self._update_reading()

    def page_data(self, payload):
        if self.page_eof or self.transport.is_closing():
            return
        self.transport.write(payload)
        self._unacked += len(payload)
        if self._unacked > frames.WINDOW:
            raise frames.FrameError(f"the page overran the window of connection {self.id}")
        if not self._write_blocked:
            self._ack()

    def page_ack(self, count):
        self.window.acked(count)
        self._update_reading()

    def page_shutdown(self):
        """The page's ``EOF``: shut down our sending side (after what is buffered)."""
        if self.page_eof or self.transport.is_closing():
            return
        self.page_eof = True
        self.transport.write_eof()
        if self.client_eof:
            self.transport.close()

    def page_close(self):
        """The page's ``CLOSE``: flush, shut down our side, discard what the client still sends."""
        self.state = LINGERING
        self.bridge.forget(self)
        if self.client_eof:
            self.transport.close()
            return
        if not self.page_eof:
            self.transport.write_eof()
        self.transport.resume_reading()
        self._timer = asyncio.get_running_loop().call_later(LINGER, self.abort)

    def abort(self):
        if self.transport is not None:
            self.transport.abort()

    def _ack(self):
        if self._unacked and self.state == OPEN:
            self.channel.send(frames.ack_frame(self.id, self._unacked))
        self._unacked = 0

    def _update_reading(self):
        if self.state == OPEN and self.window.open and not self.client_eof:
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()


class PageSocket:
    """The page's WebSocket: frames out through one sender task, frames in dispatched as they come."""

    def __init__(self, websocket, bridge):
        self.websocket = websocket
        self.bridge = bridge
        self.closed = False
        self._outbox = []
        self._ready = asyncio.Event()

    def send(self, message):
        """Queue one frame (bytes). Its connection's window bounds how much DATA can queue up."""
        if not self.closed:
            self._outbox.append(message)
            self._ready.set()

    async def run(self):
        """Serve the channel until it closes (or is replaced)."""
        receiver = asyncio.create_task(self._receive())
        sender = asyncio.create_task(self._send())
        try:
            await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.closed = True
            for task in (receiver, sender):
                task.cancel()
            for result in await asyncio.gather(receiver, sender, return_exceptions=True):
                if isinstance(result, frames.FrameError):
                    log.warning("closing the channel: %s", result)
                    await self.websocket.close(1002, str(result)[:120])
                elif isinstance(result, Exception):
                    log.error("the channel failed", exc_info=result)

    async def close(self, code=1000, reason=""):
        self.closed = True
        await self.websocket.close(code, reason)

    async def _receive(self):
        try:
            async for message in self.websocket:
                if isinstance(message, str):
                    raise frames.FrameError("a text message on the byte channel")
                self.bridge.frame_received(frames.decode(message), self)
        except ConnectionClosed:
            pass

    async def _send(self):
        websocket = self.websocket
        try:
            while True:
                if not self._outbox:
                    self._ready.clear()
                    await self._ready.wait()
                batch, self._outbox = self._outbox, []
                for message in batch:
                    await websocket.send(message)
        except ConnectionClosed:
            pass


def allowed_origin(args):
    """Which WebSocket ``Origin`` may use the channel, from the arguments the browser passed.

    Chromium-family browsers pass the caller's origin, ``chrome-extension://ID/`` (the ``Origin`` header has
    no trailing slash). Firefox passes the host manifest's path and the extension's id; its extension
    pages have a random per-install origin (``moz-extension://UUID``), so any such origin is allowed and the
    token does the rest. Run by hand without arguments: no check (``None``).
    """
    if not args:
        return None
    first = args[0]
    if "://" in first:
        return re.compile(re.escape(first.rstrip("/")))
    return re.compile(r"moz-extension://[0-9a-fA-F-]+")


def lan_addresses():
    """This machine's non-loopback IPv4 addresses, for the URLs peers should use (no DNS, no traffic)."""
    found = []
    if sys.platform.startswith("linux"):
        import fcntl
        import struct

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            for _, name in socket.if_nameindex():
                try:  # SIOCGIFADDR: the interface's IPv4 address
                    packed = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))
                except OSError:
                    continue
                found.append(socket.inet_ntoa(packed[20:24]))
    else:  # the source address of a route to a documentation address (a UDP connect sends nothing)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.connect(("192.0.2.1", 9))
                found.append(probe.getsockname()[0])
        except OSError:
            pass
    return [address for address in dict.fromkeys(found) if not address.startswith("127.")]


def _bind(host, port):
    """A listening TCP socket (raises ``OSError``)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE)[0]
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP.
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class Bridge:
    """The bridge's state: the TCP listener, its connections, the channel's server and its one client."""

    def __init__(self, origin=None, channel_wait=CHANNEL_WAIT, notify=None):
        self.origin = origin
        self.notify = notify  # sends a message the page did not ask for (the peers found)
        self.discovery = None
        self.channel_wait = channel_wait
        self.listener = None
        self.connections = {}
        self.channel = None
        self._channel_server = None
        self._channel_url = None
        self._token = None
        self._next_id = 1
        self._tasks = set()
        self._handlers = {"listen": self.listen, "stop": self.stop, "ping": self.ping,
                          "announce": self.announce, "peers": self.peers}

    async def handle(self, message):
        """The answer to one control message."""
        if not isinstance(message, dict) or message.get("type") not in self._handlers:
            kind = message.get("type") if isinstance(message, dict) else type(message).__name__
            answer = _error("bad_request", f"unknown message {kind!r}")
        else:
            try:
                answer = await self._handlers[message["type"]](message)
            except (TypeError, ValueError) as error:
                answer = _error("bad_request", str(error))
        if isinstance(message, dict) and "id" in message:
            answer["id"] = message["id"]
        return answer

    # -- control ---------------------------------------------------------------------------------------

    async def listen(self, message):
        host = message.get("host", "127.0.0.1")
        port = message.get("port", DEFAULT_PORT)
        if not isinstance(host, str) or not isinstance(port, int) or isinstance(port, bool) or not (
                0 <= port <= 65535):
            raise ValueError("listen takes a host (string) and a port (0-65535)")
        self._close_listener()
        await self._stop_discovery()
        try:
            sock = _bind(host, port)
        except OSError as error:
            return _error("listen_failed", f"cannot listen on {host}:{port}: {error.strerror or error}")
        loop = asyncio.get_running_loop()
        self.listener = await loop.create_server(lambda: Connection(self), sock=sock, backlog=BACKLOG)
        if self._channel_server is None:
            await self._open_channel_server()
        bound = sock.getsockname()
        log.info("listening on %s:%s", bound[0], bound[1])
        addresses = lan_addresses() if bound[0] in ("0.0.0.0", "::") else [bound[0]]
        return {"type": "listening", "host": bound[0], "port": bound[1], "channel": self._channel_url,
                "addresses": addresses}

    async def stop(self, message):
        self._close_listener()
        await self._stop_discovery()
        await self._close_channel_server()
        return {"type": "stopped"}

    async def ping(self, message):
        return {"type": "pong", "connections": len(self.connections), "channel": self.channel is not None,
                "listening": self.listener is not None}

    async def announce(self, message):
        uuid, name, auth = message.get("uuid"), message.get("name"), message.get("auth", True)
        if not isinstance(uuid, str) or not uuid or not isinstance(name, (str, type(None))):
            raise ValueError("announce takes the server's uuid (a string) and a display name")
        if self.listener is None:
            return _error("not_listening", "announce after listen: there is nothing to announce yet")
        from .. import discovery

        host, port = self.listener.sockets[0].getsockname()[:2]
        reason = discovery.announce_reason(host)
        if reason:
            return {"type": "announced", "instance": None, "reason": f"not announced on the LAN: {reason}"}
        if self.discovery is None:
            self.discovery = discovery.Discovery(on_change=self._peers_changed)
            self.discovery.browse()
        addresses = None if host in ("0.0.0.0", "::") else [host]
        instance = await self.discovery.announce(uuid=uuid, name=name, port=port, kind="browser",
                                                 auth=bool(auth), addresses=addresses)
        log.info("announced %r on the LAN", instance)
        return {"type": "announced", "instance": instance}

    async def peers(self, message):
        found = self.discovery.peers() if self.discovery is not None else []
        return {"type": "peers", "peers": [peer.to_json() for peer in found]}

    def _peers_changed(self, peers):
        if self.notify is not None:
            self.notify({"type": "peers", "peers": [peer.to_json() for peer in peers]})

    async def _stop_discovery(self):
        found, self.discovery = self.discovery, None
        if found is not None:
            await found.close()
            self._peers_changed([])

    async def close(self):
        """Close everything (the browser closed our stdin)."""
        self._close_listener()
        await self._stop_discovery()
        await self._close_channel_server()

    def _close_listener(self):
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for conn in list(self.connections.values()):
            conn.abort()

    async def _open_channel_server(self):
        self._token = secrets.token_urlsafe(32)
        self._channel_server = await serve(
            self._serve_channel, "127.0.0.1", 0, process_request=self._check_handshake, compression=None,
            max_size=CHANNEL_MAX_SIZE, write_limit=CHANNEL_WRITE_LIMIT, ping_interval=None, close_timeout=1,
            server_header=None)
        port = self._channel_server.sockets[0].getsockname()[1]
        self._channel_url = f"ws://127.0.0.1:{port}{CHANNEL_PATH}{self._token}"

    async def _close_channel_server(self):
        server, self._channel_server = self._channel_server, None
        self._channel_url = self._token = None
        if server is None:
            return
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), 1.0)
        except asyncio.TimeoutError:
            log.warning("the channel did not close within a second")

    # -- the channel -----------------------------------------------------------------------------------

    def _check_handshake(self, connection, request):
        path = request.path
        if not path.startswith(CHANNEL_PATH):
            return connection.respond(404, "Not Found\n")
        token = path[len(CHANNEL_PATH):].encode()
        if self._token is None or not secrets.compare_digest(token, self._token.encode()):
            log.warning("channel handshake with a wrong token refused")
            return connection.respond(403, "Forbidden\n")
        if self.origin is not None:
            origins = request.headers.get_all("Origin")
            if len(origins) != 1 or not self.origin.fullmatch(origins[0]):
                log.warning("channel handshake from origin %r refused", origins)
                return connection.respond(403, "Forbidden\n")
        return None

    async def _serve_channel(self, websocket):
        old, channel = self.channel, PageSocket(websocket, self)
        self.channel = channel
        if old is not None:
            log.info("a new channel client replaces the old one")
            self._drop_connections(old)
        for conn in list(self.connections.values()):
            if conn.state == WAITING:
                conn.attach(channel)
        if old is not None:  # in the background: the new channel's frames must not wait for it
            closing = asyncio.create_task(old.close(1000, "replaced by a newer channel"))
            self._tasks.add(closing)
            closing.add_done_callback(self._tasks.discard)
        try:
            await channel.run()
        finally:
            if self.channel is channel:
                self.channel = None
            self._drop_connections(channel)

    def _drop_connections(self, channel):
        channel.closed = True
        for conn in list(self.connections.values()):
            if conn.channel is channel:
                conn.abort()

    def frame_received(self, frame, channel):
        """Dispatch one frame from the page (``FrameError`` breaks the channel)."""
        if frame.kind == frames.OPEN:
            raise frames.FrameError("the page cannot open connections")
        conn = self.connections.get(frame.conn)
        if conn is None or conn.channel is not channel or conn.state != OPEN:
            return  # it crossed our CLOSE on the wire
        if frame.kind == frames.DATA:
            conn.page_data(frame.payload)
        elif frame.kind == frames.ACK:
            conn.page_ack(frame.acked())
        elif frame.kind == frames.EOF:
            conn.page_shutdown()
        else:
            conn.page_close()

    # -- connections -----------------------------------------------------------------------------------

    def accepted(self, conn):
        conn.id = self._next_id
        self._next_id = self._next_id % 0xFFFFFFFF + 1
        self.connections[conn.id] = conn
        if self.channel is not None:
            conn.attach(self.channel)
        else:
            conn.wait_for_channel(self.channel_wait)

    def forget(self, conn):
        if self.connections.get(conn.id) is conn:
            del self.connections[conn.id]


def _error(error, reason):
    return {"type": "error", "error": error, "reason": reason}


class _Output(asyncio.Protocol):
    """stdout, as an asyncio write pipe; ``lost`` is set when the browser stops reading."""

    def __init__(self):
        self.lost = asyncio.Event()

    def connection_lost(self, exc):
        self.lost.set()


async def _read_control(reader, bridge, write):
    """Answer control messages from stdin until it ends (the page is gone)."""
    decoder = nativemessaging.Decoder()
    while True:
        try:
            message = decoder.next_message()
        except nativemessaging.NativeMessagingError as error:
            if decoder.broken:
                log.error("native messaging input is broken: %s", error)
                return
            write(_error("bad_request", str(error)))
            continue
        if message is nativemessaging.NEED_DATA:
            decoder.receive_data(await reader.read(1 << 16))
        elif message is nativemessaging.CLOSED:
            return
        else:
            write(await bridge.handle(message))


async def run(origin=None, channel_wait=CHANNEL_WAIT, stdin_fd=0, stdout_fd=1):
    """Run the bridge on the given pipes until the browser closes ``stdin_fd``."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 16)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                 os.fdopen(stdin_fd, "rb", buffering=0))
    output, out = await loop.connect_write_pipe(_Output, os.fdopen(stdout_fd, "wb", buffering=0))

    def write(message):
        output.write(nativemessaging.encode(message))

    bridge = Bridge(origin, channel_wait, notify=write)
    control = asyncio.create_task(_read_control(reader, bridge, write))
    lost = asyncio.create_task(out.lost.wait())
    try:
        await asyncio.wait({control, lost}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (control, lost):
            task.cancel()
        await bridge.close()
        output.close()
    log.info("the browser closed the native messaging port; bye")


def main(argv=None, log_level=None):
    """``python -m browsercouch.bridge [ORIGIN | MANIFEST EXTENSION_ID] [--channel-wait SECONDS]``.

    Logs to stderr at ``log_level`` (default: ``$BROWSERCOUCH_BRIDGE_LOG``, else warning).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    channel_wait = CHANNEL_WAIT
    if "--channel-wait" in args:
        at = args.index("--channel-wait")
        channel_wait = float(args[at + 1])
        del args[at:at + 2]
    # Chrome on Windows adds --parent-window=N; other flags are not ours either.
    args = [arg for arg in args if not arg.startswith("--")]
    logging.basicConfig(stream=sys.stderr, format="browsercouch-bridge: %(levelname)s %(message)s",
                        level=(log_level or os.environ.get("BROWSERCOUCH_BRIDGE_LOG", "warning")).upper())
    # stdout is the native messaging pipe: keep our own handle on it and point fd 1 at stderr, so that a
    # stray print (ours or a library's) cannot corrupt the stream.
    stdout_fd = os.dup(1)
    os.dup2(2, 1)
    origin = allowed_origin(args)
    if origin is None:
        log.warning("no caller origin given: the channel accepts any Origin (token only)")
    asyncio.run(run(origin, channel_wait, 0, stdout_fd))
    return 0
