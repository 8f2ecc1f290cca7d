"""The differences from CouchDB 3.4.3 we keep, each with a one-line reason (``compare.Allowed``).

An entry names a step id (``scenario:step``, a glob), a place in the answer (a glob on paths such as
``body.rows[0].id`` or ``headers.etag``) and, where it matters, the values it excuses. Reasons starting
``PENDING(lead):`` are differences to fix in files being changed now (``store/``, ``api/documents.py``,
``api/attachments.py``); when one is fixed, its entry stops matching and ``test_corpus`` says so, so the
entry goes and the corpus keeps the fix. Entries for ``generated:*`` steps are the exception: the
generated corpus need not meet all of them in one run.
"""

from .compare import Allowed

__all__ = ["ALLOWED"]

IDENTITY = "the welcome names the server: browsercouch, its version, and no CouchDB-only features"
CRASH = "CouchDB crashes on this input (500 with an Erlang term); we answer 4xx with a reason"
SEQUENCE_FORMAT = "sequence format: ours are integers, so a plain number is a valid `since` here"
UPDATE_SEQ = "CouchDB counts `_security` and `_revs_limit` writes in update_seq; we count document updates"
METHODS = "405 reasons list the allowed methods in another order (CouchDB writes each list by hand)"
CLEARED_COOKIE = "a cleared session cookie expires at once here (Max-Age=0); CouchDB's lives on, empty"
LOCATION = "PENDING(lead): document and attachment writes answer 201 without a Location header"
META_ETAG = "PENDING(lead): a doc GET adding _conflicts, _revs_info, _local_seq... sends no ETag (send_doc/3)"
LOCAL_DOCS = ("PENDING(lead): CouchDB 3.4 _local docs ignore revs (no 409, rev = given + 1), "
              "carry an opaque ETag and allow COPY and ?revs")

ALLOWED = [
    Allowed("server:welcome*", "body.version", IDENTITY),
    Allowed("server:welcome*", "body.git_sha", IDENTITY),
    Allowed("server:welcome*", "body.features*", IDENTITY),
    Allowed("server:welcome*", "body.vendor.*", IDENTITY),

    Allowed("changes:bad-limit-text", "*", CRASH),
    Allowed("changes:bad-timeout", "*", CRASH),
    Allowed("changes:bad-style", "*", CRASH),
    Allowed("bulk_get:docs-not-list", "*", CRASH),
    Allowed("revs_diff:revs-not-list", "*", CRASH),
    Allowed("server:revs-limit-zero", "*", CRASH),
    Allowed("server:revs-limit-object", "*", CRASH),
    Allowed("security:login-not-object", "*", CRASH),
    Allowed("security:bad-*", "*", "CouchDB answers 500 no_majority to an invalid _security; we answer 400"),
    Allowed("security:member-security-write", "*",
            "CouchDB answers 500 no_majority when a member writes _security; we answer 403 forbidden"),

    Allowed("changes:bad-since-number", "*", SEQUENCE_FORMAT),
    Allowed("security:member-db", "body.update_seq", UPDATE_SEQ),
    Allowed("security:public-read", "body.update_seq", UPDATE_SEQ),
    Allowed("server:db-info-after", "body.update_seq", UPDATE_SEQ),
    Allowed("*:*", "body.reason", METHODS, couchdb='"Only * allowed"', ours='"Only * allowed"'),
    Allowed("security:login-*", "headers.set-cookie", CLEARED_COOKIE, couchdb='"AuthSession=;*'),
    Allowed("security:logout", "headers.set-cookie", CLEARED_COOKIE),
    Allowed("changes:doc-ids-twice", "body.*",
            "CouchDB sends a doc once per time doc_ids names it (pending goes below 0); we send it once"),
    Allowed("documents:read-numbers", "body.zero", "CouchDB's JSON parser reads -0.0 as 0.0; we keep it"),
    Allowed("documents:read-numbers", "body.tiny", "CouchDB's JSON parser reads subnormal numbers as 0.0"),
    Allowed("errors:post-doc-path", "*", "POST /db/doc is CouchDB's HTML form upload, which we do not have"),

    Allowed("*:*", "headers.location", LOCATION, ours="<absent>"),
    Allowed("documents:read-revs-info", "headers.etag", META_ETAG),
    Allowed("documents:read-local-seq", "headers.etag", META_ETAG),
    Allowed("documents:read-meta", "headers.etag", META_ETAG),
    Allowed("bulk_docs:read-n", "headers.etag", META_ETAG),
    Allowed("bulk_get:conflicts", "headers.etag", META_ETAG),
    Allowed("bulk_get:latest-ignores-rev", "*",
            "PENDING(lead): GET ?latest=true opens the winner, whatever rev says"),
    Allowed("generated:doc-*", "headers.etag", META_ETAG, couchdb="<absent>"),
    Allowed("documents:read-bad-bool", "*",
            "PENDING(lead): a doc GET reads a flag other than `true` as false, never 400 (parse_doc_query)"),
    Allowed("documents:post*", "headers.etag", "PENDING(lead): POST /db answers without an ETag in CouchDB"),
    Allowed("local:post-local", "headers.etag", "PENDING(lead): POST /db answers without an ETag in CouchDB"),
    Allowed("documents:*-batch", "*", "PENDING(lead): batch=ok answers 202 {ok, id}, without a rev or ETag"),
    Allowed("bulk_docs:unsorted-changes", "body.results[[]*]*",
            "PENDING(lead): one _bulk_docs numbers its changes in doc id order (couch_db_updater sorts)"),
    Allowed("bulk_docs:docs-not-list", "body.reason",
            "PENDING(lead): CouchDB says \"`docs` parameter must be an array.\""),
    Allowed("bulk_docs:body-not-object", "body.reason",
            "PENDING(lead): CouchDB says \"Request body must be a JSON object\""),
    Allowed("bulk_docs:new-edits-false-without-rev", "body.reason",
            "PENDING(lead): CouchDB says \"When `new_edits: false`, the document needs `_rev` or "
            "`_revisions` specified\""),
    Allowed("bulk_docs:revisions-beat-rev-put", "*",
            "PENDING(lead): PUT ?new_edits=false answers the rev _revisions names (stored), not the _rev"),
    Allowed("bulk_docs:all-or-nothing", "*",
            "PENDING(lead): all_or_nothing is 417, each row not_implemented, in CouchDB 3"),
    Allowed("bulk_get:winners", "*", "PENDING(lead): _bulk_get without a rev answers every leaf, not one"),
    Allowed("bulk_get:latest", "*", "PENDING(lead): _bulk_get answers open revs sorted by rev, as CouchDB"),
    Allowed("bulk_get:open-revs-all", "body[[]*].ok.*",
            "PENDING(lead): GET ?open_revs=all lists the leaves sorted by rev, lowest first"),
    Allowed("bulk_get:missing", "body.results[[]0].docs[[]0].error.rev",
            "PENDING(lead): a missing doc's _bulk_get error has \"rev\": \"undefined\" when none was asked"),
    Allowed("bulk_get:deleted", "*", "PENDING(lead): _bulk_get returns a deleted leaf as ok, _deleted: true"),
    Allowed("bulk_get:no-id", "*", "PENDING(lead): CouchDB says \"document id missed\" with \"rev\": null"),
    Allowed("bulk_get:doc-not-object", "*",
            "PENDING(lead): CouchDB says \"document must be a JSON object\" with \"rev\": null"),
    Allowed("revs_diff:missing", "body.x.missing[[]*]", "PENDING(lead): _revs_diff sorts the missing revs"),
    Allowed("attachments:if-none-match", "headers.accept-ranges",
            "PENDING(lead): an attachment's 304 carries no Accept-Ranges"),
    Allowed("attachments:range-multiple", "*",
            "PENDING(lead): several ranges answer 206 multipart/byteranges; we send the whole attachment"),
    Allowed("attachments:*", "headers.etag",
            "PENDING(lead): attachment PUT and DELETE answer without an ETag in CouchDB", couchdb="<absent>",
            ours='"\\"*-⟨h*⟩\\""'),
    Allowed("text_attachments:put", "headers.etag",
            "PENDING(lead): attachment PUT and DELETE answer without an ETag in CouchDB", couchdb="<absent>"),
    Allowed("attachments:delete-attachment-without-rev", "*",
            "PENDING(lead): deleting an attachment the doc lacks is 404 before any rev check"),
    Allowed("attachments:attachments-not-object", "*",
            "PENDING(lead): CouchDB says doc_validation \"Bad special document member: _attachments\""),
    Allowed("attachments:stub-wrong-revpos", "*",
            "PENDING(lead): a stub whose revpos is not the attachment's is 412 missing_stub"),
    Allowed("errors:put-design-info", "*", "PENDING(lead): attachment names starting with `_` are refused"),
    Allowed("errors:rev-on-new-doc", "*",
            "PENDING(lead): PUT of a new doc with a _rev makes generation N+1 on a missing parent"),
    Allowed("errors:deleted-not-bool", "*",
            "PENDING(lead): a non-boolean _deleted is doc_validation \"Bad special document member: ...\""),
    Allowed("errors:delete-missing", "*", "PENDING(lead): DELETE of a missing doc is 404 not_found missing"),
    Allowed("local*:*", "headers.etag", LOCAL_DOCS, ours="<absent>"),
    Allowed("local:update-*", "*", LOCAL_DOCS),
    Allowed("local:read-updated", "*", LOCAL_DOCS),
    Allowed("local:read-rev*", "*", LOCAL_DOCS),
    Allowed("local:local-docs-include-docs", "body.rows[[]0].doc.history[[]0]", LOCAL_DOCS),
    Allowed("local:copy", "*", LOCAL_DOCS),
    Allowed("local:delete*", "*", LOCAL_DOCS),
]
