"""The byte channel between the socket bridge and the serving page: frames, and the flow-control window.

It belongs to neither end, so it sits beside ``errors.py`` and imports nothing of browsercouch.

Sans-IO, like h11: bytes in, events out, no I/O. The bridge (``host.py``, CPython) and the page's Python
(``browsercouch.tab.channel``, Pyodide) both use it, over one WebSocket on 127.0.0.1 whose binary
messages are frames:

    kind (1 byte) | connection id (4 bytes, big-endian) | payload

``OPEN``  bridge -> page: a TCP client connected. Payload: JSON ``{"peer": [host, port], "local": [host,
          port]}``.
``DATA``  either way: bytes of the connection's stream.
``EOF``   either way: the sender will send no more DATA on it (TCP half-close: the client shut down its
          side, or the page asks the bridge to ``shutdown(SHUT_WR)``).
``CLOSE`` either way: the connection is gone (the client left) or must go (the page closes it). No frame
          for that id follows, except ``CLOSE`` crossing on the wire, which is ignored.
``ACK``   either way: the receiver consumed this many bytes of the connection's DATA (4-byte big-endian
          count): the sender's window (``SendWindow``) opens again.

Flow control: each side sends at most ``WINDOW`` bytes of DATA per connection that the other has not
acknowledged yet, so neither a slow TCP client nor a slow page makes the other side buffer without bound.
The bridge stops reading a TCP connection while its window is full; the page's writes wait.
"""

import json
import struct

__all__ = ["OPEN", "DATA", "EOF", "CLOSE", "ACK", "WINDOW", "MAX_CHUNK", "Frame", "FrameError", "encode",
           "decode", "open_frame", "ack_frame", "SendWindow"]

OPEN, DATA, EOF, CLOSE, ACK = 1, 2, 3, 4, 5
KINDS = frozenset({OPEN, DATA, EOF, CLOSE, ACK})
HEADER = struct.Struct("!BI")
COUNT = struct.Struct("!I")
# Bytes in flight per connection and direction: four frames, so the pipe stays full while the other side
# consumes one.
WINDOW = 2 << 20
# The largest DATA payload a side sends (bigger writes are split). Every WebSocket message costs the page
# an event and a call into Python: a 10 MB upload through the extension ran at ~67 MB/s in 64 KiB
# frames, ~85 in 256 KiB, ~100 in 512 KiB and no faster in 1 MiB (bench_extension, 2 CPUs).
MAX_CHUNK = 512 * 1024


class FrameError(ValueError):
    """Bytes that are not a frame: the channel is broken and must be closed."""


class Frame:
    __slots__ = ("kind", "conn", "payload")

    def __init__(self, kind, conn, payload=b""):
        self.kind = kind
        self.conn = conn
        self.payload = payload

    def __repr__(self):
        return f"<Frame {self.kind} conn={self.conn} {len(self.payload)} bytes>"

    def __eq__(self, other):
        return isinstance(other, Frame) and (self.kind, self.conn, self.payload) == (
            other.kind, other.conn, other.payload)

    def open_info(self):
        """An ``OPEN`` frame's ``(peer, local)`` addresses as tuples."""
        info = json.loads(self.payload)
        return tuple(info["peer"]), tuple(info["local"])

    def acked(self):
        """An ``ACK`` frame's byte count."""
        return COUNT.unpack(self.payload)[0]


def encode(kind, conn, payload=b""):
    return HEADER.pack(kind, conn) + bytes(payload)


def open_frame(conn, peer, local):
    return encode(OPEN, conn, json.dumps({"peer": list(peer), "local": list(local)}).encode())


def ack_frame(conn, count):
    return encode(ACK, conn, COUNT.pack(count))


def decode(message):
    """The ``Frame`` in one WebSocket message (bytes); ``FrameError`` if it is not one."""
    if len(message) < HEADER.size:
        raise FrameError(f"a frame of {len(message)} bytes is shorter than its header")
    kind, conn = HEADER.unpack_from(message)
    if kind not in KINDS:
        raise FrameError(f"unknown frame kind {kind}")
    payload = bytes(message[HEADER.size:])
    if kind == ACK and len(payload) != COUNT.size:
        raise FrameError("an ACK frame carries a 4-byte count")
    if kind == OPEN:
        try:
            info = json.loads(payload)
            tuple(info["peer"]), tuple(info["local"])
        except (ValueError, KeyError, TypeError) as error:
            raise FrameError(f"a bad OPEN frame: {error}") from None
    return Frame(kind, conn, payload)


class SendWindow:
    """How many DATA bytes one side may still send on one connection."""

    def __init__(self, size=WINDOW):
        self.size = size
        self.in_flight = 0

    @property
    def open(self):
        return self.in_flight < self.size

    @property
    def available(self):
        """How many more bytes may be sent now (the bridge reads at most this much from the socket)."""
        return max(self.size - self.in_flight, 0)

    def sent(self, count):
        self.in_flight += count

    def acked(self, count):
        if count > self.in_flight:
            raise FrameError(f"ACK of {count} bytes, but only {self.in_flight} are in flight")
        self.in_flight -= count
