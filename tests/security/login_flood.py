"""A login flood against a running server: wrong-password clients hammer it while a prober times
``GET /_up`` (issue 12, item 2).

Every loop is bounded by a deadline and every request by a timeout, so a stalled server makes the test
fail slowly, never hang. Only loopback addresses are used; ``source`` picks the client's own loopback
address (``127.0.0.2``...) so one test can be several peers.
"""

import base64
import http.client
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

# Seconds one request may take before the client gives up on it (a stalled server answers much later).
REQUEST_TIMEOUT = 60.0
# The prober's pause between two ``GET /_up``: about 20 samples a second.
PROBE_INTERVAL = 0.05


def basic(name, password):
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


class Peer:
    """Keep-alive requests to ``url`` from the loopback address ``source`` (reconnecting when the server
    closes); ``request()`` returns ``(status, headers, body bytes)``."""

    def __init__(self, url, source="127.0.0.1", timeout=REQUEST_TIMEOUT):
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname in ("127.0.0.1", "localhost"), "loopback targets only"
        self.host, self.port, self.source, self.timeout = parts.hostname, parts.port, source, timeout
        self.conn = None

    def request(self, method, path, headers=None, body=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout,
                                                       source_address=(self.source, 0))
            try:
                self.conn.request(method, path, body=body, headers={"Accept": "application/json",
                                                                    **(headers or {})})
                response = self.conn.getresponse()
                return response.status, response.headers, response.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class FloodResult:
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    up_ms: list = field(default_factory=list)

    def percentile(self, fraction):
        ordered = sorted(self.up_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("inf")

    def summary(self):
        return (f"/_up p50 {self.percentile(0.5):.1f} ms, p99 {self.percentile(0.99):.1f} ms, "
                f"max {max(self.up_ms, default=float('inf')):.1f} ms over {len(self.up_ms)} probes; "
                f"attack answers {dict(self.statuses)}, errors {dict(self.errors)}")


def flood(url, name, *, clients=8, seconds=10.0, path="/_session", source="127.0.0.1"):
    """``clients`` threads send ``GET path`` with Basic ``name`` and a wrong password (a new one each
    time) for ``seconds``, while the calling thread times ``GET /_up`` from another connection.
    Returns a ``FloodResult``; every thread is joined before it returns."""
    result = FloodResult()
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def attack(number):
        peer, attempt = Peer(url, source), 0
        while time.monotonic() < deadline:
            attempt += 1
            try:
                guess = basic(name, f"guess-{number}-{attempt}")
                status, _, _ = peer.request("GET", path, {"Authorization": guess})
            except OSError as err:
                peer.close()
                with lock:
                    result.errors[type(err).__name__] += 1
                continue
            with lock:
                result.statuses[status] += 1
        peer.close()

    threads = [threading.Thread(target=attack, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    prober = Peer(url, source)
    time.sleep(0.5)  # let the attack start before measuring
    while time.monotonic() < deadline:
        started = time.perf_counter()
        status, _, _ = prober.request("GET", "/_up")
        result.up_ms.append((time.perf_counter() - started) * 1000)
        assert status == 200
        time.sleep(PROBE_INTERVAL)
    prober.close()
    for thread in threads:
        thread.join(REQUEST_TIMEOUT + 5)
    assert not any(thread.is_alive() for thread in threads), "an attacker is still stuck"
    return result
