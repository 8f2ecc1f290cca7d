"""browsercouch inside a browser tab (Pyodide): the entry points the page's JavaScript calls (``entry``),
the ``fetch`` HTTP client, persistence that acknowledges a write once it is saved, the server of a byte
channel's connections, and links to other browsers over WebRTC.

``persist``, ``channel``, ``peers`` and ``loop`` are plain asyncio and also run on CPython (the tests drive
them there too, and the native WebRTC peer, ``browsercouch.webrtc``, links to browsers with ``PeerLink``
and ``PeerRouter``); ``entry``, ``fetch`` and ``webcrypto`` need Pyodide's ``js`` module, so import them as
``browsercouch.tab.entry`` inside Pyodide only. This package is named for where it runs; ``browsercouch
browser`` is the command that starts a browser whose tab runs it.
"""

from .peers import PeerLink, PeerRouter

__all__ = ["PeerLink", "PeerRouter"]
