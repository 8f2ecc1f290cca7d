"""The ``_users`` database: user documents are checked and their ``password`` hashed on the way in.

As CouchDB's ``couch_users_db.erl`` and the ``_users`` design document's ``validate_doc_update``: a user
document is ``org.couchdb.user:NAME`` with ``type: "user"``, a matching ``name`` and a list of ``roles``;
a clear ``password`` member is replaced by PBKDF2 fields before the document is stored, so no password is
ever written in clear.
"""

from ..errors import Forbidden
from . import auth

USERS_DB = "_users"
USER_PREFIX = "org.couchdb.user:"


def prepare(doc, iterations=auth.PBKDF2_ITERATIONS):
    """Validate a document written to ``_users`` and hash its password; returns the document to store."""
    if not isinstance(doc, dict) or doc.get("_deleted"):
        return doc
    doc_id = doc.get("_id", "")
    if isinstance(doc_id, str) and doc_id.startswith("_design/"):
        return doc
    if doc.get("type") != "user":
        raise Forbidden("doc.type must be user")
    name = doc.get("name")
    if not isinstance(name, str) or not name or doc_id != USER_PREFIX + name:
        raise Forbidden("Doc ID must be of the form org.couchdb.user:name")
    if not isinstance(doc.get("roles", []), list):
        raise Forbidden("doc.roles must be an array")
    password = doc.pop("password", None)
    if password is not None:
        if not isinstance(password, str):
            raise Forbidden("doc.password must be a string")
        for field in ("password_sha", "password_scheme", "pbkdf2_prf", "iterations", "salt", "derived_key"):
            doc.pop(field, None)
        doc.update(auth.hash_password(password, iterations=iterations))
    return doc
