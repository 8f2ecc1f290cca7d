"""CORS as CouchDB's ``[cors]`` section: off unless origins are configured, credentials allowed.

With ``"*"`` any origin is allowed, and the request's own origin is echoed back (a wildcard cannot be
combined with credentials, and CouchDB echoes it too).
"""

from .messages import Response

__all__ = ["Cors"]

# CouchDB's defaults for [cors] methods, headers and the headers a script may read.
ALLOW_METHODS = "GET, PUT, POST, HEAD, DELETE"
ALLOW_HEADERS = "accept, authorization, content-type, origin, referer, x-csrf-token"
EXPOSE_HEADERS = ("content-type, cache-control, accept-ranges, etag, server, x-couch-request-id, "
                  "x-couch-update-newrev, x-couchdb-body-time")
# How long a browser may cache a preflight answer, in seconds (CouchDB: [cors] max_age 600).
MAX_AGE = "600"


class Cors:
    def __init__(self, origins):
        self.origins = frozenset(origins)

    def _allowed(self, request):
        origin = request.headers.get("origin")
        if not origin or not self.origins:
            return None
        return origin if "*" in self.origins or origin in self.origins else None

    def preflight(self, request):
        """The answer to a CORS preflight ``OPTIONS``, or ``None`` if this is not one."""
        if request.method != "OPTIONS" or "access-control-request-method" not in request.headers:
            return None
        origin = self._allowed(request)
        if origin is None:
            return Response(200, content_type=None)
        requested = request.headers.get("access-control-request-headers", "")
        allow_headers = ", ".join(filter(None, [ALLOW_HEADERS, requested.lower()]))
        return Response(200, content_type=None, headers=[
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", ALLOW_METHODS),
            ("Access-Control-Allow-Headers", allow_headers),
            ("Access-Control-Max-Age", MAX_AGE),
            ("Vary", "Origin"),
        ])

    def headers(self, request):
        """Headers to add to an ordinary response for an allowed origin."""
        origin = self._allowed(request)
        if origin is None:
            return []
        return [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Expose-Headers", EXPOSE_HEADERS),
            ("Vary", "Origin"),
        ]
