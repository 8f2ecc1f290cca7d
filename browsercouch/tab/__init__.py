"""browsercouch inside a browser tab (Pyodide): the entry points the page's JavaScript calls (``entry``),
the ``fetch`` HTTP client, persistence that acknowledges a write once it is saved, the server of a byte
channel's connections, links to other browsers over WebRTC, and the QuickJS engine design functions run
in (``quickjs``).

``persist``, ``channel``, ``peers`` and ``loop`` are plain asyncio and also run on CPython (the tests drive
them there too, and the native WebRTC peer, ``browsercouch.webrtc``, links to browsers with ``PeerLink``
and ``PeerRouter``); ``entry``, ``fetch``, ``webcrypto`` and ``quickjs`` need Pyodide, so import them as
``browsercouch.tab.entry`` (and so on) inside Pyodide only. This package is named for where it runs;
``browsercouch browser`` is the command that starts a browser whose tab runs it.
"""

from .peers import PeerLink, PeerRouter

__all__ = ["PeerLink", "PeerRouter"]
