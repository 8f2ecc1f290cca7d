"""browsercouch in a browser tab: what the page's JavaScript calls.

    tab = await open_tab("/browsercouch", persist)     # persist: async JS function, FS.syncfs(false)
    response = await tab.request(method, path, headers, body)   # {status, headers, body: Uint8Array}

The databases live under ``data_dir`` in Emscripten's file system (an IDBFS mount the page has already
synced from IndexedDB); every write is acknowledged only after ``persist`` saved it (``persist.py``).
Requests go through the same HTTP driver as a network peer's would (h11 over a memory pipe), so the page
sees exactly what a CouchDB client sees. Remote peers are reached with ``fetch`` (``fetch.py``).
"""

import js
from pyodide.ffi import JsProxy, to_js

from ..api import CouchApp
from ..replicator import app_client
from ..store import Couch
from .fetch import FetchClient
from .persist import Persister, acknowledge_after_persist

__all__ = ["Tab", "open_tab"]

# The in-process connections' URL: the host only names the connection pool.
TAB_URL = "http://tab"


def _to_py(value):
    if isinstance(value, JsProxy):
        return value.to_bytes() if hasattr(value, "to_bytes") else value.to_py()
    return value


def _to_js(value):
    """Dicts as plain JavaScript objects (not Maps), bytes as a Uint8Array."""
    return to_js(value, dict_converter=js.Object.fromEntries)


class Tab:
    """One tab's server: ``couch`` (the store), ``app`` (the ASGI app, writes acknowledged once persisted)
    and ``persister``."""

    def __init__(self, couch, app, persister):
        self.couch = couch
        self.app = app
        self.persister = persister
        self._client = app_client(app)

    @property
    def uuid(self):
        return self.couch.uuid

    async def request(self, method, path, headers=None, body=None):
        """One whole request from the page: ``{status, headers, body}`` as a JavaScript object."""
        headers, body = _to_py(headers) or {}, _to_py(body)
        response = await self._client.request(str(method), TAB_URL + str(path), dict(headers), body)
        return _to_js({"status": response.status, "headers": response.headers, "body": response.body})

    def stats(self):
        """What the page shows about storage: persists done and the last persist error."""
        error = self.persister.last_error
        return _to_js({"persists": self.persister.persists, "dirty": self.persister.dirty,
                       "last_error": None if error is None else str(error)})


async def open_tab(data_dir, persist):
    """Open the databases under ``data_dir``; ``persist`` is the page's async function that saves them."""
    persister = Persister(persist)
    couch = Couch(str(data_dir), snapshots=True, on_change=persister.changed)
    app = CouchApp(couch, http_client=FetchClient())
    await persister.flush()
    return Tab(couch, acknowledge_after_persist(app, persister), persister)
