"""browsercouch in a browser tab: what the page's JavaScript calls.

    tab = await open_tab("/browsercouch", persist, quickjs)   # persist(paths): async JS function saving
                                    # files; quickjs: quickjs-engine.js's engine, for design functions
    response = await tab.request(method, path, headers, body)   # {status, headers, body: Uint8Array}
    tab.serve(send, admin, cors, hostnames)  # serve the socket bridge's connections (send: WebSocket.send)
    tab.receive(message)        # each WebSocket message from the bridge
    tab.peer_open(link, uuid, send)   # a WebRTC link to browser ``uuid``; send(direction, bytes)
    tab.peer_receive(link, direction, message)   # each of its data channels' messages
    tab.peer_closed(link)       # the link is gone

The databases live under ``data_dir`` in Emscripten's memory file system (loaded by the page from OPFS
or IndexedDB); every write is acknowledged only after ``persist`` saved it (``persist.py``).
Requests go through the same HTTP driver as a network peer's would (h11 over a memory pipe), so the page
sees exactly what a CouchDB client sees; they are its owner's and count as a server admin's. Network
peers come through the bridge (``channel.py``) and must log in once an admin is set. Remote peers are
reached with ``fetch`` (``fetch.py``), and other browsers over WebRTC links the page pairs (``peers.py``).
Passwords are checked with WebCrypto (``webcrypto.py``), off the interpreter's thread, so a peer sending
wrong passwords cannot stall the tab.
"""

import asyncio
import ipaddress
import logging

import js
from pyodide.ffi import JsProxy, to_js

from ..api import PAGE_EXTENSION, CouchApp
from ..frames import FrameError
from ..http import PooledClient, open_app
from ..store import Couch
from .channel import ChannelServer
from .fetch import FetchClient
from .loop import batch_call_soon
from .peers import PeerLink, PeerRouter
from .persist import Persister, acknowledge_after_persist
from .quickjs import QuickJSEngine
from .webcrypto import webcrypto_pbkdf2

__all__ = ["Tab", "open_tab"]

log = logging.getLogger("browsercouch.tab")

# The in-process connections' URL: the host only names the connection pool.
TAB_URL = "http://tab"


def _to_py(value):
    if isinstance(value, JsProxy):
        return value.to_bytes() if hasattr(value, "to_bytes") else value.to_py()
    return value


def _to_js(value):
    """Dicts as plain JavaScript objects (not Maps), bytes as a Uint8Array."""
    return to_js(value, dict_converter=js.Object.fromEntries)


def _admin_creds(admin):
    """CouchDB's credential fields for the admin the page derived with WebCrypto (PBKDF2-SHA256)."""
    return {"password_scheme": "pbkdf2", "pbkdf2_prf": "sha256", "iterations": int(admin["iterations"]),
            "salt": str(admin["salt"]), "derived_key": str(admin["derived_key"])}


class Tab:
    """One tab's server: ``couch`` (the store), ``couch_app`` (the CouchDB API), ``app`` (the same, with
    writes acknowledged once persisted), ``persister`` and, while serving, ``channel``."""

    def __init__(self, couch, couch_app, persister, peer_links):
        self.couch = couch
        self.couch_app = couch_app
        self.app = acknowledge_after_persist(couch_app, persister)
        self.persister = persister
        self.channel = None
        self._links = {}  # link id -> PeerLink
        self._peer_links = peer_links  # peer uuid -> its latest PeerLink (the router's view)
        self._client = PooledClient(self._connect_page)

    async def _connect_page(self, scheme, host, port):
        return await open_app(self.app, server=(host, port), scheme=scheme, extensions={PAGE_EXTENSION: {}})

    def serve(self, send, admin=None, cors=(), hostnames=()):
        """Serve the socket bridge's connections from now on; ``send`` sends one WebSocket message (a
        Uint8Array) to the bridge. ``admin`` (``{name, password, salt, derived_key, iterations}``) is the
        server admin peers must log in as; with none, only loopback connections are served. ``cors``
        lists the web origins allowed by CORS (``"*"`` for any), as ``browsercouch serve --cors``;
        ``hostnames`` the names peers may reach the tab by besides its addresses (``--hostname``)."""
        self.stop_serving()
        self.couch_app.allow_origins(str(origin) for origin in (_to_py(cors) or ()))
        self.couch_app.authenticator.clear_admins()
        admin = _to_py(admin)
        if admin:
            self.couch_app.authenticator.add_admin(str(admin["name"]), _admin_creds(admin),
                                                   password=str(admin["password"]))
        self.channel = ChannelServer(self.app, lambda message: send(to_js(message)), accept=self._accept,
                               hostnames=[str(name) for name in (_to_py(hostnames) or ())])

    def _accept(self, peer, local):
        """Never serve a network peer without credentials (the native CLI refuses such a bind too)."""
        return not self.couch_app.admin_party or ipaddress.ip_address(local[0]).is_loopback

    def receive(self, message):
        """One WebSocket message from the bridge (a Uint8Array)."""
        if self.channel is not None:
            self.channel.receive(_to_py(message))

    def stop_serving(self):
        """The bridge or its WebSocket is gone: end every served connection."""
        channel, self.channel = self.channel, None
        if channel is not None:
            asyncio.ensure_future(channel.close())

    def peer_open(self, link, peer_uuid, send):
        """A WebRTC link ``link`` (an id) to the browser whose server uuid is ``peer_uuid`` has a channel
        open; ``send(direction, message)`` sends a Uint8Array on the ``"requests"`` or ``"served"``
        channel. Replaces any older link to that peer."""
        peer_uuid = str(peer_uuid)
        opened = PeerLink(self.app, self.uuid, peer_uuid,
                          lambda message: send("requests", to_js(message)),
                          lambda message: send("served", to_js(message)))
        self._links[str(link)] = opened
        old = self._peer_links.get(peer_uuid)
        self._peer_links[peer_uuid] = opened
        if old is not None:
            asyncio.ensure_future(old.close())

    def peer_receive(self, link, direction, message):
        """One message from a data channel of ``link``. ``False`` when it was not a frame: the link is
        closed then, and the page must close its connection (a peer that breaks the protocol is dropped)."""
        opened = self._links.get(str(link))
        if opened is None:
            return True
        try:
            opened.receive(str(direction), _to_py(message))
        except FrameError as error:
            log.warning("dropping the WebRTC link to %s: %s", opened.peer_uuid, error)
            self.peer_closed(link)
            return False
        return True

    def peer_closed(self, link):
        """The page closed ``link``: its connections end; requests to the peer fail until it pairs again."""
        closed = self._links.pop(str(link), None)
        if closed is None:
            return
        if self._peer_links.get(closed.peer_uuid) is closed:
            del self._peer_links[closed.peer_uuid]
        asyncio.ensure_future(closed.close())

    def peers(self):
        """The WebRTC links, as the page shows them."""
        return _to_js([{"link": link, **opened.stats()} for link, opened in self._links.items()])

    @property
    def uuid(self):
        return self.couch.uuid

    async def request(self, method, path, headers=None, body=None):
        """One whole request from the page: ``{status, headers, body}`` as a JavaScript object."""
        headers, body = _to_py(headers) or {}, _to_py(body)
        response = await self._client.request(str(method), TAB_URL + str(path), dict(headers), body)
        return _to_js({"status": response.status, "headers": response.headers, "body": response.body})

    def stats(self):
        """What the pages show: persists done, the last persist error and, while serving, connections,
        requests and the last lines of the access log."""
        error = self.persister.last_error
        serving = self.channel.stats() if self.channel is not None else {}
        return _to_js({"persists": self.persister.persists, "dirty": self.persister.dirty,
                       "last_error": None if error is None else str(error),
                       "serving": self.channel is not None, **serving})


async def open_tab(data_dir, persist, quickjs=None):
    """Open the databases under ``data_dir``; ``persist`` is the page's async function that saves them,
    ``quickjs`` the engine of ``quickjs-engine.js`` that views, validation and filters run in (without
    one they answer 501)."""
    batch_call_soon(asyncio.get_running_loop())
    persister = Persister(persist)
    js_engine = QuickJSEngine(quickjs) if quickjs is not None else None
    couch = Couch(str(data_dir), snapshots=True, on_change=persister.changed, flush=persister.flush,
                  js_engine=js_engine)
    peer_links = {}
    couch_app = CouchApp(couch, http_client=PeerRouter(FetchClient(), peer_links), pbkdf2=webcrypto_pbkdf2)
    await persister.flush()
    return Tab(couch, couch_app, persister, peer_links)
