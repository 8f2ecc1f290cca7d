"""The socket bridge end to end: a real ``python -m browsercouch.bridge`` process, native messaging on its
pipes, the test as the page on the channel (``harness.Page``) and real TCP clients on 127.0.0.1."""

import asyncio
import hashlib
import http.client as http_client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from browsercouch import frames

from .harness import (
    ORIGIN,
    TIMEOUT,
    closed_by_peer,
    echo_app,
    pattern_digest,
    read_response,
    recv_all,
    tcp,
    wait_until,
)

pytestmark = pytest.mark.native

MB = 1024 * 1024


def _refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _get(port, path="/hello"):
    conn = http_client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# -- control ---------------------------------------------------------------------------------------------

def test_starts_fast_and_answers_listen(start_bridge):
    bridge = start_bridge()
    answer = bridge.request({"type": "listen", "host": "127.0.0.1", "port": 0, "id": 7})
    elapsed = time.monotonic() - bridge.started
    print(f"bridge start to 'listening': {elapsed * 1000:.0f} ms")
    assert elapsed < 3.0
    assert answer["type"] == "listening" and answer["id"] == 7
    assert answer["host"] == "127.0.0.1" and answer["port"] > 0
    prefix = "ws://127.0.0.1:"
    assert answer["channel"].startswith(prefix) and "/channel/" in answer["channel"]
    assert len(answer["channel"].rsplit("/", 1)[1]) >= 40  # token_urlsafe(32)


def test_ping_stop_and_bad_requests(bridge):
    assert bridge.request({"type": "ping"}) == {
        "type": "pong", "connections": 0, "channel": False, "listening": False}
    port = bridge.listen()
    assert bridge.request({"type": "ping"})["listening"] is True
    assert bridge.request({"type": "stop"}) == {"type": "stopped"}
    assert _refused(port)
    assert bridge.request({"type": "ping"}) == {
        "type": "pong", "connections": 0, "channel": False, "listening": False}
    for bad in ({"type": "frobnicate"}, {"no": "type"}, [1, 2], "listen", None,
                {"type": "listen", "port": "80"}, {"type": "listen", "port": 70000},
                {"type": "listen", "host": 5, "port": 0}):
        answer = bridge.request(bad)
        assert answer["type"] == "error" and answer["error"] == "bad_request", bad
        assert answer["reason"]


def test_a_port_in_use_is_a_listen_error(bridge):
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        port = taken.getsockname()[1]
        answer = bridge.request({"type": "listen", "host": "127.0.0.1", "port": port})
        assert answer["type"] == "error" and answer["error"] == "listen_failed"
        assert str(port) in answer["reason"]
    finally:
        taken.close()
    assert bridge.request({"type": "listen", "host": "256.1.1.1", "port": 0})["error"] == "listen_failed"
    assert bridge.listen(port) == port  # free again: the bridge was not left broken


def test_broken_json_is_a_bad_request_and_the_bridge_goes_on(bridge):
    body = b"{not json"
    bridge.proc.stdin.write(len(body).to_bytes(4, "little") + body)
    bridge.proc.stdin.flush()
    assert bridge.receive()["error"] == "bad_request"
    assert bridge.request({"type": "ping"})["type"] == "pong"


def test_a_second_listen_replaces_the_listener(bridge, pages):
    first = bridge.listen()
    channel = bridge.channel
    page = pages(channel)
    old = tcp(first)
    wait_until(lambda: len(page.opened) == 1, message="OPEN")
    second = bridge.listen()
    assert bridge.channel == channel  # the channel stays
    assert closed_by_peer(old, 2)
    wait_until(lambda: page.conns[page.opened[0]].gone, message="CLOSE of the old connection")
    assert _refused(first)
    assert _get(second) == (200, f"hello {page.opened[1]}".encode())


# -- the channel's handshake -----------------------------------------------------------------------------

async def _handshake_status(url, origin):
    try:
        async with connect(url, origin=origin, open_timeout=TIMEOUT):
            return 101
    except InvalidStatus as error:
        return error.response.status_code


def test_wrong_token_path_or_origin_is_refused(bridge, pages):
    bridge.listen()
    url = bridge.channel
    base, token = url.rsplit("/", 1)
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    cases = [
        (f"{base}/{wrong}", ORIGIN, 403),
        (f"{base}/", ORIGIN, 403),
        (url.replace("/channel/", "/other/"), ORIGIN, 404),
        (url, "chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 403),
        (url, "http://127.0.0.1:8000", 403),
        (url, None, 403),
        (url, ORIGIN, 101),
    ]
    for target, origin, status in cases:
        assert asyncio.run(_handshake_status(target, origin)) == status, (target, origin)
    wait_until(lambda: bridge.request({"type": "ping"})["channel"] is False, message="the client gone")


def test_without_an_origin_argument_any_origin_may_connect(start_bridge):
    bridge = start_bridge(origin=None)
    bridge.listen()
    assert asyncio.run(_handshake_status(bridge.channel, "http://anything.example")) == 101
    base = bridge.channel.rsplit("/", 1)[0]
    assert asyncio.run(_handshake_status(base + "/nope", None)) == 403


def test_a_new_channel_client_replaces_the_old_one(bridge, pages):
    port = bridge.listen()
    first = pages(bridge.channel)
    old = tcp(port)
    wait_until(lambda: len(first.opened) == 1, message="OPEN on the first page")
    second = pages(bridge.channel)
    assert first.closed.wait(TIMEOUT)
    assert closed_by_peer(old, 2)
    assert _get(port) == (200, f"hello {second.opened[0]}".encode())
    assert first.opened == [1] and second.opened == [2]
    assert bridge.request({"type": "ping"})["channel"] is True


def test_connections_wait_for_a_page(bridge, pages):
    port = bridge.listen()
    early = tcp(port)
    early.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    page = pages(bridge.channel)
    assert read_response(early) == (200, b"hello 1")
    page.stop()
    wait_until(lambda: not bridge.request({"type": "ping"})["channel"], message="the page gone")
    late = tcp(port)
    started = time.monotonic()
    assert closed_by_peer(late, 5)  # --channel-wait 2
    assert 1.5 < time.monotonic() - started < 4


# -- many connections ------------------------------------------------------------------------------------

def test_100_concurrent_keep_alive_connections(bridge, pages):
    port = bridge.listen()
    page = pages(bridge.channel)
    count, rounds = 100, 10
    connected = threading.Barrier(count + 1, timeout=TIMEOUT)
    counted = threading.Barrier(count + 1, timeout=TIMEOUT)

    def client(_):
        conn = http_client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        conn.connect()
        connected.wait()
        counted.wait()
        bodies = set()
        for _ in range(rounds):
            conn.request("GET", "/hello")
            response = conn.getresponse()
            assert response.status == 200
            bodies.add(response.read())
        conn.close()
        return bodies

    with ThreadPoolExecutor(count) as pool:
        results = pool.map(client, range(count))
        connected.wait()
        wait_until(lambda: bridge.request({"type": "ping"})["connections"] == count, message="100 conns")
        counted.wait()
        results = list(results)
    assert all(len(bodies) == 1 for bodies in results)  # every request of a client on one connection
    assert {body for bodies in results for body in bodies} == {f"hello {n}".encode() for n in page.opened}
    assert len(page.opened) == count
    wait_until(lambda: bridge.request({"type": "ping"})["connections"] == 0, message="all closed")


# -- big bodies and flow control -------------------------------------------------------------------------

def _upload(port, size):
    block = bytes(range(256)) * 4096  # 1 MiB
    digest = hashlib.sha256()
    sock = tcp(port)
    started = time.monotonic()
    sock.sendall(f"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
    for _ in range(size // len(block)):
        sock.sendall(block)
        digest.update(block)
    status, body = read_response(sock)
    elapsed = time.monotonic() - started
    sock.close()
    return status, json.loads(body), digest.hexdigest(), elapsed


def _download(port, size):
    sock = tcp(port)
    started = time.monotonic()
    sock.sendall(f"GET /download/{size} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1 << 16)
    head, _, rest = head.partition(b"\r\n\r\n")
    digest, received = hashlib.sha256(rest), len(rest)
    buffer = bytearray(1 << 20)
    while received < size:
        count = sock.recv_into(buffer)
        assert count, "the download ended early"
        digest.update(memoryview(buffer)[:count])
        received += count
    elapsed = time.monotonic() - started
    sock.close()
    return head, received, digest.hexdigest(), elapsed


def test_a_64_mb_upload_respects_the_window(bridge, pages):
    port = bridge.listen()
    # A stingy page acknowledges only when a connection's window is exactly full: the bridge must fill it
    # and then wait, never send more (the page fixture checks max_unacked <= WINDOW).
    page = pages(bridge.channel, stingy=True)
    size = 64 * MB
    status, answer, digest, elapsed = _upload(port, size)
    print(f"upload of 64 MB through the bridge: {size / MB / elapsed:.0f} MB/s")
    assert status == 200 and answer == {"size": size, "sha256": digest, "conn": 1}
    assert page.max_unacked() == frames.WINDOW


def test_a_64_mb_download(bridge, pages):
    port = bridge.listen()
    page = pages(bridge.channel)
    size = 64 * MB
    head, received, digest, elapsed = _download(port, size)
    print(f"download of 64 MB through the bridge: {size / MB / elapsed:.0f} MB/s")
    assert head.startswith(b"HTTP/1.1 200") and received == size and digest == pattern_digest(size)
    # Every byte was acknowledged once the client's socket took it.
    wait_until(lambda: page.run(lambda: page.conns[1].window.in_flight) == 0, message="all ACKed")


def test_a_slow_reader_does_not_stall_the_others(bridge, pages):
    port = bridge.listen()
    page = pages(bridge.channel)
    size = 16 * MB
    slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    slow.settimeout(TIMEOUT)
    slow.connect(("127.0.0.1", port))
    slow.sendall(f"GET /download/{size} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    wait_until(lambda: 1 in page.conns and not page.run(lambda: page.conns[1].window.open),
               message="the slow reader's window full")
    started = time.monotonic()
    for _ in range(50):
        assert _get(port)[0] == 200
    status, answer, digest, _ = _upload(port, 8 * MB)
    assert status == 200 and answer["sha256"] == digest
    assert time.monotonic() - started < 5
    # The slow reader's window stayed mostly shut meanwhile: the bridge acknowledged only what its socket
    # took (a little more than when it first filled, as the kernel grows the socket's send buffer).
    assert page.run(lambda: page.conns[1].window.in_flight) > frames.WINDOW // 2
    head, _, rest = recv_all_head(slow)
    body = rest + recv_exact(slow, size - len(rest))
    assert head.startswith(b"HTTP/1.1 200") and hashlib.sha256(body).hexdigest() == pattern_digest(size)
    slow.close()


def recv_all_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(1 << 16)
    return data.partition(b"\r\n\r\n")


def recv_exact(sock, count):
    chunks, received = [], 0
    while received < count:
        chunk = sock.recv(min(1 << 20, count - received))
        assert chunk, "ended early"
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


async def _overrun(url, port):
    """A page that ignores the window: it writes to a client that reads nothing, without waiting for ACKs,
    until the bridge drops the channel (``True``) or 64 MB went through (``False``)."""
    async with connect(url, origin=ORIGIN, compression=None, ping_interval=None, close_timeout=1) as ws:
        client = await asyncio.to_thread(tcp, port)
        try:
            opened = frames.decode(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert opened.kind == frames.OPEN
            chunk = frames.encode(frames.DATA, opened.conn, b"x" * frames.MAX_CHUNK)
            for _ in range(64 * MB // frames.MAX_CHUNK):
                await asyncio.wait_for(ws.send(chunk), TIMEOUT)
        except ConnectionClosed:
            return True
        finally:
            client.close()
    return False


def test_a_page_that_overruns_the_window_loses_the_channel(bridge):
    port = bridge.listen()
    assert asyncio.run(_overrun(bridge.channel, port))
    wait_until(lambda: bridge.request({"type": "ping"})["channel"] is False, message="the channel dropped")


# -- half-close and close --------------------------------------------------------------------------------

def test_half_close_the_client_still_gets_the_answer(bridge, pages):
    port = bridge.listen()
    page = pages(bridge.channel)
    sock = tcp(port)
    sock.sendall(b"GET /after-eof HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.shutdown(socket.SHUT_WR)  # the page answers only after it saw this EOF
    reply = recv_all(sock)
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"hello 1")
    sock.close()
    assert page.conns[1].eof


def test_half_close_both_ways_with_an_echo(bridge, pages):
    port = bridge.listen()
    page = pages(bridge.channel, app=echo_app)
    sock = tcp(port)
    sock.sendall(b"abc")
    assert sock.recv(10) == b"abc"
    sock.sendall(b"EOF\n")  # the page echoes it, then shuts down its side
    assert recv_all(sock) == b"EOF\n"
    sock.sendall(b"still here")  # our side is still open: the page gets it
    wait_until(lambda: b"".join(page.conns[1].late) == b"still here", message="late bytes")
    sock.shutdown(socket.SHUT_WR)
    assert page.conns[1].closed_by_bridge.wait(TIMEOUT)  # both sides done: the bridge closed it
    sock.close()


def test_an_early_answer_to_a_big_upload_is_not_lost_to_a_reset(bridge, pages):
    # The page answers 413 before reading the body and closes. http.client, like most clients, sends the
    # whole body before it reads the answer: closing at once would reset it mid-send (unread bytes at
    # close() make a reset); the bridge must flush, shut down its side and discard the rest instead.
    port = bridge.listen()
    pages(bridge.channel)
    conn = http_client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("PUT", "/reject", body=b"x" * (32 * MB))
        response = conn.getresponse()
        assert (response.status, response.read()) == (413, b"")
    finally:
        conn.close()


def test_listening_on_all_interfaces_lists_the_addresses(bridge, pages):
    answer = bridge.request({"type": "listen", "host": "0.0.0.0", "port": 0})
    assert answer["host"] == "0.0.0.0" and isinstance(answer["addresses"], list)
    assert all(not address.startswith("127.") for address in answer["addresses"])
    pages(answer["channel"])
    assert _get(answer["port"]) == (200, b"hello 1")  # loopback only, as every test
    assert bridge.request({"type": "listen", "host": "127.0.0.1", "port": 0})["addresses"] == ["127.0.0.1"]


def test_a_client_reset_is_a_close(bridge, pages):
    port = bridge.listen()
    page = pages(bridge.channel)
    sock = tcp(port)
    sock.sendall(b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\npartial")
    wait_until(lambda: 1 in page.conns, message="OPEN")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # linger 0: a reset
    assert page.conns[1].closed_by_bridge.wait(TIMEOUT)
    assert _get(port)[0] == 200


def test_stdin_eof_closes_every_connection_and_the_listener(bridge, pages):
    port = bridge.listen()
    page = pages(bridge.channel)
    socks = [tcp(port) for _ in range(5)]
    socks[0].sendall(b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf")
    wait_until(lambda: len(page.opened) == 5, message="5 OPENs")
    started = time.monotonic()
    bridge.close_stdin()
    for sock in socks:
        assert closed_by_peer(sock, 1.0)
    assert _refused(port)
    assert bridge.proc.wait(2) == 0
    elapsed = time.monotonic() - started
    print(f"stdin EOF to everything closed and the bridge gone: {elapsed * 1000:.0f} ms")
    assert elapsed < 1.5
    assert page.closed.wait(TIMEOUT)
