"""The ``_users`` database, as CouchDB 3.4 keeps it whatever its ``_security`` says.

Ported from ``couch_users_db.erl`` (reads and writes) and the ``validate_doc_update`` of ``_design/_auth``
(``couch_js_functions.hrl``). "Admin" below is a db admin of ``_users`` (a server admin, or named in its
``_security.admins``), as ``couch_db:check_is_admin/1``; where the validation function says server admin,
so does the code.

1. Reads (``after_doc_read/2``): admins read every document. A user reads their own
   ``org.couchdb.user:NAME``; any other user document reads as 404 (CouchDB keeps only the fields of
   ``public_fields``, none by default, and an empty document is ``not_found``), so nobody sees another's
   ``derived_key`` or ``salt``. Design documents are admins' only (403).
2. Writes (``before_doc_update/3``): admins write any document, a user their own, an anonymous writer
   may create one (sign up, when ``_security`` lets them write at all); anyone else gets 404.
3. Validation: ``type`` is ``"user"``, ``name`` is set, matches the id and never changes, ``roles`` is a
   list of strings; only admins set or change roles; no role (but ``_metrics``) and no name starts with
   ``_``; names have no ``:``; only server admins and the user themself delete a user.
4. A clear ``password`` is replaced by PBKDF2 fields (a fresh salt unless ``preserve_salt``), derived off
   the serving loop, after the document passed 1-3: a refused write costs no hashing.

``_all_docs`` and ``_changes`` of ``_users`` are server admins' only (``system_dbs.check_listing``).
"""

from ..errors import Forbidden, NotFound
from . import auth

__all__ = ["USERS_DB", "USER_PREFIX", "after_read", "check_writer", "before_update"]

USERS_DB = "_users"
USER_PREFIX = "org.couchdb.user:"
# The fields ``remove_password_fields/1`` drops when a clear password is hashed.
PASSWORD_FIELDS = ("derived_key", "iterations", "password", "password_scheme", "password_sha",
                   "preserve_salt", "pbkdf2_prf", "salt")
PASSWORD_SCHEMES = ("simple", "pbkdf2")
# The one system role a users document may carry (``_metrics``: read-only access to the statistics).
ALLOWED_SYSTEM_ROLES = ("_metrics",)
_UNDEFINED = object()


def _doc_name(doc_id):
    """``get_doc_name/1``: NAME of ``org.couchdb.user:NAME``, else a value no user name equals."""
    if isinstance(doc_id, str) and doc_id.startswith(USER_PREFIX):
        return doc_id[len(USER_PREFIX):]
    return _UNDEFINED


def after_read(doc, ctx, security):
    """The document ``ctx`` may see (rule 1); raises ``NotFound`` or ``Forbidden`` otherwise."""
    if doc["_id"].startswith("_design/"):
        if not auth.is_db_admin(ctx, security):
            raise Forbidden("Only administrators can view design docs in the users database.")
        return doc
    if auth.is_db_admin(ctx, security) or ctx.name == _doc_name(doc["_id"]):
        return doc
    raise NotFound()


def check_writer(doc, ctx, security):
    """Rule 2: raise ``NotFound`` unless ``ctx`` may write ``doc`` at all."""
    if not (auth.is_db_admin(ctx, security) or ctx.name is None or ctx.name == _doc_name(doc.get("_id"))):
        raise NotFound()


async def before_update(doc, old, ctx, security, pbkdf2, iterations=auth.PBKDF2_ITERATIONS):
    """The document to store for a write of ``doc`` by ``ctx`` over ``old`` (the revision it replaces,
    ``None`` for a new document), after rules 2-4. ``pbkdf2`` derives the password's key."""
    check_writer(doc, ctx, security)
    password = doc.get("password")
    if password is not None and not isinstance(password, str):
        raise Forbidden("doc.password must be a string")
    validate(_as_hashed(doc) if password is not None else doc, old, ctx, security)
    if password is None:
        return doc
    salt = doc.get("salt") if doc.get("preserve_salt") is True and isinstance(doc.get("salt"), str) else None
    stored = {k: v for k, v in doc.items() if k not in PASSWORD_FIELDS}
    stored.update(await auth.derive_credentials(password, pbkdf2, iterations=iterations, salt=salt))
    return stored


def _as_hashed(doc):
    """What ``doc`` will be once its password is hashed, for validation before paying for the hash."""
    shown = {k: v for k, v in doc.items() if k not in PASSWORD_FIELDS}
    shown.update(password_scheme="pbkdf2", iterations=1, derived_key="", salt="0")
    return shown


def _falsy(value):
    """JavaScript's ``!value`` for a JSON value: objects and arrays, even empty, are true there."""
    return value is None or value is False or value == "" or (isinstance(value, (int, float)) and value == 0)


def validate(new, old, ctx, security):
    """The ``_design/_auth`` validation function (rule 3); raises ``Forbidden`` with its messages, in its
    order."""
    if new.get("_deleted") is True:
        if ctx.is_admin or (old is not None and ctx.name is not None and ctx.name == old.get("name")):
            return
        raise Forbidden("Only admins may delete other user docs.")
    name, roles = _check_fields(new)
    if old is not None and old.get("name") != name:
        raise Forbidden("Usernames can not be changed.")
    _check_password_fields(new)
    if not auth.is_db_admin(ctx, security):
        _check_own_roles(name, roles, old, ctx)
    if any(role.startswith("_") and role not in ALLOWED_SYSTEM_ROLES for role in roles):
        raise Forbidden("No system roles (starting with underscore) in users db.")
    if name.startswith("_"):
        raise Forbidden("Username may not start with underscore.")
    if ":" in name:
        raise Forbidden("Character `:` is not allowed in usernames.")


def _check_fields(new):
    """``(name, roles)`` of a user document of the right shape."""
    if new.get("type") != "user":
        raise Forbidden("doc.type must be user")
    name, roles = new.get("name"), new.get("roles")
    if _falsy(name):
        raise Forbidden("doc.name is required")
    if _falsy(roles):
        raise Forbidden("doc.roles must exist")
    if not isinstance(roles, list):
        raise Forbidden("doc.roles must be an array")
    if not all(isinstance(role, str) for role in roles):
        raise Forbidden("doc.roles can only contain strings")
    if not isinstance(name, str) or new.get("_id") != USER_PREFIX + name:
        raise Forbidden("Doc ID must be of the form org.couchdb.user:name")
    return name, roles


def _check_own_roles(name, roles, old, ctx):
    """A user who is no admin edits only their own document, and never its roles."""
    if old is None:
        if roles:
            raise Forbidden("Only _admin may set roles")
        return
    if ctx.name != name:
        raise Forbidden("You may only update your own user document.")
    old_roles = old.get("roles") if isinstance(old.get("roles"), list) else []
    if sorted(map(str, old_roles)) != sorted(roles):
        raise Forbidden("Only _admin may edit roles")


def _check_password_fields(new):
    if not _falsy(new.get("password_sha")) and _falsy(new.get("salt")):
        raise Forbidden("Users with password_sha must have a salt."
                        "See /_utils/script/couch.js for example code.")
    scheme = new.get("password_scheme")
    if not _falsy(scheme) and scheme not in PASSWORD_SCHEMES:
        raise Forbidden(f"Password scheme `{scheme}` not supported.")
    if scheme == "pbkdf2":
        iterations = new.get("iterations")
        if not isinstance(iterations, (int, float)) or isinstance(iterations, bool):
            raise Forbidden("iterations must be a number.")
        if not isinstance(new.get("derived_key"), str):
            raise Forbidden("derived_key must be a string.")
