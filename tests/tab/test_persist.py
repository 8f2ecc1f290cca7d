"""``tab.persist``: a write is acknowledged only after a persist that covers it, persists are batched,
and a failed persist is a 500, never a false acknowledgement.

The persist here is real: it copies the changed files to a "saved" directory, as ``web/file-store.js``
copies them from the in-memory file system to IndexedDB in the tab. A write is durable when a ``Couch``
opened on the saved copy has it. Runs on CPython and inside Pyodide.
"""

import asyncio
import json
import os
import shutil
from pathlib import Path

from helpers import async_test

from browsercouch.api import CouchApp
from browsercouch.http import app_client
from browsercouch.store import Couch
from browsercouch.store.uploads import PART_SIZE
from browsercouch.tab.persist import Persister, acknowledge_after_persist

URL = "http://tab"


class Disk:
    """Saves changed files by copying them whole; ``delay`` makes a persist take that long."""

    def __init__(self, tmp_path, delay=0.0):
        self.data = tmp_path / "data"
        self.saved = tmp_path / "saved"
        self.delay = delay
        self.fail = False
        self.calls = 0

    async def persist(self, paths):
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail:
            raise OSError("QuotaExceededError: the browser refused to store more")
        self.saved.mkdir(exist_ok=True)
        for path in map(Path, paths):
            assert path.parent == self.data, f"{path} is not a file of the data directory"
            if path.exists():
                shutil.copyfile(path, self.saved / path.name)
            else:
                (self.saved / path.name).unlink(missing_ok=True)

    def saved_doc(self, db, doc_id):
        couch = Couch(str(self.saved))
        try:
            return couch.get_db(db).get(doc_id) if couch.exists(db) else None
        except Exception:
            return None
        finally:
            couch.close()


def open_tab(disk):
    persister = Persister(disk.persist)
    couch = Couch(str(disk.data), snapshots=True, on_change=persister.changed)
    app = acknowledge_after_persist(CouchApp(couch), persister)
    return couch, persister, app_client(app)


@async_test
async def test_an_acknowledged_write_is_already_saved(tmp_path):
    disk = Disk(tmp_path, delay=0.02)
    couch, persister, client = open_tab(disk)
    assert (await client.request("PUT", f"{URL}/db")).status == 201
    response = await client.request("PUT", f"{URL}/db/doc", {"content-type": "application/json"},
                                    b'{"n": 1}')
    assert response.status == 201
    # Nothing ran between the acknowledgement and this check: the copy must already hold the write.
    assert disk.saved_doc("db", "doc")["n"] == 1
    assert not persister.dirty
    await client.close()
    couch.close()


@async_test
async def test_reads_do_not_wait_for_a_persist(tmp_path):
    disk = Disk(tmp_path, delay=0.5)
    couch, persister, client = open_tab(disk)
    await client.request("PUT", f"{URL}/db")
    write = asyncio.ensure_future(client.request("PUT", f"{URL}/db/doc", {}, b"{}"))
    await asyncio.sleep(0.05)
    # The write is committed in memory and visible; its acknowledgement waits for the slow persist.
    read = await asyncio.wait_for(client.request("GET", f"{URL}/db/doc"), 0.4)
    assert read.status == 200 and not write.done()
    assert (await write).status == 201
    await client.close()
    couch.close()


@async_test
async def test_requests_that_change_nothing_do_not_wait(tmp_path):
    """The replicator's read-only POSTs and a refused write answer at once, even while a slow save of
    someone else's write runs."""
    disk = Disk(tmp_path, delay=0.5)
    couch, persister, client = open_tab(disk)
    await client.request("PUT", f"{URL}/db")
    first = await client.request("PUT", f"{URL}/db/doc", {}, b"{}")
    write = asyncio.ensure_future(client.request("PUT", f"{URL}/db/other", {}, b"{}"))
    await asyncio.sleep(0.05)
    for method, path, body in (("POST", "/db/_bulk_get", b'{"docs": [{"id": "doc"}]}'),
                               ("POST", "/db/_revs_diff", b'{"doc": ["1-abc"]}'),
                               ("PUT", "/db/doc", b"{}")):  # a conflict: nothing written
        response = await asyncio.wait_for(
            client.request(method, f"{URL}{path}", {"content-type": "application/json"}, body), 0.3)
        assert response.status in (200, 409), (path, response.status)
    assert not write.done() and first.status == 201
    assert (await write).status == 201
    await client.close()
    couch.close()


@async_test
async def test_concurrent_writes_share_persists(tmp_path):
    disk = Disk(tmp_path, delay=0.05)
    couch, persister, client = open_tab(disk)
    await client.request("PUT", f"{URL}/db")
    calls_before = disk.calls
    responses = await asyncio.gather(*(
        client.request("PUT", f"{URL}/db/doc{i}", {}, json.dumps({"i": i}).encode()) for i in range(40)))
    assert [r.status for r in responses] == [201] * 40
    # At most: the persist running when a write committed, plus the next one that covers it.
    assert disk.calls - calls_before <= 4
    for i in range(40):
        assert disk.saved_doc("db", f"doc{i}")["i"] == i
    await client.close()
    couch.close()


@async_test
async def test_a_write_is_acknowledged_while_other_changes_keep_coming(tmp_path):
    """Issue 12: under a steady stream of changes (a replication writing, other clients) a persist is
    always running; a write's answer waits for the persist that covers it, not for a quiet moment."""
    disk = Disk(tmp_path, delay=0.05)
    couch, persister, client = open_tab(disk)
    await client.request("PUT", f"{URL}/db")
    busy = couch.create_db("busy")
    streaming = True

    async def stream_changes():  # a change every 10 ms, as nobody-waits writes (bounded: 3 s at most)
        for i in range(300):
            if not streaming:
                return
            busy.put({"_id": f"doc{i}"})
            await asyncio.sleep(0.01)

    stream = asyncio.ensure_future(stream_changes())
    await asyncio.sleep(0.2)
    started = asyncio.get_running_loop().time()
    response = await client.request("PUT", f"{URL}/db/doc", {}, b"{}")
    took = asyncio.get_running_loop().time() - started
    stopped_early = not stream.done()
    streaming = False
    await stream
    assert response.status == 201
    assert stopped_early and took < 0.5, f"the write waited {took:.2f} s for the stream of changes to end"
    assert disk.saved_doc("db", "doc") is not None
    await client.close()
    couch.close()


@async_test
async def test_a_failed_persist_is_an_error_not_an_acknowledgement(tmp_path):
    disk = Disk(tmp_path)
    couch, persister, client = open_tab(disk)
    await client.request("PUT", f"{URL}/db")
    disk.fail = True
    response = await client.request("PUT", f"{URL}/db/doc", {}, b"{}")
    assert response.status == 500
    assert json.loads(response.body)["error"] == "persist_failed"
    assert disk.saved_doc("db", "doc") is None and persister.dirty
    # Once storage works again the next write persists everything, the earlier write included.
    disk.fail = False
    assert (await client.request("PUT", f"{URL}/db/other", {}, b"{}")).status == 201
    assert disk.saved_doc("db", "doc") is not None
    await client.close()
    couch.close()


@async_test
async def test_writes_nobody_waits_for_are_saved_together_after_a_moment(tmp_path):
    """The replicator writes to the store directly: its batches are saved ``idle_delay`` later, all in
    one persist, not one persist per batch."""
    disk = Disk(tmp_path)
    persister = Persister(disk.persist, idle_delay=0.2)
    couch = Couch(str(disk.data), snapshots=True, on_change=persister.changed)
    db = couch.create_db("db")
    # Ten batches, each giving the event loop a turn (no sleep: a loaded machine would stretch ten short
    # sleeps past ``idle_delay`` and the test would measure its load instead).
    for i in range(10):
        db.put({"_id": f"doc{i}"})
        await asyncio.sleep(0)
    assert disk.calls == 0 and persister.dirty
    for _ in range(100):
        if not persister.dirty:
            break
        await asyncio.sleep(0.02)
    assert disk.calls == 1
    assert disk.saved_doc("db", "doc9") is not None
    couch.close()


@async_test
async def test_a_deleted_database_is_forgotten_by_the_next_persist(tmp_path):
    disk = Disk(tmp_path)
    couch, persister, client = open_tab(disk)
    await client.request("PUT", f"{URL}/gone")
    assert (disk.saved / "gone.couch").exists()
    assert (await client.request("DELETE", f"{URL}/gone")).status == 200
    assert not (disk.saved / "gone.couch").exists()
    await client.close()
    couch.close()


def test_snapshot_storage_keeps_one_file_per_database(tmp_path):
    """No WAL or journal files beside a database between transactions: a snapshot of the directory is
    the databases, whole."""
    couch = Couch(str(tmp_path), snapshots=True)
    couch.create_db("db").put({"_id": "doc"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_config.json", "db.couch"]
    couch.close()


@async_test
async def test_an_attachment_stored_in_parts_is_saved_while_it_arrives(tmp_path):
    """Each part of a streamed attachment (``store/uploads.py``) is saved before the next one arrives,
    not ``idle_delay`` later: once the body is complete, little is left to save before the answer."""
    disk = Disk(tmp_path, delay=0.01)
    persister = Persister(disk.persist)
    couch = Couch(str(disk.data), snapshots=True, on_change=persister.changed)
    couch.create_db("db")
    await persister.flush()
    app = acknowledge_after_persist(CouchApp(couch), persister)
    body = os.urandom(3 * PART_SIZE)
    chunks = [body[start:start + PART_SIZE] for start in range(0, len(body), PART_SIZE)]
    saves_seen = []  # how many saves were done when each chunk arrived
    sent = []

    async def receive():
        await asyncio.sleep(0.1)  # the network
        saves_seen.append(disk.calls)
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "PUT", "path": "/db/doc/att", "raw_path": b"/db/doc/att",
             "query_string": b"", "headers": [(b"content-type", b"application/octet-stream")]}
    await app(scope, receive, send)
    assert sent[0]["status"] == 201
    assert saves_seen[1] > saves_seen[0] and saves_seen[2] > saves_seen[1]
    assert disk.saved_doc("db", "doc")["_attachments"]["att"]["length"] == len(body)
    couch.close()
