"""Raw HTTP/1.1 over blocking loopback sockets, for tests that send what ordinary clients refuse to send.

``exchange()`` frames one request with h11 (so it is valid HTTP, whatever its method, target, headers and
body say) and parses the answer strictly with h11: a response that is not well-formed HTTP raises
``h11.RemoteProtocolError``. ``send_raw()`` writes arbitrary bytes, half-closes, and parses every
response the server sent back before it closed. Only 127.0.0.1 is ever a target.
"""

import socket
import time
from dataclasses import dataclass, field

import h11

HOST = "127.0.0.1"
# Seconds a socket read may take before the server counts as silent.
READ_TIMEOUT = 3.0
# Seconds ``exchange()`` reads a response body at most: a feed sending heartbeats is never silent, so it
# is cut off here and returned as incomplete.
BODY_CUTOFF = 1.5


@dataclass
class Reply:
    """One response: ``status``, ``headers`` (lower-case name -> str, last wins), ``body``; ``complete`` is
    False when the body was still streaming when the read timed out; ``method`` is the request's."""

    status: int
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    complete: bool = True
    method: bytes = b"GET"

    def header(self, name):
        return self.headers.get(name.lower())


def _connect(port, timeout, source=None):
    sock = socket.create_connection((HOST, port), timeout=timeout,
                                    source_address=(source, 0) if source else None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def frame(method, target, headers, body):
    """The request's bytes as h11 writes them; raises ``h11.LocalProtocolError`` for invalid parts."""
    client = h11.Connection(h11.CLIENT)
    headers = [(b"host", b"127.0.0.1"), *headers]
    if body is not None and not any(name.lower() == b"content-length" for name, _ in headers):
        headers.append((b"content-length", b"%d" % len(body)))
    data = client.send(h11.Request(method=method, target=target, headers=headers))
    if body:
        data += client.send(h11.Data(data=body))
    return data + client.send(h11.EndOfMessage())


def exchange(port, method, target, headers=(), body=None, *, timeout=READ_TIMEOUT, source=None):
    """Send one request on a new connection (from the loopback address ``source``, if given) and return
    its ``Reply``.

    Raises ``h11.LocalProtocolError`` if the request cannot be framed, ``h11.RemoteProtocolError`` for a
    malformed answer, ``TimeoutError`` when no response head arrives in time, and ``ConnectionError``
    when the server closes before answering. A body still streaming after ``BODY_CUTOFF`` seconds (or
    ``timeout`` seconds without a byte) is returned as it is, with ``complete`` False.
    """
    data = frame(method, target, headers, body)
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target=target, headers=[(b"host", b"127.0.0.1")]))
    with _connect(port, timeout, source) as sock:
        sock.sendall(data)
        return _read_reply(sock, client, timeout)


def _read_reply(sock, client, timeout):
    reply, deadline = None, float("inf")
    while True:
        event = client.next_event()
        if event is h11.NEED_DATA:
            chunk = _recv(sock, timeout, deadline)
            if chunk is None:  # timed out
                if reply is None:
                    raise TimeoutError("no response head")
                reply.complete = False
                return reply
            client.receive_data(chunk)
        elif type(event) is h11.Response:
            reply = Reply(event.status_code, _headers(event))
            deadline = time.monotonic() + BODY_CUTOFF
        elif type(event) is h11.Data:
            reply.body += bytes(event.data)
        elif type(event) is h11.EndOfMessage:
            return reply
        elif type(event) is h11.ConnectionClosed:
            raise ConnectionError("closed before a response")


def _recv(sock, timeout, deadline):
    """The next bytes (``b""`` at EOF or reset), or ``None`` when ``timeout`` seconds passed without any,
    or ``deadline`` (a ``time.monotonic()``) passed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    sock.settimeout(min(timeout, remaining))
    try:
        return sock.recv(65536)
    except (TimeoutError, socket.timeout):
        return None
    except ConnectionResetError:
        return b""


def _headers(event):
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in event.headers}


def send_raw(port, data, *, timeout=READ_TIMEOUT):
    """Write ``data``, half-close, and return every ``Reply`` the server sent before closing.

    Each response is parsed as the answer to the request the server saw (``request_methods``). Raises
    ``h11.RemoteProtocolError`` for bytes that are not well-formed responses, and ``TimeoutError`` when
    the server neither answers nor closes within ``timeout`` after our EOF.
    """
    received = b""
    with _connect(port, timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed before reading everything: fine, read what it said
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            except (TimeoutError, socket.timeout):
                raise TimeoutError(f"server neither answered nor closed; got {received[:200]!r}") from None
            if not chunk:
                break
            received += chunk
    return parse_responses(received, request_methods(data))


def request_methods(data):
    """The methods of the requests in ``data``, in order, as an h11 server parses them (so that the
    answer to a HEAD is read without a body)."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(data)
    server.receive_data(b"")
    methods = []
    try:
        while True:
            event = server.next_event()
            if type(event) is h11.Request:
                methods.append(event.method)
            elif type(event) is h11.EndOfMessage:
                server.send(h11.Response(status_code=200, headers=[(b"content-length", b"0")]))
                server.send(h11.EndOfMessage())
                server.start_next_cycle()
            elif type(event) is not h11.Data:
                return methods
    except h11.ProtocolError:
        return methods


def parse_responses(data, methods=()):
    """Parse back-to-back responses to requests of ``methods`` (GET where unknown); raises
    ``h11.RemoteProtocolError`` for anything that is not a complete, well-formed response.

    A server that refuses a request head as too long never learns its method, and answers a HEAD with a
    body: a response that does not parse as the answer to one method is tried as the other's.
    """
    replies, methods = [], list(methods)
    while data:
        method = methods.pop(0) if methods else b"GET"
        try:
            reply, data = _parse_one(data, method)
        except h11.RemoteProtocolError:
            reply, data = _parse_one(data, b"GET" if method == b"HEAD" else b"HEAD")
        replies.append(reply)
    return replies


def _parse_one(data, method):
    """``(reply, rest)``: the first response in ``data`` as the answer to ``method``."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target="/", headers=[(b"host", b"x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    client.receive_data(b"")
    reply = None
    while True:
        event = client.next_event()
        if type(event) is h11.Response:
            reply = Reply(event.status_code, _headers(event), method=method)
        elif type(event) is h11.Data:
            reply.body += bytes(event.data)
        elif type(event) is h11.EndOfMessage:
            rest = client.trailing_data[0]
            if rest and not rest.startswith(b"HTTP/"):
                raise h11.RemoteProtocolError("bytes after the response are not a response", 400)
            return reply, rest
        elif type(event) is h11.ConnectionClosed or event is h11.NEED_DATA:
            raise h11.RemoteProtocolError("response cut short", 400)
