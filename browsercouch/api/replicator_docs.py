"""The ``_replicator`` database: whose a replication document is, and as whom its job runs.

Ported from CouchDB 3.4's ``couch_replicator_docs.erl`` (``before_doc_update/3``, ``after_doc_read/2``),
with what CouchDB 2.x's ``_replicator`` validation function said about ``user_ctx``, because here, unlike
in CouchDB 3, a job may name local databases and so uses its user's rights on them. "Admin" is a db admin
of ``_replicator`` (``couch_db:check_is_admin/1``), "server admin" holds ``_admin``.

1. Owner: a document written without ``owner`` gets the writer's name (``null`` for an anonymous writer
   or the admin party). A non-admin may not write a document whose ``owner`` is someone else, nor change
   one stored with another owner (403 "Can't update replication documents from other users."; CouchDB
   checks only the new body and relies on others never learning the real revision). Admins may keep
   another owner; an admin's ``owner: null`` becomes the admin's name.
2. The job's user: ``user_ctx`` (``{"name", "roles"}``) is set to the writer's name and roles on every
   write, so a job has a server admin's rights only when a server admin wrote it; a server admin may
   name another ``user_ctx`` (CouchDB 2.x let admins do so). ``job_user`` reads it back; a document
   without one runs as an anonymous user.
3. Reads: admins and the owner see the document as stored. Anyone else sees it without credentials (a
   URL's user and password, an endpoint object's ``headers`` and ``auth``) and with a made-up revision,
   since that body was never stored.

``_all_docs`` and ``_changes`` of ``_replicator`` are server admins' only (``system_dbs.check_listing``).
"""

import hashlib
from urllib.parse import urlsplit, urlunsplit

from ..errors import Forbidden
from ..store import canonical_json
from . import auth

__all__ = ["REPLICATOR_DB", "after_read", "check_writer", "before_update", "job_user"]

REPLICATOR_DB = "_replicator"
OTHERS_DOCUMENT = "Can't update replication documents from other users."
# Endpoint object members that may carry credentials (``strip_credentials/1`` drops both).
CREDENTIAL_MEMBERS = ("headers", "auth")


def check_writer(doc, old, ctx, security):
    """Rule 1's refusals: raise ``Forbidden`` unless ``ctx`` may write ``doc`` over ``old`` (the stored
    revision it replaces, or ``None``)."""
    if auth.is_db_admin(ctx, security):
        return
    owner = doc.get("owner", ctx.name)
    if owner != ctx.name or (old is not None and "owner" in old and old["owner"] != ctx.name):
        raise Forbidden(OTHERS_DOCUMENT)


def before_update(doc, old, ctx, security):
    """The document to store for a write of ``doc`` by ``ctx`` over ``old``: rules 1 and 2."""
    check_writer(doc, old, ctx, security)
    if doc.get("owner") is None:
        doc = {**doc, "owner": ctx.name}
    if not doc.get("_deleted") and (not ctx.is_admin or not isinstance(doc.get("user_ctx"), dict)):
        doc = {**doc, "user_ctx": ctx.to_json()}
    return doc


def after_read(doc, ctx, security):
    """The document as ``ctx`` may see it (rule 3)."""
    if doc["_id"].startswith("_design/") or auth.is_db_admin(ctx, security) or doc.get("owner") == ctx.name:
        return doc
    shown = {key: value for key, value in doc.items() if key != "_rev"}
    for member in ("source", "target"):
        if member in shown:
            shown[member] = strip_credentials(shown[member])
    pos = doc["_rev"].split("-", 1)[0]
    body = canonical_json(shown)
    return {"_id": doc["_id"], "_rev": f"{pos}-{hashlib.md5(body.encode()).hexdigest()}",
            **{key: value for key, value in shown.items() if key != "_id"}}


def strip_credentials(endpoint):
    """An endpoint without its credentials: a URL without user and password, an object without
    ``headers`` and ``auth`` (and without them in its ``url``)."""
    if isinstance(endpoint, str):
        parts = urlsplit(endpoint)
        if parts.scheme in ("http", "https") and "@" in parts.netloc:
            return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        return endpoint
    if isinstance(endpoint, dict):
        stripped = {key: value for key, value in endpoint.items() if key not in CREDENTIAL_MEMBERS}
        if "url" in stripped:
            stripped["url"] = strip_credentials(stripped["url"])
        return stripped
    return endpoint


def job_user(doc):
    """The ``UserCtx`` a document's job runs as (rule 2): its ``user_ctx``, else anonymous."""
    user_ctx = doc.get("user_ctx")
    if not isinstance(user_ctx, dict):
        return auth.ANONYMOUS
    name, roles = user_ctx.get("name"), user_ctx.get("roles")
    roles = tuple(role for role in roles if isinstance(role, str)) if isinstance(roles, list) else ()
    return auth.UserCtx(name if isinstance(name, str) else None, roles)
