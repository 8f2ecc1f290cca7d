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
    start = req.query.json("start_key", req.query.json("startkey"))
    end = req.query.json("end_key", req.query.json("endkey"))
    if req.query.bool("descending"):
        names.reverse()
        start, end = end, start
    names = [n for n in names if (start is None or n >= start) and (end is None or n <= end)]
    if req.query.bool("descending"):
        names.reverse()
    skip = req.query.int("skip", 0)
    limit = req.query.int("limit")
    names = names[skip:] if limit is None else names[skip:skip + limit]
    return JSONResponse(names)


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


async def active_tasks(req):
    return JSONResponse([task.status() for task in req.app.tasks])


async def get_session(req):
    user = req.user
    return JSONResponse({
        "ok": True,
        "userCtx": {"name": user.name, "roles": list(user.roles)},
        "info": {"authentication_handlers": ["cookie", "default"],
                 "authenticated": "cookie" if user.name and "authorization" not in req.headers else "default"},
    })


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
