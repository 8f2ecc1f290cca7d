"""Server-level routes: the welcome, ``_up``, ``_uuids``, ``_all_dbs``, ``_dbs_info``, ``_session``."""

import time
import uuid
from urllib.parse import parse_qsl

from .. import __version__
from ..errors import BadRequest, Unauthorized
from .messages import JSONResponse

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
    count = req.query.int("count", 1)
    if count > MAX_UUIDS:
        raise BadRequest("count parameter too large")
    return JSONResponse({"uuids": [uuid.uuid4().hex for _ in range(count)]},
                        headers=[("Pragma", "no-cache"), ("Expires", "Fri, 01 Jan 1990 00:00:00 GMT")])


async def all_dbs(req):
    names = req.app.couch.all_dbs()
    start = _db_name_key(req.query, "start_key", "startkey")
    end = _db_name_key(req.query, "end_key", "endkey")
    descending = req.query.bool("descending")
    low, high = (end, start) if descending else (start, end)
    names = [n for n in names if (low is None or n >= low) and (high is None or n <= high)]
    if descending:
        names.reverse()
    skip = req.query.int("skip", 0)
    limit = req.query.int("limit")
    names = names[skip:] if limit is None else names[skip:skip + limit]
    return JSONResponse(names)


def _db_name_key(query, *names):
    """A ``_all_dbs`` bound: a JSON string under the first of ``names`` present, or ``None``."""
    for name in names:
        if name in query:
            value = query.json(name)
            if not isinstance(value, str):
                raise BadRequest(f"Invalid value for {name}: database names are strings")
            return value
    return None


async def dbs_info(req):
    body = await req.json(require_content_type=True)
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list):
        raise BadRequest("`keys` member must exist.")
    couch = req.app.couch
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
    info = {"authentication_handlers": ["cookie", "default"], "authentication_db": "_users"}
    if user.name is not None:
        info["authenticated"] = "default" if "authorization" in req.headers else "cookie"
    return JSONResponse({"ok": True, "userCtx": {"name": user.name, "roles": list(user.roles)}, "info": info})


async def post_session(req):
    if req.content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl((await req.body()).decode("utf-8", "replace")))
    else:
        form = await req.json()
    if not isinstance(form, dict):
        raise BadRequest("Request body must be a JSON object")
    name, password = form.get("name", form.get("username")), form.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise Unauthorized("Name or password is incorrect.")
    user, cookie = req.app.authenticator.login(name, password, time.time())
    return JSONResponse({"ok": True, "name": user.name, "roles": list(user.roles)},
                        headers=[("Set-Cookie", cookie)])


async def delete_session(req):
    return JSONResponse({"ok": True}, headers=[("Set-Cookie", req.app.authenticator.logout_cookie())])
