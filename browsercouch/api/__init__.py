"""The CouchDB HTTP API as one ASGI application, with no web framework.

``CouchApp(couch, admins=..., cors_origins=...)`` is the whole API over a ``store.Couch``: routing
(``routes.ROUTES``, one table), authentication and ``_security`` checks, CORS, and CouchDB's error JSON.
Any ASGI server runs it: uvicorn natively, ``browsercouch.http``'s h11 driver over any byte stream.
"""

from .app import CouchApp

__all__ = ["CouchApp"]
