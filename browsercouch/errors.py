"""The CouchDB errors, one class each.

Every error a client can see is raised as one of these, deep in the code, and turned into
``{"error": ..., "reason": ...}`` JSON in one place at the API edge (``api.app``). The HTTP client maps
error JSON back to the same classes (``from_response``), so a caller catches ``NotFound`` whether the
database is local or remote. Names and statuses follow Apache CouchDB 3.x (``chttpd:error_info/1``).
"""

__all__ = [
    "CouchError",
    "BadRequest",
    "IllegalDocId",
    "IllegalDatabaseName",
    "DocValidation",
    "QueryParseError",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "NotAcceptable",
    "Conflict",
    "FileExists",
    "PreconditionFailed",
    "MissingStub",
    "TooLarge",
    "BadContentType",
    "RangeNotSatisfiable",
    "TooManyRequests",
    "InternalError",
    "ReplicationCancelled",
    "ReplicationError",
    "NotImplementedFeature",
    "BadPeerResponse",
    "ServiceUnavailable",
    "PeerUnavailable",
    "CompilationError",
    "InvalidDesignDoc",
    "QueryServerError",
    "JsEngineError",
    "JsTimeout",
    "JsOutOfMemory",
    "from_response",
]


class CouchError(Exception):
    """Base class: an HTTP status, a CouchDB error name and a human reason. ``headers`` are sent with the
    error answer (a failed login's ``Set-Cookie`` that clears the session)."""

    status = 500
    error = "unknown_error"
    reason = "Unknown error."
    headers = ()
    # CouchDB's ``ref`` of an error it caught with a stack trace: a number naming that trace, answered
    # as a member and as ``X-Couch-Stack-Hash`` (``chttpd:send_error/6``).
    ref = None

    def __init__(self, reason=None, *, error=None):
        self.reason = reason if reason is not None else type(self).reason
        if error is not None:
            self.error = error
        super().__init__(self.reason)

    def to_json(self):
        if self.ref is None:
            return {"error": self.error, "reason": self.reason}
        return {"error": self.error, "reason": self.reason, "ref": self.ref}

    def with_ref(self, ref):
        """This error as CouchDB answers it with a stack trace named ``ref``."""
        self.ref = ref
        self.headers = [*self.headers, ("X-Couch-Stack-Hash", str(ref))]
        return self

    def __repr__(self):
        return f"{type(self).__name__}({self.reason!r})"


class BadRequest(CouchError):
    status, error, reason = 400, "bad_request", "Bad request."


class IllegalDocId(BadRequest):
    error = "illegal_docid"


class IllegalDatabaseName(BadRequest):
    error = "illegal_database_name"


class DocValidation(BadRequest):
    """A document member CouchDB refuses (``couch_doc:transfer_fields/3``)."""

    error = "doc_validation"


class QueryParseError(BadRequest):
    """A view or ``_all_docs`` parameter that does not parse (``couch_mrview_http``)."""

    error = "query_parse_error"


class Unauthorized(CouchError):
    status, error, reason = 401, "unauthorized", "You are not authorized to access this db."


class Forbidden(CouchError):
    status, error, reason = 403, "forbidden", "You are not allowed to access this db."


class NotFound(CouchError):
    status, error, reason = 404, "not_found", "missing"


class MethodNotAllowed(CouchError):
    status, error, reason = 405, "method_not_allowed", "Method not allowed."


class NotAcceptable(CouchError):
    status, error, reason = 406, "not_acceptable", "Not acceptable."


class Conflict(CouchError):
    status, error, reason = 409, "conflict", "Document update conflict."


class FileExists(CouchError):
    status, error, reason = 412, "file_exists", "The database could not be created, the file already exists."


class PreconditionFailed(CouchError):
    status, error, reason = 412, "precondition_failed", "Precondition failed."


class MissingStub(CouchError):
    status, error, reason = 412, "missing_stub", "Attachment stub has no matching attachment."


class TooLarge(CouchError):
    status, error, reason = 413, "too_large", "The request entity is too large."


class BadContentType(CouchError):
    status, error, reason = 415, "bad_content_type", "Content-Type must be application/json"


class RangeNotSatisfiable(CouchError):
    status, error, reason = 416, "requested_range_not_satisfiable", "Requested range not satisfiable"


class TooManyRequests(CouchError):
    """Refused for now: try again after ``retry_after`` seconds (sent as ``Retry-After``)."""

    status, error, reason = 429, "too_many_requests", "Too many requests; try again later."

    def __init__(self, reason=None, *, retry_after):
        super().__init__(reason)
        self.retry_after = retry_after
        self.headers = [("Retry-After", str(retry_after))]


class InternalError(CouchError):
    status, error, reason = 500, "internal_server_error", "Internal server error."


class ReplicationCancelled(CouchError):
    """The answer to a one-shot ``POST /_replicate`` whose job another request cancelled."""

    status, error, reason = 500, "replication_cancelled", "The replication was cancelled."


class ReplicationError(CouchError):
    """A replication job failed; ``reason`` says which peer and why, ``cause`` is the original error."""

    def __init__(self, reason, cause):
        super().__init__(reason, error=getattr(cause, "error", "replication_failed"))
        self.status = getattr(cause, "status", 500)
        self.cause = cause


class NotImplementedFeature(CouchError):
    """A CouchDB feature browsercouch does not have (yet); the reason names it."""

    status, error, reason = 501, "not_implemented", "this feature is not yet implemented"


class BadPeerResponse(CouchError):
    """A replication peer answered, but not with the JSON the protocol expects."""

    status, error, reason = 502, "bad_peer_response", "The peer sent a malformed answer."


class ServiceUnavailable(CouchError):
    status, error, reason = 503, "service_unavailable", "Service unavailable."


class PeerUnavailable(ServiceUnavailable):
    """A replication peer could not be reached, broke the connection, or stayed silent too long."""

    error = "peer_unavailable"


class CompilationError(BadRequest):
    """A design function that does not compile (``couch_query_servers:try_compile/4``)."""

    error = "compilation_error"


class InvalidDesignDoc(BadRequest):
    """A design document of the wrong shape (``couch_mrview:validate/2``)."""

    error = "invalid_design_doc"


class QueryServerError(CouchError):
    """An error a design function's run reports (``["error", name, reason]`` of the query server
    protocol); CouchDB answers it 500 with the JavaScript error's name."""

    status, error, reason = 500, "unknown_error", "The query server reported an error."


class JsEngineError(CouchError):
    """The JavaScript engine itself failed: CouchDB's couchjs process died (``couch_os_process``)."""

    status, error, reason = 500, "os_process_error", "The JavaScript engine failed."


class JsTimeout(JsEngineError):
    """A design function ran past the time limit ([query_server_config] os_process_timeout)."""

    reason = "OS process timed out."


class JsOutOfMemory(JsEngineError):
    """A design function used more memory than its context may."""

    reason = "{exit_status,1}"


_BY_STATUS = {
    cls.status: cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, NotAcceptable, Conflict,
                PreconditionFailed, TooLarge, BadContentType, RangeNotSatisfiable, InternalError,
                ServiceUnavailable)
}
_BY_NAME = {"file_exists": FileExists, "missing_stub": MissingStub}


def from_response(status, body):
    """The error class instance for an HTTP error answer (``body`` is the decoded JSON, or anything)."""
    name = body.get("error") if isinstance(body, dict) else None
    reason = body.get("reason") if isinstance(body, dict) else None
    cls = _BY_NAME.get(name) or _BY_STATUS.get(status, CouchError)
    err = cls(reason if isinstance(reason, str) else None, error=name if isinstance(name, str) else None)
    if cls is CouchError:
        err.status = status
    return err
