"""A normal ``_changes`` feed streams: the server's peak memory while it sends the feed of a 200k-row
database stays within twice what the feed of a 20k-row one takes (it was built as one list, then one
bytes object, before ``store/changes.py``). Real ``browsercouch serve`` processes over SQLite files;
each starts fresh on its data, so its peak resident size (``VmHWM``) is the start plus the feed."""

import http.client
import sys

import pytest
from helpers import start_browsercouch

from browsercouch.store import Couch

pytestmark = [pytest.mark.native, pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/status")]

SMALL, LARGE = 20_000, 200_000
BATCH = 2_000


def _fill(data_dir, n_docs):
    couch = Couch(data_dir)
    db = couch.create_db("feed")
    for start in range(0, n_docs, BATCH):
        db.update_docs([{"_id": f"doc-{i:07}", "n": i, "text": "x" * 40}
                        for i in range(start, start + BATCH)])
    couch.close()


def _peak_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def _feed_peak(data_dir):
    """``(peak KiB of a fresh server after sending the whole feed, rows received)``."""
    server = start_browsercouch("--data", str(data_dir))
    try:
        port = int(server.url.rstrip("/").rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("GET", "/feed/_changes", headers={"Accept": "application/json"})
        response = conn.getresponse()
        rows = sum(line.startswith(b'{"seq"') for line in response.read().split(b"\n"))
        conn.close()
        return _peak_kib(server.proc.pid), rows
    finally:
        server.stop()


def test_the_normal_feed_of_a_large_database_streams(tmp_path):
    _fill(tmp_path / "small", SMALL)
    _fill(tmp_path / "large", LARGE)
    small_peak, small_rows = _feed_peak(tmp_path / "small")
    large_peak, large_rows = _feed_peak(tmp_path / "large")
    assert (small_rows, large_rows) == (SMALL, LARGE)
    assert large_peak < 2 * small_peak, f"peak {large_peak} KiB for {LARGE} rows, {small_peak} for {SMALL}"
