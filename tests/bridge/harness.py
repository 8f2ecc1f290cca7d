"""The socket bridge under test, and the page it serves, played by the test.

- ``BridgeProcess``: ``python -m browsercouch.bridge ORIGIN`` as a subprocess; the test is the browser and
  speaks native messaging on its stdin/stdout (``request``), and closes stdin to say the page is gone.
- ``Page``: the serving page, in a thread with its own event loop: a WebSocket client of the channel that
  decodes frames, keeps the flow-control windows (acknowledging what it consumed, waiting for the
  bridge's ``ACK`` before sending more) and serves each bridged connection with a small app: canned HTTP
  answers through h11 (``http_app``) or an echo (``echo_app``). It records every breach of the frame
  protocol in ``errors`` and the most un-acknowledged bytes it ever held per connection.

Everything is bounded: every wait has a deadline, and only 127.0.0.1 is used.
"""

import asyncio
import collections
import hashlib
import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time

import h11
from websockets.asyncio.client import connect

from browsercouch import frames
from browsercouch.bridge import EXTENSION_ID

ORIGIN = f"chrome-extension://{EXTENSION_ID}"
TIMEOUT = 10.0
# The body that /download/N streams: N bytes of this pattern, repeated.
PATTERN = bytes(range(256)) * 256


def pattern_digest(size):
    digest = hashlib.sha256()
    for start in range(0, size, len(PATTERN)):
        digest.update(PATTERN[:min(len(PATTERN), size - start)])
    return digest.hexdigest()


BRIDGE = [sys.executable, "-m", "browsercouch.bridge"]


class BridgeProcess:
    """``command ORIGIN *args`` (the browser passes the caller's origin with a trailing slash)."""

    def __init__(self, *args, origin=ORIGIN + "/", command=BRIDGE, **popen):
        argv = list(command) + ([origin] if origin else []) + list(args)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, **popen)
        self.channel = None

    def send(self, message):
        body = json.dumps(message).encode()
        self.proc.stdin.write(struct.pack("=I", len(body)) + body)
        self.proc.stdin.flush()

    def receive(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        (length,) = struct.unpack("=I", self._read(4, deadline))
        return json.loads(self._read(length, deadline))

    def request(self, message, timeout=TIMEOUT):
        self.send(message)
        return self.receive(timeout)

    def listen(self, port=0, host="127.0.0.1"):
        answer = self.request({"type": "listen", "host": host, "port": port})
        assert answer["type"] == "listening", answer
        self.channel = answer["channel"]
        return answer["port"]

    def _read(self, count, deadline):
        data = b""
        fd = self.proc.stdout.fileno()
        while len(data) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError(f"the bridge sent {len(data)} of {count} bytes")
            chunk = os.read(fd, count - len(data))
            if not chunk:
                raise EOFError("the bridge closed its stdout")
            data += chunk
        return data

    def close_stdin(self):
        if not self.proc.stdin.closed:
            self.proc.stdin.close()

    def stop(self, timeout=5):
        self.close_stdin()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)
            raise


class PageConn:
    """One bridged connection, as the page sees it (lives on the page's loop)."""

    def __init__(self, page, conn, peer, local):
        self.page = page
        self.id = conn
        self.peer, self.local = peer, local
        self.inbox = collections.deque()
        self.readable = asyncio.Event()
        self.window = frames.SendWindow()
        self.writable = asyncio.Event()
        self.writable.set()
        self.received = 0
        self.unacked = 0  # received from the bridge, not acknowledged yet
        self.max_unacked = 0
        self.eof = False  # the bridge's EOF: the client shut down its side
        self.eof_seen = asyncio.Event()
        self.eof_sent = False
        self.gone = False  # CLOSE either way
        self.closed_by_bridge = threading.Event()
        self.late = []  # bytes received after our EOF (echo_app)

    # -- frames from the bridge ------------------------------------------------------------------------

    def data(self, payload):
        if self.eof:
            self.page.error(f"conn {self.id}: DATA after EOF")
        self.received += len(payload)
        self.unacked += len(payload)
        self.max_unacked = max(self.max_unacked, self.unacked)
        self.inbox.append(payload)
        self.readable.set()
        if self.page.stingy and self.unacked >= frames.WINDOW:
            self.ack(self.unacked)

    def got_eof(self):
        self.eof = True
        self.eof_seen.set()
        self.readable.set()

    def acked(self, count):
        try:
            self.window.acked(count)
        except frames.FrameError as error:
            self.page.error(f"conn {self.id}: {error}")
        if self.window.open:
            self.writable.set()

    def lost(self):
        self.gone = True
        self.closed_by_bridge.set()
        self.readable.set()
        self.writable.set()

    # -- the app's byte stream -------------------------------------------------------------------------

    def ack(self, count):
        self.unacked -= count
        self.page.send(frames.ack_frame(self.id, count))

    async def read(self):
        """The next bytes from the client (acknowledged now, unless the page is stingy); b"" at EOF."""
        while not self.inbox:
            if self.eof or self.gone:
                return b""
            self.readable.clear()
            await self.readable.wait()
        chunk = self.inbox.popleft()
        if not self.page.stingy and not self.gone:
            self.ack(len(chunk))
        return chunk

    async def write(self, data):
        view = memoryview(data)
        for start in range(0, len(view), frames.MAX_CHUNK):
            while not self.window.open and not self.gone:
                self.writable.clear()
                await self.writable.wait()
            if self.gone:
                raise ConnectionResetError(f"conn {self.id} is gone")
            chunk = view[start:start + frames.MAX_CHUNK]
            self.window.sent(len(chunk))
            self.page.send(frames.encode(frames.DATA, self.id, chunk))

    def shutdown(self):
        if not (self.eof_sent or self.gone):
            self.eof_sent = True
            self.page.send(frames.encode(frames.EOF, self.id))

    def close(self):
        if not self.gone:
            self.gone = True
            self.page.send(frames.encode(frames.CLOSE, self.id))


async def http_app(conn):
    """Canned HTTP answers: ``/hello``, ``/upload`` (size and sha256 of the body), ``/download/N`` (N bytes
    of ``PATTERN``), ``/after-eof`` (answers only once the client shut down its side), ``/reject`` (413 at
    once, without reading the body, and close)."""
    server = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
    request, digest, size = None, None, 0
    while True:
        event = server.next_event()
        if event is h11.NEED_DATA:
            server.receive_data(await conn.read())
        elif isinstance(event, h11.Request) and event.target == b"/reject":
            await conn.write(server.send(h11.Response(status_code=413, headers=[
                ("Content-Length", "0"), ("Connection", "close")])) + server.send(h11.EndOfMessage()))
            break
        elif isinstance(event, h11.Request):
            request, digest, size = event, hashlib.sha256(), 0
        elif isinstance(event, h11.Data):
            digest.update(event.data)
            size += len(event.data)
        elif isinstance(event, h11.EndOfMessage):
            await _answer(conn, server, request, size, digest)
            if server.our_state is not h11.DONE or server.their_state is not h11.DONE:
                break
            server.start_next_cycle()
        else:  # ConnectionClosed
            break
    conn.close()


async def _answer(conn, server, request, size, digest):
    path = request.target.decode()
    if path.startswith("/download/"):
        length = int(path.rsplit("/", 1)[1])
        await _respond_head(conn, server, length)
        for start in range(0, length, len(PATTERN)):
            await conn.write(server.send(h11.Data(data=PATTERN[:min(len(PATTERN), length - start)])))
        await conn.write(server.send(h11.EndOfMessage()))
        return
    if path == "/after-eof":
        await asyncio.wait_for(conn.eof_seen.wait(), TIMEOUT)
    if path == "/upload":
        body = json.dumps({"size": size, "sha256": digest.hexdigest(), "conn": conn.id}).encode()
    else:
        body = f"hello {conn.id}".encode()
    await _respond_head(conn, server, len(body))
    await conn.write(server.send(h11.Data(data=body)) + server.send(h11.EndOfMessage()))


async def _respond_head(conn, server, length):
    await conn.write(server.send(h11.Response(status_code=200, headers=[("Content-Length", str(length))])))


async def echo_app(conn):
    """Echoes what it reads; after ``EOF\\n`` it shuts down its side and keeps what still comes in ``late``;
    at the client's EOF it shuts down its side too, and waits for the bridge's ``CLOSE``."""
    while True:
        data = await conn.read()
        if not data:
            break
        if conn.eof_sent:
            conn.late.append(data)
            continue
        await conn.write(data)
        if data.endswith(b"EOF\n"):
            conn.shutdown()
    conn.shutdown()


class Page:
    """The serving page: connects to ``url`` (the channel) with ``origin`` and serves bridged connections
    with ``app``; ``stingy``: acknowledge a connection's bytes only when the window is exactly full."""

    def __init__(self, url, origin=ORIGIN, app=http_app, stingy=False):
        self.url, self.origin, self.app, self.stingy = url, origin, app, stingy
        self.conns = {}
        self.opened = []
        self.errors = []
        self.closed = threading.Event()
        self.close_code = None
        self._outbox = collections.deque()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._tasks = set()
        try:
            self._call(self._connect())
        except BaseException:
            self.stop()
            raise

    def _call(self, coroutine, timeout=TIMEOUT):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _connect(self):
        self._ready = asyncio.Event()
        self.ws = await connect(self.url, origin=self.origin, compression=None, max_size=None,
                                open_timeout=TIMEOUT, ping_interval=None)
        self._spawn(self._receive())
        self._spawn(self._send())

    def _spawn(self, coroutine):
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _receive(self):
        try:
            async for message in self.ws:
                self._frame(frames.decode(message))
        except Exception as error:  # a closed channel ends the loop; anything else is a failure
            if not type(error).__name__.startswith("ConnectionClosed"):
                self.error(f"receive loop: {error!r}")
        finally:
            self.close_code = self.ws.close_code
            for conn in self.conns.values():
                conn.lost()
            self.closed.set()

    def _frame(self, frame):
        if frame.kind == frames.OPEN:
            if frame.conn in self.conns:
                self.error(f"conn {frame.conn} opened twice")
            peer, local = frame.open_info()
            conn = self.conns[frame.conn] = PageConn(self, frame.conn, peer, local)
            self.opened.append(frame.conn)
            self._spawn(self._serve(conn))
            return
        conn = self.conns.get(frame.conn)
        if conn is None:
            self.error(f"frame {frame} for a connection never opened")
        elif conn.closed_by_bridge.is_set():
            self.error(f"frame {frame} after the bridge's CLOSE")
        elif frame.kind == frames.DATA:
            conn.data(frame.payload)
        elif frame.kind == frames.EOF:
            conn.got_eof()
        elif frame.kind == frames.ACK:
            conn.acked(frame.acked())
        else:
            conn.lost()

    async def _serve(self, conn):
        try:
            await self.app(conn)
        except (ConnectionResetError, h11.RemoteProtocolError):  # the client left mid-request
            conn.close()
        except Exception as error:
            self.error(f"conn {conn.id}: app failed: {error!r}")
            conn.close()

    def send(self, message):
        self._outbox.append(message)
        self._ready.set()

    async def _send(self):
        while True:
            while not self._outbox:
                self._ready.clear()
                await self._ready.wait()
            try:
                await self.ws.send(self._outbox.popleft())
            except Exception:
                return

    def error(self, text):
        self.errors.append(text)

    def max_unacked(self):
        return max((conn.max_unacked for conn in self.conns.values()), default=0)

    def conn(self, conn_id):
        return self.conns[conn_id]

    def run(self, function, timeout=TIMEOUT):
        """Call ``function()`` on the page's loop and return its result."""

        async def call():
            return function()

        return self._call(call(), timeout)

    async def _cancel_tasks(self):
        tasks = [task for task in self._tasks if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self):
        if self._thread.is_alive():
            if getattr(self, "ws", None) is not None:
                try:
                    self._call(self.ws.close(), 5)
                except Exception:
                    pass
            self._call(self._cancel_tasks(), 5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()


def wait_until(predicate, timeout=TIMEOUT, message="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {message}")
        time.sleep(0.005)


def tcp(port, timeout=TIMEOUT):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_all(sock, timeout=TIMEOUT):
    """Everything until the peer's EOF (a reset counts as EOF); raises TimeoutError past ``timeout``."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def closed_by_peer(sock, timeout=TIMEOUT):
    """True once the peer closed ``sock`` (EOF or reset) within ``timeout``; discards data on the way."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not sock.recv(1 << 16):
                return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
    return False


def read_response(sock, timeout=TIMEOUT):
    """One HTTP response from a raw socket: ``(status, body)`` (needs Content-Length)."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    client.send(h11.EndOfMessage())
    sock.settimeout(timeout)
    status, body = None, []
    while True:
        event = client.next_event()
        if event is h11.NEED_DATA:
            client.receive_data(sock.recv(1 << 16))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body.append(event.data)
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return status, b"".join(body)
