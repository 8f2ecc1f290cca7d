"""The CouchDB HTTP API as one ASGI 3 application.

For each request: CORS preflight and headers (``cors.py``), authentication (``auth.Authenticator``),
routing (``routes.py``), the access check of the route against the user and the database's
``_security``, then the handler. Every ``CouchError`` raised anywhere below becomes CouchDB's
``{"error", "reason"}`` JSON here, and only here; anything else is logged and answered 500.
"""

import logging
import time

from ..errors import BadRequest, CouchError, InternalError, MethodNotAllowed, NotFound
from . import auth, routes
from .cors import Cors
from .messages import DEFAULT_MAX_REQUEST_SIZE, ClientGone, JSONResponse, Request
from .scheduler import Scheduler

__all__ = ["CouchApp"]

log = logging.getLogger("browsercouch.api")

# The ASGI scope extension of requests from the page that hosts the databases in a browser (its owner's
# own UI, ``tab.entry``): they are server admin requests, whatever network peers must prove.
PAGE_EXTENSION = "browsercouch.page"


class CouchApp:
    """The ASGI app over a ``store.Couch``.

    ``admins`` maps user names to password hashes (``auth.hash_password`` dicts); with none, every request
    is a server admin ("admin party", for loopback binds only: the CLI refuses otherwise).
    ``cors_origins`` lists allowed origins (``"*"`` for any); empty disables CORS.
    ``password_iterations`` is the PBKDF2 cost of passwords written to ``_users``.
    ``http_client`` is the ``replicator.HttpClient`` replications use for remote peers (native asyncio
    by default; the browser passes its ``fetch()`` client).
    ``pbkdf2`` derives password keys (``auth.Pbkdf2``): on the serving loop unless the shell passes one
    that runs elsewhere (a worker thread natively, WebCrypto in the browser).
    """

    def __init__(self, couch, *, admins=None, cors_origins=(), max_request_size=DEFAULT_MAX_REQUEST_SIZE,
                 session_timeout=auth.SESSION_TIMEOUT, password_iterations=auth.PBKDF2_ITERATIONS,
                 http_client=None, pbkdf2=auth.pbkdf2_inline):
        self.couch = couch
        self.password_iterations = password_iterations
        self.pbkdf2 = pbkdf2
        self.max_request_size = max_request_size
        self.cors = Cors(cors_origins)
        self.authenticator = auth.Authenticator(
            admins=admins or {}, secret=couch.config["secret"], lookup_user=self._lookup_user,
            timeout=session_timeout, pbkdf2=pbkdf2)
        self.started = time.time()
        self.scheduler = Scheduler(couch, http_client)

    def allow_origins(self, origins):
        """Allow these web origins by CORS from now on (``"*"`` for any; none disables CORS)."""
        self.cors = Cors(origins)

    @property
    def admin_party(self):
        return not self.authenticator.admins

    def _lookup_user(self, name):
        if not self.couch.exists("_users"):
            return None
        try:
            return self.couch.get_db("_users").get("org.couchdb.user:" + name)
        except CouchError:
            return None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self.scheduler.ensure_started()
        request = Request(scope, receive, max_request_size=self.max_request_size)
        request.app = self
        preflight = self.cors.preflight(request)
        if preflight is not None:
            await preflight.send(send)
            return
        try:
            response = await self._respond(request)
        except ClientGone:
            return
        for header in self.cors.headers(request):
            response.add_header(*header)
        await response.send(send, head=request.method == "HEAD")

    async def _respond(self, request):
        try:
            return await self._dispatch(request)
        except CouchError as err:
            return _error_response(err)
        except ClientGone:
            raise
        except Exception:
            log.exception("error handling %s %s", request.method, request.scope.get("path"))
            return _error_response(InternalError())

    async def _dispatch(self, request):
        request.user, set_cookie = await self._authenticate(request)
        access, handler, params = routes.match(request.method, request.segments)
        if access is None:
            if handler:
                raise MethodNotAllowed(f"Only {','.join(handler)} allowed")
            raise NotFound("Database does not exist.")
        request.params = params
        self._authorize(request, access)
        _check_utf8(request.method, params)
        response = await handler(request)
        if set_cookie:
            response.add_header("Set-Cookie", set_cookie)
        return response

    async def _authenticate(self, request):
        if self.admin_party or PAGE_EXTENSION in request.scope.get("extensions", ()):
            return auth.UserCtx(None, ("_admin",)), None
        return await self.authenticator.authenticate(request.headers, time.time(), request.client_address)

    def _authorize(self, request, access):
        """Raise 401/403 unless the route's access level admits ``request.user``; resolve ``request.db``."""
        user = request.user
        if access == routes.PUBLIC:
            return
        if access in (routes.SERVER_ADMIN, routes.CREATE):
            auth.check_server_admin(user)
            return
        # A missing database is 404 for everyone, anonymous users too, as in CouchDB 3.4
        # (chttpd_db:do_db_req/2 opens the database before it checks the reader).
        request.db = self.couch.get_db(request.params["db"])
        if access == routes.DB_ADMIN:
            auth.check_db_admin(user, request.db.security)
        else:
            auth.check_db_reader(user, request.db.security)

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.scheduler.ensure_started()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.scheduler.stop()
                self.couch.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _check_utf8(method, params):
    """Answer as CouchDB 3.4 does for a path segment that is not UTF-8 (``Request`` keeps its bytes as
    surrogate escapes, apart from every valid name): no document or attachment can have such a name, so
    reading one finds nothing and writing one is refused; a database name shows U+FFFD in errors."""
    for key, value in params.items():
        if value.isascii() or not _has_surrogates(value):
            continue
        if key == "db":
            params[key] = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        elif key == "doc":
            if method == "PUT":
                raise BadRequest("Document id must be valid UTF-8", error="illegal_docid")
            raise NotFound("missing")
        elif key == "att" and method in ("PUT", "DELETE"):
            raise BadRequest("Attachment name is not UTF-8 encoded")


def _has_surrogates(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _error_response(err):
    return JSONResponse(err.to_json(), status=err.status, headers=list(err.headers))
