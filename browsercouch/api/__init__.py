"""The CouchDB HTTP API as one ASGI application, with no web framework.

``CouchApp(couch, admins=..., cors_origins=...)`` is the whole API over a ``store.Couch``: routing
(``routes.ROUTES``, one table), authentication and ``_security`` checks, CORS, and CouchDB's error JSON.
Any ASGI server runs it; browsercouch serves it with ``browsercouch.http``'s h11 driver, natively and in
the browser, and the tests also run it under uvicorn. The shells also get CouchDB's password hashing
(``hash_password`` and the ``-pbkdf2-`` admin format of ``local.ini``) and the scope extension that marks
the hosting page's own requests (``PAGE_EXTENSION``).
"""

from .app import PAGE_EXTENSION, CouchApp
from .auth import format_admin_hash, hash_password, parse_admin_hash, pbkdf2_inline

__all__ = ["CouchApp", "PAGE_EXTENSION", "hash_password", "format_admin_hash", "parse_admin_hash",
           "pbkdf2_inline"]
