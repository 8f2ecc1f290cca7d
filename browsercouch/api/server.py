"""Server-level routes: the welcome, ``_up``, ``_uuids``, ``_all_dbs``, ``_dbs_info``, ``_session``."""

import re
import time
import uuid
from urllib.parse import parse_qsl

from .. import __version__
from ..errors import BadContentType, BadRequest, Unauthorized
from .databases import AllDocsQuery
from .messages import JSONResponse, Response, etag_matches, opaque_etag

# CouchDB's [uuids] max_count.
MAX_UUIDS = 1000
COUCHDB_VERSION = "3.3.3"


async def welcome(req):
    return JSONResponse({
        "couchdb": "Welcome",
        "version": COUCHDB_VERSION,
        "git_sha": "browsercouch",
        "uuid": req.app.couch.uuid,
        "features": [],
        "vendor": {"name": "browsercouch", "version": __version__},
    })


async def up(req):
    return JSONResponse({"status": "ok", "seeds": {}})


async def uuids(req):
    """``couch_httpd_misc_handlers:handle_uuids_req/1``: cache-busting headers and an ETag of the uuids."""
    count = _natural(req.query.get("count", "1"))
    if count is None:
        raise BadRequest("count must be a positive integer")
    if count > MAX_UUIDS:
        raise BadRequest("count parameter too large")
    values = [uuid.uuid4().hex for _ in range(count)]
    return JSONResponse({"uuids": values}, headers=[
        ("Cache-Control", "no-cache"), ("Expires", "Mon, 01 Jan 1990 00:00:00 GMT"), ("Pragma", "no-cache"),
        ("ETag", opaque_etag(values))])


def _natural(text):
    """A count: optional sign and ASCII digits only, at least 0, else ``None``."""
    if not re.fullmatch(r"[+-]?[0-9]{1,20}", text) or int(text) < 0:
        return None
    return int(text)


def _db_names(req):
    """The names ``_all_dbs`` lists for the request's parameters, read as ``_all_docs`` reads them
    (``chttpd_misc:handle_all_dbs_info_req/1`` goes through ``couch_mrview_http:parse_params/2``)."""
    q = AllDocsQuery(None, [(name, value, False) for name, value in req.query.raw.items()])
    start, end = q.bounds()
    low, high = (end, start) if q.descending else (start, end)
    exclude_high = not q.inclusive_end and not q.descending
    exclude_low = not q.inclusive_end and q.descending
    names = [n for n in req.app.couch.all_dbs()
             if (low is None or n > low or (n == low and not exclude_low))
             and (high is None or n < high or (n == high and not exclude_high))]
    if q.descending:
        names.reverse()
    names = names[q.skip:]
    return names if q.limit is None else names[:q.limit]


def _listing(req, rows):
    """``rows`` with an ETag of every database's name (CouchDB's is of its shards database, which changes
    when one is created or deleted), or 304 for a client that has it."""
    etag = opaque_etag(req.app.couch.all_dbs())
    if etag_matches(req, etag):
        return Response(304, headers=[("ETag", etag)], content_type=None)
    return JSONResponse(rows, headers=[("ETag", etag)])


async def all_dbs(req):
    return _listing(req, _db_names(req))


async def dbs_info(req):
    couch = req.app.couch
    if req.method != "POST":
        return _listing(req, [{"key": name, "info": couch.get_db(name).info()} for name in _db_names(req)])
    body = await req.json(require_content_type=True)
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list):
        raise BadRequest("`keys` member must exist.")
    return JSONResponse([
        {"key": key, "info": couch.get_db(key).info()} if isinstance(key, str) and couch.exists(key)
        else {"key": key, "error": "not_found"}
        for key in keys
    ])


async def get_session(req):
    """``GET /_session`` as ``couch_httpd_auth:handle_session_req/2``: ``info.authenticated`` names the
    handler that identified the user and is left out for anonymous requests; ``?basic=true`` turns an
    anonymous request into a 401 (how Futon and Fauxton ask for a login)."""
    user = req.user
    if user.name is None and not user.is_admin and req.query.get("basic") == "true":
        raise Unauthorized("Please login.")
    info = {"authentication_handlers": ["cookie", "default"]}
    if user.name is not None:
        info["authenticated"] = "default" if "authorization" in req.headers else "cookie"
    return JSONResponse({"ok": True, "userCtx": {"name": user.name, "roles": list(user.roles)}, "info": info})


async def post_session(req):
    """``couch_httpd_auth:handle_session_req/2``: a form or JSON login; a failed one also clears the
    session cookie, as CouchDB's does."""
    if req.content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl((await req.body()).decode("utf-8", "replace")))
    elif req.content_type == "application/json":
        form = await req.json()
    else:
        raise BadContentType("Content-Type must be 'application/x-www-form-urlencoded' or 'application/json'")
    if not isinstance(form, dict):
        raise BadRequest("Request body must be a JSON object")
    name, password = form.get("name", form.get("username")), form.get("password")
    try:
        if not isinstance(name, str) or not isinstance(password, str):
            raise Unauthorized("Name or password is incorrect.")
        user, cookie = await req.app.authenticator.login(name, password, time.time(), req.client_address)
    except Unauthorized as err:
        err.headers = [("Set-Cookie", req.app.authenticator.logout_cookie())]
        raise
    return JSONResponse({"ok": True, "name": user.name, "roles": list(user.roles)},
                        headers=[("Set-Cookie", cookie)])


async def delete_session(req):
    return JSONResponse({"ok": True}, headers=[("Set-Cookie", req.app.authenticator.logout_cookie())])
