"""The Python half of the persist benchmark (``persist-worker.js``): fill, touch and check one database.

Runs inside Pyodide, on browsercouch's store directly (no HTTP): the worker writes this file into
Emscripten's file system, imports it and calls these functions. The documents have the shape of
``bench/bench_server.py``'s (about 300 bytes of JSON each).
"""

import os
import random
import shutil

from browsercouch.store import Couch

__all__ = ["Writer", "copy_tree", "fill", "list_files", "tree_size"]

DB_NAME = "bench"
# Documents per transaction while filling: large batches, as a replication or an import would write.
BATCH = 1000


def _doc(doc_id, n, rng):
    return {"_id": doc_id, "type": "bench", "n": n, "payload": rng.randbytes(96).hex()}


def fill(data_dir, count):
    """Create database ``bench`` under ``data_dir`` with ``count`` documents; return its ``doc_count``.

    Raises ``RuntimeError`` if a document is refused.
    """
    rng = random.Random(1)
    couch = Couch(data_dir, snapshots=True)
    try:
        db = couch.create_db(DB_NAME)
        for start in range(0, count, BATCH):
            docs = [_doc(f"doc-{i:06d}", i, rng) for i in range(start, min(count, start + BATCH))]
            refused = [row for row in db.update_docs(docs) if "error" in row]
            if refused:
                raise RuntimeError(f"fill refused {len(refused)} docs: {refused[0]['reason']}")
        return db.info()["doc_count"]
    finally:
        couch.close()


def copy_tree(source, target):
    """Copy the files of directory ``source`` (flat, as a data directory is) into ``target``."""
    for name in os.listdir(source):
        shutil.copyfile(os.path.join(source, name), os.path.join(target, name))


def list_files(path):
    """The paths of the files in directory ``path`` (flat), sorted."""
    return sorted(os.path.join(path, name) for name in os.listdir(path))


def tree_size(path):
    """Bytes in the files of directory ``path`` (flat)."""
    return sum(os.path.getsize(os.path.join(path, name)) for name in os.listdir(path))


class Writer:
    """The database ``bench`` under ``data_dir``, open for single-document writes.

    Like the tab, it notes the files each commit changed (``Couch``'s ``on_change``): ``take_changed()``
    gives them to the save that follows.
    """

    def __init__(self, data_dir):
        self._changed = set()
        self.couch = Couch(data_dir, snapshots=True, on_change=self._changed.add)
        self.db = self.couch.get_db(DB_NAME)
        self.rng = random.Random(2)

    def take_changed(self):
        """The paths changed since the last call, sorted."""
        paths = sorted(self._changed)
        self._changed.clear()
        return paths

    def write_one(self, n):
        """Write one new ~300-byte document (committed before this returns)."""
        self.db.put(_doc(f"extra-{n:06d}", n, self.rng))

    def doc_count(self):
        return self.db.info()["doc_count"]

    def close(self):
        self.couch.close()
