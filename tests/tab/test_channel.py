"""``tab.channel``: the page's end of the bridge's byte channel, driven frame by frame as the bridge
drives it (``browsercouch/frames.py``), serving the real CouchDB app. Runs on CPython and inside Pyodide; the
real bridge process and real sockets are in ``tests/bridge``."""

import asyncio
import json

from helpers import async_test

from browsercouch import frames
from browsercouch.api import CouchApp
from browsercouch.store import Couch
from browsercouch.tab.channel import ACK_THRESHOLD, ChannelServer

PEER, LOCAL = ("127.0.0.1", 50000), ("127.0.0.1", 61984)


class Bridge:
    """The bridge's side in the test: sends frames to the channel and records what comes back."""

    def __init__(self, app, **options):
        self.received = []
        self.in_flight = {}  # conn -> DATA bytes the page sent that we have not acknowledged
        self.most_in_flight = 0
        self.channel = ChannelServer(app, self._record, **options)

    def _record(self, message):
        frame = frames.decode(message)
        self.received.append(frame)
        if frame.kind == frames.DATA:
            self.in_flight[frame.conn] = self.in_flight.get(frame.conn, 0) + len(frame.payload)
            self.most_in_flight = max(self.most_in_flight, self.in_flight[frame.conn])

    def open(self, conn, peer=PEER, local=LOCAL):
        self.channel.receive(frames.open_frame(conn, peer, local))

    def send(self, conn, data):
        self.channel.receive(frames.encode(frames.DATA, conn, data))

    def ack_all(self, conn):
        count, self.in_flight[conn] = self.in_flight.get(conn, 0), 0
        if count:
            self.channel.receive(frames.ack_frame(conn, count))

    def output(self, conn):
        return b"".join(f.payload for f in self.received if f.conn == conn and f.kind == frames.DATA)

    def kinds(self, conn):
        return [f.kind for f in self.received if f.conn == conn]

    async def until(self, check, timeout=10.0, ack=None):
        async with asyncio.timeout(timeout):
            while not check():
                if ack is not None:
                    self.ack_all(ack)
                await asyncio.sleep(0.005)


def request(method, path, body=b"", headers=()):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def responses(data):
    """``[(status, body bytes)]`` of the complete HTTP/1.1 responses in ``data`` (Content-Length framed)."""
    found = []
    while b"\r\n\r\n" in data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = next(int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length"))
        if len(rest) < length:
            break
        found.append((int(lines[0].split()[1]), rest[:length]))
        data = rest[length:]
    return found


@async_test
async def test_serves_keep_alive_requests_and_acknowledges_what_it_read():
    couch = Couch()
    bridge = Bridge(CouchApp(couch))
    bridge.open(7)
    sent = request("GET", "/") + request("PUT", "/db") + request("GET", "/db")
    bridge.send(7, sent)
    await bridge.until(lambda: len(responses(bridge.output(7))) == 3, ack=7)
    (s1, welcome), (s2, _), (s3, info) = responses(bridge.output(7))
    assert (s1, s2, s3) == (200, 201, 200)
    assert json.loads(welcome)["uuid"] == couch.uuid and json.loads(info)["db_name"] == "db"
    # Small requests need no ACK yet: fewer than ACK_THRESHOLD bytes stay unacknowledged, so the
    # bridge's window never stalls on them.
    acked = sum(f.acked() for f in bridge.received if f.kind == frames.ACK)
    assert acked <= len(sent) and len(sent) - acked < ACK_THRESHOLD
    stats = bridge.channel.stats()
    assert stats["connections"] == 1 and stats["requests"] == 3 and "PUT /db 201" in stats["log"][1]
    await bridge.channel.close()
    assert frames.CLOSE not in bridge.kinds(7) or bridge.kinds(7)[-1] == frames.CLOSE


@async_test
async def test_never_sends_more_than_the_window_before_an_ack():
    couch = Couch()
    couch.create_db("db").put({"_id": "big", "blob": "x" * (3 * frames.WINDOW)})
    bridge = Bridge(CouchApp(couch))
    bridge.open(1)
    bridge.send(1, request("GET", "/db/big"))
    await bridge.until(lambda: bridge.in_flight.get(1, 0) >= frames.WINDOW)
    await asyncio.sleep(0.05)
    assert bridge.in_flight[1] == frames.WINDOW  # stalled, waiting for the ACK
    await bridge.until(lambda: responses(bridge.output(1)), ack=1)
    assert json.loads(responses(bridge.output(1))[0][1])["blob"] == "x" * (3 * frames.WINDOW)
    assert bridge.most_in_flight <= frames.WINDOW
    await bridge.channel.close()


@async_test
async def test_acks_of_odd_sizes_lose_no_byte():
    """The bridge acknowledges what the socket took, in any amounts: the window then opens by odd sizes."""
    couch = Couch()
    couch.create_db("db").put({"_id": "big", "blob": "y" * (2 * frames.WINDOW)})
    bridge = Bridge(CouchApp(couch))
    bridge.open(1)
    bridge.send(1, request("GET", "/db/big"))
    async with asyncio.timeout(10):
        while not responses(bridge.output(1)):
            if bridge.in_flight.get(1):
                count = min(bridge.in_flight[1], 12_345)
                bridge.in_flight[1] -= count
                bridge.channel.receive(frames.ack_frame(1, count))
            await asyncio.sleep(0)
    assert json.loads(responses(bridge.output(1))[0][1])["blob"] == "y" * (2 * frames.WINDOW)
    assert bridge.most_in_flight <= frames.WINDOW
    await bridge.channel.close()


@async_test
async def test_a_large_upload_is_acknowledged_as_it_is_read():
    """Uploads larger than the window go through: the page acknowledges every ACK_THRESHOLD bytes."""
    bridge = Bridge(CouchApp(Couch()))
    bridge.open(4)
    bridge.send(4, request("PUT", "/db"))
    body = b"z" * (3 * frames.WINDOW)
    sent = request("PUT", "/db/doc/blob", body, ["Content-Type: application/octet-stream"])
    unacked, position = 0, 0
    async with asyncio.timeout(10):
        while len(responses(bridge.output(4))) < 2:
            for frame in bridge.received:
                if frame.kind == frames.ACK and frame.conn == 4:
                    unacked -= frame.acked()
            bridge.received = [f for f in bridge.received if f.kind != frames.ACK]
            while position < len(sent) and unacked < frames.WINDOW:  # the bridge keeps to its window
                chunk = sent[position:position + frames.MAX_CHUNK]
                bridge.send(4, chunk)
                position, unacked = position + len(chunk), unacked + len(chunk)
            await asyncio.sleep(0)
    assert [status for status, _ in responses(bridge.output(4))] == [201, 201]
    await bridge.channel.close()


@async_test
async def test_a_half_closed_client_still_gets_its_answer():
    bridge = Bridge(CouchApp(Couch()))
    bridge.open(3)
    bridge.send(3, request("GET", "/"))
    bridge.channel.receive(frames.encode(frames.EOF, 3))
    await bridge.until(lambda: frames.CLOSE in bridge.kinds(3), ack=3)
    assert responses(bridge.output(3))[0][0] == 200
    assert bridge.channel.stats()["connections"] == 0


@async_test
async def test_a_client_gone_mid_response_ends_its_connection_only():
    couch = Couch()
    couch.create_db("db").put({"_id": "big", "blob": "x" * (3 * frames.WINDOW)})
    bridge = Bridge(CouchApp(couch))
    bridge.open(1)
    bridge.open(2)
    bridge.send(1, request("GET", "/db/big"))
    await bridge.until(lambda: bridge.in_flight.get(1, 0) >= frames.WINDOW)
    bridge.channel.receive(frames.encode(frames.CLOSE, 1))
    bridge.send(2, request("GET", "/"))
    await bridge.until(lambda: responses(bridge.output(2)), ack=2)
    assert bridge.channel.stats()["connections"] == 1
    await bridge.channel.close()
    assert bridge.channel.stats()["connections"] == 0


@async_test
async def test_refused_connections_are_closed_at_once():
    bridge = Bridge(CouchApp(Couch()), accept=lambda peer, local: local[0] == "127.0.0.1")
    bridge.open(5, local=("192.168.1.20", 61984))
    assert bridge.kinds(5) == [frames.CLOSE]
    bridge.send(5, request("GET", "/"))  # crossed our CLOSE on the wire: ignored
    await asyncio.sleep(0.05)
    assert bridge.kinds(5) == [frames.CLOSE] and bridge.channel.stats()["connections_total"] == 0


def test_frames_that_are_not_frames_are_refused():
    bridge = Bridge(CouchApp(Couch()))
    for bad in (b"\x02\x00", b"\x09\x00\x00\x00\x01", frames.encode(frames.ACK, 1, b"\x01"),
                frames.encode(frames.OPEN, 1, b"{}")):
        try:
            bridge.channel.receive(bad)
        except frames.FrameError:
            continue
        raise AssertionError(f"{bad!r} was taken for a frame")
