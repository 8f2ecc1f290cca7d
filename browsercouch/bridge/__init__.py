"""The socket bridge: a tiny native program that gives the serving browser page a listening TCP socket.

The browser starts it as a native messaging host of the browsercouch extension (``web/extension/``).
Control messages (listen, stop) travel over native messaging; the connections' bytes over one
token-protected WebSocket on 127.0.0.1 (``../frames.py``), because native messaging is slow for bulk data
(DESIGN.md section 5). The bridge never parses HTTP: the page runs the HTTP driver and the CouchDB API.
"""

# Its face: the constants, and two modules imported only by who needs them (``host`` pulls in websockets),
# the program the browser starts and its installer.
__all__ = ["HOST_NAME", "EXTENSION_ID", "FIREFOX_EXTENSION_ID", "host", "install"]

# The native messaging host's name, and the extension's fixed id (from the "key" in its manifest.json:
# the first 32 hex digits of the SHA-256 of the public key, digits mapped 0-f -> a-p).
HOST_NAME = "org.browsercouch.bridge"
EXTENSION_ID = "edappoeabkibckncmnabfemlfdbckanp"
FIREFOX_EXTENSION_ID = "bridge@browsercouch.org"
