"""Peers of the browser tab: CouchDB clients replicate with the databases a headless Chromium serves
(``browsercouch browser``), and garbage on its socket gets an error or a closed connection while the tab
keeps serving everyone else.

- The npm PouchDB client in Node (``tests/node/peer_replicate.mjs``) pushes 1,000 docs with attachments and
  conflicting branches to the tab, pulls them into a fresh PouchDB, then replicates live both ways; every
  leaf of every document agrees on all three sides, and with what Python reads from the tab.
- The native ``browsercouch replicate`` pulls the same database into a local directory; same leaves.
- Apache CouchDB's replicator is not available here; its multipart exchanges (DESIGN.md section 3) are
  made by hand against the tab: a ``PUT ?new_edits=false`` as ``multipart/related`` with an attachment
  larger than the bridge's frames, read back as ``multipart/mixed`` ``open_revs`` and ``multipart/related``.
- Random bytes and malformed requests get a CouchDB-style 400 (431 for an oversized head) from the HTTP
  driver, a 100 MB body gets 413 ``too_large`` from the API's ``max_request_size``, and a slowloris client
  is closed at the driver's header timeout; all within bounded time, while other clients are served
  before, during and after on their own keep-alive connections.

One browser serves the whole module. Only loopback addresses are ever targets.
"""

import contextlib
import json
import random
import select
import socket
import subprocess
import threading
import time
import urllib.parse
from http.client import HTTPConnection, HTTPException

import pytest
from helpers import (
    NODE_DIR,
    REPO,
    browsercouch_command,
    http,
    new_db,
    server_output,
    start_browser_server,
    start_browsercouch,
)

from browsercouch import launcher
from browsercouch.api import multipart
from browsercouch.http import DEFAULT_LIMITS

pytestmark = [pytest.mark.chromium, pytest.mark.slow,
              pytest.mark.skipif(launcher.missing_reason() is not None,
                                 reason=launcher.missing_reason() or "")]

SCRIPT = NODE_DIR / "peer_replicate.mjs"
DOCS = 1000
# The script gives up after 150 s on its own; this is the backstop.
NODE_TIMEOUT = 180
REPLICATE_TIMEOUT = 120
# Leaves per _bulk_get request when reading a database's fingerprint.
BATCH = 200
# How long a garbage exchange may take before we call it a hang.
GARBAGE_TIMEOUT = 15.0
# The other client's requests while garbage arrives: any slower than this counts as blocked.
MAX_LATENCY = 5.0
# What the tab does with a slowloris client: ``ChannelServer`` serves with the driver's default limits.
HEADER_TIMEOUT = DEFAULT_LIMITS.header_timeout
SLOWLORIS_INTERVAL = 0.5
# Slack around the header timeout for the close to reach us (timers, the bridge, a loaded machine).
CLOSE_MARGIN = 5.0
BIG_BODY = 100 * 1024 * 1024
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def tab(tmp_path_factory):
    """The base URL (trailing slash) of one headless Chromium serving through the extension."""
    server = start_browser_server(tmp_path_factory.mktemp("peers") / "profile")
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def pouchdb_run(tab, tmp_path_factory):
    """Run ``peer_replicate.mjs`` once on a fresh database of the tab: ``(db_url, exit code, summary,
    the script's fingerprint of the tab's database)``."""
    db_url = new_db(tab, "peers")
    printed = tmp_path_factory.mktemp("pouchdb") / "fingerprint.json"
    proc = subprocess.run(["node", str(SCRIPT), db_url, "--docs", str(DOCS), "--fingerprint", str(printed)],
                          cwd=NODE_DIR, capture_output=True, text=True, timeout=NODE_TIMEOUT)
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no summary from {SCRIPT.name} (exit {proc.returncode}):\n{proc.stderr[-5000:]}"
    fingerprint = json.loads(printed.read_text()) if printed.exists() else None
    return db_url, proc.returncode, json.loads(lines[-1]), fingerprint


# --- fingerprints: every leaf of every document ---------------------------------------------------------

def fingerprint(db_url):
    """``{id: {rev: {deleted, body, atts}}}`` for every leaf revision of every document of ``db_url``
    (``_changes?style=all_docs``, then ``_bulk_get``): the shape ``peer_replicate.mjs`` prints."""
    status, _, changes = http("GET", db_url + "/_changes?style=all_docs")
    assert status == 200, changes
    leaves = [{"id": row["id"], "rev": change["rev"]}
              for row in changes["results"] for change in row["changes"]]
    found = {}
    for start in range(0, len(leaves), BATCH):
        status, _, answer = http("POST", db_url + "/_bulk_get", {"docs": leaves[start:start + BATCH]})
        assert status == 200, answer
        for result in answer["results"]:
            for got in result["docs"]:
                assert "ok" in got, got
                found.setdefault(result["id"], {})[got["ok"]["_rev"]] = _leaf_print(got["ok"])
    return found


def _leaf_print(doc):
    atts = {name: {"content_type": att["content_type"], "digest": att["digest"], "length": att["length"]}
            for name, att in doc.get("_attachments", {}).items()}
    body = {key: value for key, value in doc.items() if not key.startswith("_")}
    return {"deleted": bool(doc.get("_deleted")), "body": body, "atts": atts}


def _counts(print_):
    """What a fingerprint holds, to make sure two equal ones are not equally empty."""
    leaves = [list(revs.values()) for revs in print_.values()]
    return {
        "ids": len(leaves),
        "conflicted": sum(1 for doc in leaves if sum(not leaf["deleted"] for leaf in doc) > 1),
        "deleted_leaves": sum(leaf["deleted"] for doc in leaves for leaf in doc),
        "with_attachments": sum(1 for doc in leaves if any(leaf["atts"] for leaf in doc)),
    }


def _differences(a, b, limit=10):
    ids = sorted(set(a) | set(b))
    return [(i, a.get(i), b.get(i)) for i in ids if a.get(i) != b.get(i)][:limit]


# What peer_replicate.mjs writes: 1,000 seeded docs plus 100 in the live phase; every 50th seeded doc has
# 2 undeleted branches (every 100th a third, deleted one); every 25th is deleted, and one more when live.
EXPECTED_COUNTS = {"ids": DOCS + 100, "conflicted": DOCS // 50,
                   "deleted_leaves": DOCS // 25 + DOCS // 100 + 1}


# --- PouchDB and the native replicator ------------------------------------------------------------------

@pytest.mark.node
def test_pouchdb_replicates_to_and_from_the_tab_one_shot_and_live(tab, pouchdb_run):
    db_url, code, summary, printed = pouchdb_run
    report = json.dumps(summary, indent=1)[:20_000] + "\n--- browser output ---\n" + server_output(tab)
    assert code == 0 and summary["ok"], report
    assert summary["counts"]["pushed"] >= DOCS and summary["counts"]["pulled"] >= DOCS, report
    assert summary["counts"]["live_leaves"] == 103, report
    # Python reads the same leaves from the tab as PouchDB did.
    ours = fingerprint(db_url)
    assert ours == printed, _differences(ours, printed)
    counts = _counts(ours)
    assert {key: counts[key] for key in EXPECTED_COUNTS} == EXPECTED_COUNTS
    assert counts["with_attachments"] > DOCS // 10


@pytest.mark.node
def test_native_replicate_pulls_the_tab_identically(tab, pouchdb_run, tmp_path):
    db_url = pouchdb_run[0]
    data = tmp_path / "data"
    proc = subprocess.run([*browsercouch_command(), "replicate", db_url, "copy", "--data", str(data),
                           "--create-target", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=REPLICATE_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:] + server_output(tab)
    record = json.loads(proc.stdout)
    assert record["ok"] and record["history"][0]["docs_written"] >= DOCS, record
    assert record["history"][0]["doc_write_failures"] == 0, record
    native = start_browsercouch("--data", str(data))
    try:
        theirs, ours = fingerprint(db_url), fingerprint(native.url + "copy")
    finally:
        native.stop()
    assert ours == theirs, _differences(ours, theirs)
    assert _counts(ours)["ids"] == EXPECTED_COUNTS["ids"]


# --- another client, served all along -------------------------------------------------------------------

class _KeepAlive:
    """One keep-alive connection to the tab that does ``GET /``."""

    def __init__(self, base_url):
        parts = urllib.parse.urlsplit(base_url)
        self.conn = HTTPConnection(parts.hostname, parts.port, timeout=MAX_LATENCY * 2)
        self.conn.connect()
        self.local = self.conn.sock.getsockname()

    def get(self):
        """The welcome's uuid; raises if the answer is not 200 or the connection is not the same one."""
        self.conn.request("GET", "/", headers={"Accept": "application/json"})
        response = self.conn.getresponse()
        body = response.read()
        assert response.status == 200, body
        assert self.conn.sock is not None and self.conn.sock.getsockname() == self.local, "reconnected"
        return json.loads(body)["uuid"]

    def close(self):
        self.conn.close()


class _Poller(threading.Thread):
    """Another client that keeps doing ``GET /`` on its own keep-alive connection until ``stop()``."""

    def __init__(self, base_url, uuid, limit=120.0):
        super().__init__(daemon=True)
        self.base_url, self.uuid, self.limit = base_url, uuid, limit
        self.served, self.errors, self.slowest = 0, [], 0.0
        self.first = threading.Event()  # set once served (or failed) the first time
        self._stop_event = threading.Event()

    def run(self):
        client = _KeepAlive(self.base_url)
        deadline = time.monotonic() + self.limit
        try:
            while time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    assert client.get() == self.uuid
                except (OSError, AssertionError, HTTPException) as error:
                    self.errors.append(repr(error))
                    return
                self.served += 1
                self.slowest = max(self.slowest, time.monotonic() - started)
                self.first.set()
                if self._stop_event.wait(0.05):
                    return
        finally:
            self.first.set()
            client.close()

    def stop(self):
        self._stop_event.set()
        self.join(MAX_LATENCY * 3)


@contextlib.contextmanager
def others_served(base_url):
    """Check that other clients are served around the block: one before and after it on the same
    keep-alive connection; another one all along, on its own, at least every other second during the
    block and never slower than ``MAX_LATENCY``."""
    before = _KeepAlive(base_url)
    try:
        uuid = before.get()
        poller = _Poller(base_url, uuid)
        poller.start()
        try:
            assert poller.first.wait(MAX_LATENCY) and poller.served, poller.errors or "not served in time"
            served, started = poller.served, time.monotonic()
            yield
            during, seconds = poller.served - served, time.monotonic() - started
        finally:
            poller.stop()
        assert not poller.is_alive(), "the concurrent client hangs"
        assert poller.errors == [], poller.errors
        assert during >= int(seconds / 2), f"the other client was served {during} times in {seconds:.1f} s"
        assert poller.slowest < MAX_LATENCY, f"a concurrent GET took {poller.slowest:.1f} s"
        assert before.get() == uuid
    finally:
        before.close()


# --- garbage on the socket ------------------------------------------------------------------------------

def test_apache_couchdb_replicators_multipart_exchanges(tab):
    db_url = new_db(tab, "couchrep")
    data = random.Random(5).randbytes(3 * 1024 * 1024 + 17)
    rev_id = "b" * 32
    doc = {"_id": "pushed", "_rev": f"2-{rev_id}", "_revisions": {"start": 2, "ids": [rev_id, "a" * 32]},
           "n": 1, "_attachments": {"big.bin": {"content_type": "application/octet-stream",
                                                "length": len(data), "follows": True}}}
    boundary = multipart.new_boundary()
    body = b"".join(multipart.related_parts(doc, [("big.bin", "application/octet-stream", data)], boundary))
    status, _, answer = http("PUT", f"{db_url}/pushed?new_edits=false", body,
                             {"Content-Type": f'multipart/related; boundary="{boundary}"'}, timeout=60)
    assert status == 201, answer

    query = f'revs=true&latest=true&attachments=true&open_revs=["2-{rev_id}"]'
    status, headers, raw = http("GET", f"{db_url}/pushed?{query}", headers={"Accept": "multipart/mixed"},
                                timeout=60)
    assert status == 200 and headers["Content-Type"].startswith("multipart/mixed")
    (part_headers, part), = multipart.parse(raw, multipart.boundary_of(headers["Content-Type"]))
    got, attachments = multipart.read_related(part, part_headers["content-type"])
    assert got["_revisions"] == doc["_revisions"] and got["n"] == 1
    assert attachments == {"big.bin": data}

    status, headers, raw = http("GET", f"{db_url}/pushed?attachments=true",
                                headers={"Accept": "multipart/related"}, timeout=60)
    assert status == 200
    got, attachments = multipart.read_related(raw, headers["Content-Type"])
    assert got["_rev"] == f"2-{rev_id}" and attachments == {"big.bin": data}


def _connect(base_url):
    parts = urllib.parse.urlsplit(base_url)
    return socket.create_connection((parts.hostname, parts.port), timeout=GARBAGE_TIMEOUT)


def _read_to_eof(sock, deadline):
    """Everything the server sends until it closes; fails if it neither answers nor closes in time."""
    data = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no close within the time allowed; got {bytes(data[:300])!r}"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(CHUNK)
        except ConnectionResetError:
            return bytes(data)
        if not chunk:
            return bytes(data)
        data += chunk


def _responses(data):
    """``[(status, JSON body), ...]`` of the complete responses in ``data`` (all carry Content-Length)."""
    found = []
    while data:
        head, blank, rest = data.partition(b"\r\n\r\n")
        assert blank, f"a truncated response: {data[:300]!r}"
        status_line, *lines = head.decode("latin-1").split("\r\n")
        fields = (line.split(":", 1) for line in lines)
        headers = {name.strip().lower(): value.strip() for name, value in fields}
        length = int(headers["content-length"])
        assert len(rest) >= length, f"a truncated body: {data[:300]!r}"
        found.append((int(status_line.split()[1]), json.loads(rest[:length])))
        data = rest[length:]
    return found


def _exchange(base_url, data):
    """Send ``data`` on a new connection; return the responses the server sent before it closed."""
    with _connect(base_url) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before it read everything: its answer is still there
        return _responses(_read_to_eof(sock, time.monotonic() + GARBAGE_TIMEOUT))


_NOISE = random.Random(5984)
_GET = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
_LAST_GET = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
_ONE_LINE = _NOISE.randbytes(2000).replace(b"\r", b"").replace(b"\n", b"")
_TLS_HELLO = bytes.fromhex("160301020001") + _NOISE.randbytes(500)
_CHUNKED_PUT = (b"PUT /{db}/chunked HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
_JSON_PUT = (b"PUT /{db}/json HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             b"Content-Length: %d\r\n\r\n")
_NOT_JSON = b'{"a": \xff\xfe\x00}'

# (request bytes, the statuses answered in order). Unparsable heads: 400 and a close (431 for a head over
# the driver's max_incomplete_event_size, which unbroken random bytes may reach before a blank line).
GARBAGE = {
    "random-256k": (_NOISE.randbytes(256 * 1024), [{400, 431}]),
    "random-line": (b"Q" + _ONE_LINE + b"\r\n\r\n", [{400}]),
    "tls-client-hello": (_TLS_HELLO, [{400}]),
    "garbage-after-a-request": (_GET + b"\x00" + _NOISE.randbytes(300), [{200}, {400}]),
    "oversized-head": (_GET[:-2] + b"X-Junk: %s\r\n\r\n" % (b"j" * DEFAULT_LIMITS.max_incomplete_event_size),
                       [{431}]),
    "bad-chunk-size": (_CHUNKED_PUT + b"zz\r\n" + _NOISE.randbytes(100), [{400}]),
    # A well-framed body that is not JSON: 400, and the connection keeps serving.
    "not-json-body": ((_JSON_PUT % len(_NOT_JSON)) + _NOT_JSON + _LAST_GET, [{400}, {200}]),
}


@pytest.mark.parametrize("case", GARBAGE)
def test_garbage_gets_an_error_and_others_are_served(tab, case):
    data, expected = GARBAGE[case]
    db = new_db(tab, "garbage").rsplit("/", 1)[1].encode()
    started = time.monotonic()
    with others_served(tab):
        responses = _exchange(tab, data.replace(b"{db}", db))
    assert time.monotonic() - started < GARBAGE_TIMEOUT
    assert len(responses) == len(expected), responses
    for (status, body), statuses in zip(responses, expected, strict=True):
        assert status in statuses, responses
        assert status == 200 or body["error"] in ("bad_request", "request_header_fields_too_large"), body


def _stream_body(sock, framing, deadline):
    """Send up to ``BIG_BODY`` bytes of a JSON-ish body until the server answers; return the bytes sent."""
    piece = b'{"big": "' + b"x" * (CHUNK - 9)
    sent, pending = 0, b""
    sock.setblocking(False)
    while time.monotonic() < deadline:
        readable, writable, _ = select.select([sock], [sock] if sent < BIG_BODY or pending else [], [], 0.5)
        if readable:
            return sent
        if writable:
            if not pending:
                size = min(CHUNK, BIG_BODY - sent)
                pending = b"%x\r\n%s\r\n" % (size, piece[:size]) if framing == "chunked" else piece[:size]
                sent += size
            try:
                pending = pending[sock.send(pending):]
            except (BrokenPipeError, ConnectionResetError):
                return sent
    raise AssertionError(f"no answer after {sent} bytes of the body")


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_100_mb_body_gets_413_and_others_are_served(tab, framing):
    """With a Content-Length the answer comes before the body; chunked, after ``max_request_size``."""
    db_url = new_db(tab, "big")
    path = urllib.parse.urlsplit(db_url).path + "/doc"
    length = b"Transfer-Encoding: chunked" if framing == "chunked" else b"Content-Length: %d" % BIG_BODY
    head = b"PUT %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n%s\r\n\r\n" % (
        path.encode(), length)
    deadline = time.monotonic() + 60
    with others_served(tab), _connect(tab) as sock:
        sock.sendall(head)
        sent = _stream_body(sock, framing, deadline)
        sock.setblocking(True)
        responses = _responses(_read_to_eof(sock, deadline))
    assert responses == [(413, {"error": "too_large", "reason": "Request body is too large"})]
    assert sent < BIG_BODY, "the tab read the whole body before refusing it"
    assert http("GET", db_url + "/doc")[0] == 404


def test_a_slowloris_client_is_closed_at_the_header_timeout(tab):
    """A head trickled a byte every 0.5 s: the driver closes the connection ``header_timeout`` after its
    first byte, without an answer, and serves others meanwhile."""
    trickle = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 1000
    with others_served(tab), _connect(tab) as sock:
        started = time.monotonic()
        closed_after, answer = _trickle(sock, trickle, started + HEADER_TIMEOUT + CLOSE_MARGIN)
    assert answer == b"", answer
    assert closed_after is not None, f"still open {HEADER_TIMEOUT + CLOSE_MARGIN:.0f} s after its first byte"
    assert HEADER_TIMEOUT - 1 <= closed_after <= HEADER_TIMEOUT + CLOSE_MARGIN, closed_after


def _trickle(sock, data, deadline):
    """Send ``data`` a byte every ``SLOWLORIS_INTERVAL`` until the server closes or ``deadline``;
    return ``(seconds until the close or None, what the server sent)``."""
    started, answer = time.monotonic(), b""
    for byte in data:
        if time.monotonic() > deadline:
            return None, answer
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started, answer
        if select.select([sock], [], [], SLOWLORIS_INTERVAL)[0]:
            try:
                chunk = sock.recv(CHUNK)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return time.monotonic() - started, answer
            answer += chunk
    raise AssertionError("the trickle ran out before the deadline")
