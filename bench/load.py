"""Concurrent keep-alive GET load: N connections, each sending its next GET as soon as its last answer is
read (a closed loop, never pipelined), until a request budget or a time limit runs out.

    from load import run_gets
    result = run_gets("http://127.0.0.1:5984/db", ["doc-000001", ...], clients=8, requests=4000)
    result.rate, result.p99_ms, result.client_cpu

The client is asyncio protocols over plain sockets in one thread, not ``http.client`` in N threads: on
two cores, threads fighting over the GIL would measure the client. It still takes CPU from the server it
measures, so every result carries ``client_cpu`` (this process's CPU seconds per wall second), and
``python bench/load.py`` (or ``trivial_server()``) runs the same loop against a canned-answer
server to show what the client alone can drive.
"""

import argparse
import asyncio
import contextlib
import dataclasses
import random
import socket
import subprocess
import sys
import time
import urllib.parse

# A connection that sends nothing back for this long fails the run (a hung server is a failure).
RESPONSE_TIMEOUT = 60
# What the canned server answers: a ~300-byte document, as the benchmarks' GETs fetch.
CANNED_BODY = b'{"_id":"doc-000001","_rev":"1-' + b"0" * 32 + b'","type":"bench","n":1,"payload":"' + (
    b"ab" * 96) + b'"}'
CANNED_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                   + str(len(CANNED_BODY)).encode() + b"\r\n\r\n" + CANNED_BODY)


class LoadError(Exception):
    """The load could not run or a response was wrong (a status other than 200, a dropped connection)."""


@dataclasses.dataclass
class LoadResult:
    """One run: ``latencies`` (seconds, one per answered request), ``seconds`` (wall, first send to last
    answer) and ``client_cpu`` (this process's CPU seconds per wall second during the run)."""

    clients: int
    latencies: list
    seconds: float
    client_cpu: float

    @property
    def rate(self):
        return len(self.latencies) / self.seconds

    def percentile_ms(self, fraction):
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))] * 1000

    @property
    def p99_ms(self):
        return self.percentile_ms(0.99)


def response_end(buf):
    """Where the first complete HTTP response in ``buf`` ends, or ``None`` while it is incomplete.

    Enough HTTP for answers to GETs: a ``Content-Length`` body, or a chunked one (ended by the zero-size
    chunk; JSON bodies never hold a raw CRLF, so searching for it is exact here)."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buf[:head_end]).lower()
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        eol = head.find(b"\r\n", at + 2)
        end = head_end + 4 + int(head[at + 17:eol if eol >= 0 else len(head)])
        return end if len(buf) >= end else None
    if b"chunked" in head:
        last = buf.find(b"\r\n0\r\n\r\n", head_end)
        return None if last < 0 else last + 7
    raise LoadError(f"a response with neither Content-Length nor chunked body: {head[:200]!r}")


class _Load:
    """What the connections share: the request budget, the deadline, the latencies, the first error."""

    def __init__(self, requests, budget, deadline, seed):
        self.requests = requests
        self.remaining = budget
        self.deadline = deadline
        self.rng = random.Random(seed)
        self.latencies = []
        self.error = None

    def next_request(self):
        if self.remaining <= 0 or self.error is not None or time.perf_counter() > self.deadline:
            return None
        self.remaining -= 1
        return self.requests[self.rng.randrange(len(self.requests))]


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one GET in flight, the next sent when its answer is complete."""

    def __init__(self, load):
        self.load = load
        self.buf = bytearray()
        self.transport = None
        self.sent_at = 0.0
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_next(self):
        request = self.load.next_request()
        if request is None:
            self._finish()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data):
        self.buf += data
        try:
            end = response_end(self.buf)
        except (LoadError, ValueError) as exc:
            self._finish(LoadError(str(exc)))
            return
        if end is None:
            return
        self.load.latencies.append(time.perf_counter() - self.sent_at)
        status = bytes(self.buf[9:12])
        if status != b"200" or end != len(self.buf):
            why = f"answered {bytes(self.buf[:end])[:300]!r}" if status != b"200" else "sent unasked bytes"
            self._finish(LoadError(f"the server {why}"))
            return
        del self.buf[:end]
        self.send_next()

    def connection_lost(self, exc):
        self._finish(LoadError(f"the server closed a connection mid-run ({exc})"))

    def _finish(self, error=None):
        if self.done.done():
            return
        if error is not None and self.load.error is None:
            self.load.error = error
        self.done.set_result(None)


async def _run(host, port, requests, clients, budget, max_seconds, seed):
    loop = asyncio.get_running_loop()
    load = _Load(requests, budget, float("inf"), seed)
    connections = []
    try:
        for _ in range(clients):
            _, conn = await loop.create_connection(lambda: _Connection(load), host, port)
            connections.append(conn)
        cpu, started = time.process_time(), time.perf_counter()
        load.deadline = started + max_seconds
        for conn in connections:
            conn.send_next()
        await asyncio.wait_for(asyncio.gather(*(conn.done for conn in connections)),
                               max_seconds + RESPONSE_TIMEOUT)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    except (OSError, TimeoutError) as exc:
        raise LoadError(f"{clients} connections to {host}:{port}: {exc!r}") from exc
    finally:
        for conn in connections:
            conn.transport.close()
    if load.error is not None:
        raise load.error
    return LoadResult(clients, load.latencies, seconds, cpu / seconds)


def run_gets(db_url, doc_ids, clients, requests, max_seconds=30.0, seed=3):
    """GET random documents of ``doc_ids`` from the database at ``db_url`` (a loopback URL without
    credentials) over ``clients`` keep-alive connections, ``requests`` in all or for ``max_seconds``,
    whichever ends first. Returns a ``LoadResult``; raises ``LoadError`` on any answer but a 200."""
    parts = urllib.parse.urlsplit(db_url)
    host_header = f"Host: {parts.hostname}:{parts.port}\r\n"
    templates = [(f"GET {parts.path}/{urllib.parse.quote(doc_id, safe='')} HTTP/1.1\r\n{host_header}"
                  "Accept: application/json\r\n\r\n").encode() for doc_id in doc_ids]
    return asyncio.run(_run(parts.hostname, parts.port, templates, clients, requests, max_seconds, seed))


# --- the client's ceiling: the same loop against a server that does nothing --------------------------

class _Canned(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = bytearray()

    def data_received(self, data):
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            del self.buf[:end + 4]
            self.transport.write(CANNED_RESPONSE)


async def _serve_canned():
    server = await asyncio.get_running_loop().create_server(_Canned, "127.0.0.1", 0, backlog=1024)
    print(f"canned server listening on http://127.0.0.1:{server.sockets[0].getsockname()[1]}/", flush=True)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def trivial_server():
    """A canned-answer server in a subprocess (one core, like the servers measured): yields its db URL."""
    proc = subprocess.Popen([sys.executable, __file__, "--serve-canned"], stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline()
        if not line.startswith("canned server listening on "):
            raise LoadError(f"the canned server did not start: {line!r}")
        yield line.split()[-1] + "db"
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv):
    parser = argparse.ArgumentParser(description="the load client's ceiling, against a canned server")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--serve-canned", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_canned:
        asyncio.run(_serve_canned())
        return 0
    with trivial_server() as url:
        for clients in map(int, args.clients.split(",")):
            result = run_gets(url, ["doc-000001"], clients, args.requests)
            print(f"{clients:3} clients: {result.rate:8,.0f} req/s, p99 {result.p99_ms:6.2f} ms, "
                  f"client CPU {result.client_cpu:.2f} s/s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
