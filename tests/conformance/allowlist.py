"""The differences from CouchDB 3.4.3 we keep, each with a one-line reason (``compare.Allowed``).

An entry names a step id (``scenario:step``, a glob), a place in the answer (a glob on paths such as
``body.rows[0].id`` or ``headers.etag``) and, where it matters, the values it excuses. When a difference
is fixed, its entry stops matching and ``test_corpus`` says so, so the entry goes and the corpus keeps
the fix. Entries for ``generated:*`` steps are the exception: the generated corpus need not meet all of
them in one run.
"""

from .compare import Allowed

__all__ = ["ALLOWED"]

IDENTITY = "the welcome names the server: browsercouch, its version, and no CouchDB-only features"
CRASH = "CouchDB crashes on this input (500 with an Erlang term); we answer 4xx with a reason"
SEQUENCE_FORMAT = "sequence format: ours are integers, so a plain number is a valid `since` here"
UPDATE_SEQ = "CouchDB counts `_security` and `_revs_limit` writes in update_seq; we count document updates"
METHODS = "405 reasons list the allowed methods in another order (CouchDB writes each list by hand)"
CLEARED_COOKIE = "a cleared session cookie expires at once here (Max-Age=0); CouchDB's lives on, empty"

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
    Allowed("local:update-bad-rev", "*", CRASH),
    Allowed("errors:rev-on-new-doc", "*",
            "a new doc whose body says _rev 1-x: CouchDB makes 2-y on a parent it never had (409 for 3-x "
            "or ?rev=1-x); we answer 409 to all"),
    Allowed("errors:put-design-info", "*",
            "CouchDB routes /db/_design/d/_info to design info (404 for a missing ddoc); we have none "
            "yet, so the attachment name _info is refused (400)"),
]
