"""browsercouch: a CouchDB-compatible document database and replicator in pure Python.

Layers, imports pointing down: ``store`` (SQLite documents and revision trees), ``api`` (the CouchDB
HTTP API as one ASGI application), ``http`` (a sans-IO HTTP/1.1 driver that runs any ASGI app over any
byte stream). ``cli`` is the native entry point.
"""

# The one place the version is written: pyproject.toml, the server's welcome (vendor.version), the
# extension's manifest and the web app's footer (its wheel's version in the Pyodide lock) take it from here.
__version__ = "0.1.0"
