"""The CouchDB HTTP API as one ASGI application, with no web framework.

``CouchApp(couch, admins=..., cors_origins=...)`` is the whole API over a ``store.Couch``: routing
(``routes.ROUTES``, one table), authentication and ``_security`` checks, CORS, and CouchDB's error JSON.
Any ASGI server runs it; browsercouch serves it with ``browsercouch.http``'s h11 driver, natively and in
the browser, and the tests also run it under uvicorn.
"""

from .app import CouchApp

__all__ = ["CouchApp"]
