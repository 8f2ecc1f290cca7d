"""Document routes: ``GET/PUT/POST/DELETE/COPY`` of documents, ``_local`` documents, ``_bulk_docs``,
``_bulk_get``, ``_revs_diff`` and ``_missing_revs``."""

from ..errors import BadRequest, Conflict, CouchError, NotFound
from . import auth, multipart, system_dbs
from .messages import ChunkedResponse, JSONResponse, Response, etag_matches, opaque_etag

# GET /db/doc flags that are plain booleans (chttpd_db:parse_doc_query/1).
DOC_FLAGS = ("revs", "revs_info", "conflicts", "deleted_conflicts", "attachments", "local_seq", "latest",
             "meta", "att_encoding_info")
# Members a read adds beside the document's own (a #doc's meta): CouchDB sends no ETag with them, as the
# revision alone does not name such an answer (chttpd_db:send_doc/3).
META_MEMBERS = ("_conflicts", "_deleted_conflicts", "_revs_info", "_local_seq")
# What CouchDB 3.x answers to all_or_nothing (fabric_doc_update): no write, 417.
ALL_OR_NOTHING = BadRequest("all_or_nothing is not supported", error="not_implemented")


def doc_options(query):
    """The ``GET /db/doc`` options from the query string: a flag is on only when it says ``true``; any
    other value leaves it off, as in CouchDB, never a 400."""
    options = {flag: query.get(flag) == "true" for flag in DOC_FLAGS if flag in query}
    if "atts_since" in query:
        atts_since = query.json("atts_since")
        if not isinstance(atts_since, list):
            raise BadRequest("atts_since must be a JSON array")
        options["atts_since"] = atts_since
    return options


def user_ctx(req):
    """The ``userCtx`` a ``validate_doc_update`` function sees for this request (``couch_db:get_user_ctx``
    as ``couch_query_servers`` passes it: the database, the user's name and roles)."""
    return {"db": req.db.name, "name": req.user.name, "roles": list(req.user.roles)}


def _etag(rev):
    return f'"{rev}"'


def _local_etag(doc):
    """CouchDB's ETag of a ``_local`` document: a hash of its revision and body (couch_httpd:doc_etag/3)."""
    return opaque_etag(doc["_rev"], {k: v for k, v in doc.items() if k not in ("_id", "_rev")})


def _check_ddoc_admin(req, doc_id):
    """Design documents are written by database admins only (CouchDB 3.x)."""
    if doc_id.startswith("_design/"):
        auth.check_db_admin(req.user, req.db.security)


async def get(req):
    doc_id = req.params["doc"]
    options = doc_options(req.query)
    if "open_revs" in req.query:
        return _open_revs(req, doc_id, options)
    if doc_id.startswith("_local/"):
        return _read_local(req, doc_id, options)
    # With attachments and a client that takes multipart/related, their bodies follow the document raw
    # and as stored (chttpd_db:send_doc_efficiently/4), not in base64.
    related = (options.get("attachments") or "atts_since" in options) and _accepts(req, "multipart/related")
    doc, bodies = req.db.get_related(doc_id, req.query.get("rev"), follows=related, **options)
    doc = system_dbs.outgoing(req, doc)
    headers = [] if any(member in doc for member in META_MEMBERS) else [("ETag", _etag(doc["_rev"]))]
    if headers and etag_matches(req, headers[0][1]):
        return Response(304, headers=headers, content_type=None)
    if related and doc.get("_attachments"):
        boundary = multipart.new_boundary()
        return ChunkedResponse(_aiter(multipart.related_parts(doc, bodies, boundary)), headers=headers,
                              content_type=f'multipart/related; boundary="{boundary}"')
    return JSONResponse(doc, headers=headers)


def _read_local(req, doc_id, options):
    """A ``_local`` document: the one revision there is (a ``rev`` naming another is missing), with an
    opaque ETag; ``revs`` shows its number as CouchDB keeps it (``_revisions`` from 0)."""
    doc = req.db.get_local(doc_id)
    rev = req.query.get("rev")
    if rev is not None and rev != doc["_rev"]:
        raise NotFound("missing")
    etag = _local_etag(doc)
    if etag_matches(req, etag):
        return Response(304, headers=[("ETag", etag)], content_type=None)
    if options.get("revs"):
        doc["_revisions"] = {"start": 0, "ids": [doc["_rev"][2:]]}
    return JSONResponse(doc, headers=[("ETag", etag)])


def _accepts(req, media_type):
    """Whether ``Accept`` admits ``media_type``, as CouchDB decides (mochiweb's ``accepts_content_type``):
    no header means ``*/*``, and ``type/*`` or ``*/*`` with a quality above 0 admit it too."""
    ranges = {}
    for item in req.headers.get("accept", "*/*").split(","):
        media_range, *params = [part.strip().lower() for part in item.split(";")]
        quality = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            ranges[media_range] = float(quality)
        except ValueError:
            return False
    family = media_type.split("/")[0] + "/*"
    if ranges.get(media_type) == 0 or ranges.get(family) == 0:
        return False
    return any(q > 0 for r, q in ranges.items() if r in (media_type, family, "*/*"))


async def _aiter(chunks):
    for chunk in chunks:
        yield chunk


def _open_revs(req, doc_id, options):
    """``open_revs`` as a JSON array, or as ``multipart/mixed`` when the client accepts it (CouchDB's
    replicator does, for documents with attachments: ``chttpd_db:send_docs_multipart/3``)."""
    raw = req.query.get("open_revs")
    revs = "all" if raw == "all" else req.query.json("open_revs")
    if revs != "all" and (not isinstance(revs, list) or not all(isinstance(r, str) for r in revs)):
        raise BadRequest("Invalid open_revs value")
    if not _accepts(req, "multipart/mixed"):
        return JSONResponse(system_dbs.read_rows(req, req.db.open_revs(doc_id, revs, **options), _missing))
    # As multipart, every attachment the client has not got (atts_since) follows its revision
    # (chttpd_db:send_docs_multipart/3 adds attachments, follows and att_encoding_info).
    found = req.db.open_revs_related(doc_id, revs, follows=True, **dict(options, attachments=True))
    found = system_dbs.read_rows(req, found, _missing)
    boundary = multipart.new_boundary()
    return ChunkedResponse(_aiter(multipart.mixed_parts(_mixed_entries(found), boundary)),
                          content_type=f'multipart/mixed; boundary="{boundary}"')


def _missing(doc):
    """The ``open_revs`` row of a revision the user may not see: as one that is not there."""
    return {"missing": doc["_rev"]}


def _not_found(doc):
    """The ``_bulk_get`` row of a revision the user may not see."""
    return {"error": {"id": doc["_id"], "rev": doc["_rev"], "error": "not_found", "reason": "missing"}}


def _mixed_entries(found):
    for row in found:
        if "missing" in row:
            yield "json", row, True
        elif row["bodies"]:
            yield "related", row["ok"], row["bodies"]
        else:
            yield "json", row["ok"], False


def _rev_from(req, doc):
    """The revision a write applies to: ``?rev=``, ``If-Match`` or the body's ``_rev``; they must agree."""
    body_rev = doc.get("_rev") if doc else None
    if body_rev is not None and not isinstance(body_rev, str):
        raise BadRequest("Invalid rev format")  # couch_doc:parse_rev/1 takes strings only
    revs = {r for r in (req.query.get("rev"), _if_match(req), body_rev) if r}
    if len(revs) > 1:
        raise BadRequest("Document rev from request body and query string have different values")
    return revs.pop() if revs else None


def _if_match(req):
    value = req.headers.get("if-match")
    return value.strip().strip('"') if value else None


async def put(req):
    doc_id = req.params["doc"]
    _check_ddoc_admin(req, doc_id)
    doc, attachment_data = await _read_doc(req)
    doc["_id"] = doc_id
    rev = _rev_from(req, doc)
    if rev is not None:
        doc["_rev"] = rev
    new_edits = req.query.bool("new_edits", True)
    result = req.db.put(await system_dbs.incoming(req, doc, new_edits=new_edits), new_edits=new_edits,
                        attachment_data={(doc_id, name): data for name, data in attachment_data.items()},
                        user_ctx=user_ctx(req))
    return _written(req, result, location=True)


async def _read_doc(req):
    """The document of a ``PUT``: JSON, or ``multipart/related`` with attachment bodies (what CouchDB's
    replicator sends for documents with attachments); returns ``(doc, {name: bytes})``."""
    if req.content_type == "multipart/related":
        return multipart.read_related(await req.body(), req.headers.get("content-type"))
    doc = await req.json()
    if not isinstance(doc, dict):
        raise BadRequest("Document must be a JSON object")
    return doc, {}


def _written(req, result, status=201, *, location=False, etag=True):
    """The answer to a document write (chttpd_db:send_updated_doc/6): its ETag and, for a new
    resource, its Location. With ``batch=ok`` CouchDB answers 202 with the id only: ours is written
    already, but clients of batch mode expect no rev."""
    if req.query.get("batch") == "ok":
        return JSONResponse({"ok": True, "id": result["id"]}, status=202)
    headers = [("ETag", _etag(result["rev"]))] if etag else []
    if location:
        headers.append(("Location", req.absolute_uri(req.params["db"], result["id"])))
    return JSONResponse(result, status=status, headers=headers)


async def post(req):
    doc = await req.json(require_content_type=True)
    if not isinstance(doc, dict):
        raise BadRequest("Document must be a JSON object")
    if "_id" in doc:
        _check_ddoc_admin(req, doc["_id"] if isinstance(doc["_id"], str) else "")
    result = req.db.put(await system_dbs.incoming(req, doc), user_ctx=user_ctx(req))
    return _written(req, result, location=True, etag=False)


async def delete(req):
    """``DELETE /db/doc``: a document that is not there (or deleted) is 404 whatever the rev, as CouchDB
    opens it first (chttpd_db:db_doc_req/3); without a rev it is a conflict."""
    doc_id = req.params["doc"]
    _check_ddoc_admin(req, doc_id)
    req.db.get(doc_id)
    rev = _rev_from(req, None)
    if rev is None:
        raise Conflict()
    result = req.db.put(await system_dbs.incoming(req, {"_id": doc_id, "_rev": rev, "_deleted": True}),
                        user_ctx=user_ctx(req))
    return _written(req, result, status=200)


async def copy(req):
    """``COPY /db/doc`` with ``Destination: newid`` or ``newid?rev=R``."""
    return await _copy(req, req.params["doc"])


async def copy_local(req):
    return await _copy(req, "_local/" + req.params["doc"])


async def _copy(req, source_id):
    destination = req.headers.get("destination")
    if not destination:
        raise BadRequest("Destination header is mandatory for COPY.")
    target_id, _, target_query = destination.partition("?")
    target_rev = target_query[4:] if target_query.startswith("rev=") else None
    _check_ddoc_admin(req, target_id)
    doc = req.db.get(source_id, req.query.get("rev"), attachments=True)
    if not source_id.startswith("_local/"):
        doc = system_dbs.outgoing(req, doc)
    doc["_id"] = target_id
    doc.pop("_rev", None)
    if target_rev:
        doc["_rev"] = target_rev
    result = req.db.put(await system_dbs.incoming(req, doc), user_ctx=user_ctx(req))
    return _written(req, result, location=True)


async def get_local(req):
    return _read_local(req, "_local/" + req.params["doc"], doc_options(req.query))


async def put_local(req):
    doc = await req.json()
    if not isinstance(doc, dict):
        raise BadRequest("Document must be a JSON object")
    doc["_id"] = "_local/" + req.params["doc"]
    rev = _rev_from(req, doc)
    if rev is not None:
        doc["_rev"] = rev
    result = req.db.put_local(doc)
    stored = {k: v for k, v in doc.items() if not k.startswith("_")}
    headers = [("ETag", _local_etag({**stored, "_rev": result["rev"]})),
               ("Location", req.absolute_uri(req.params["db"], doc["_id"]))]
    return JSONResponse(result, status=201, headers=headers)


async def delete_local(req):
    rev = _rev_from(req, None)
    result = req.db.delete_local("_local/" + req.params["doc"], rev)
    return JSONResponse(result, headers=[("ETag", _local_etag({"_rev": result["rev"]}))])


async def bulk_docs(req):
    body = await req.json(require_content_type=True)
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    if "docs" not in body:
        raise BadRequest("POST body must include `docs` parameter.")
    docs = body["docs"]
    if not isinstance(docs, list):
        raise BadRequest("`docs` parameter must be an array.")
    new_edits = body.get("new_edits", True)
    if not isinstance(new_edits, bool):
        raise BadRequest("`new_edits` parameter must be a boolean.")
    if new_edits and body.get("all_or_nothing") is True:
        return JSONResponse([_refused_row(doc, ALL_OR_NOTHING, _rev_of(doc) or "0-") for doc in docs],
                            status=417)
    system_dbs.check_writers(req, docs, new_edits=new_edits)
    prepared = [await _prepare_bulk_doc(req, doc, new_edits) for doc in docs]
    results = iter(req.db.update_docs([d for d in prepared if not isinstance(d, CouchError)],
                                      new_edits=new_edits, user_ctx=user_ctx(req)))
    rows = []
    for doc, item in zip(docs, prepared, strict=True):
        if isinstance(item, CouchError):
            rows.append(_refused_row(doc, item, None if new_edits else _rev_of(doc)))
        elif new_edits:
            rows.append(next(results))
    rows.extend(results)  # with new_edits=false the store answers failures only, not one row per doc
    for row in rows:
        row.pop("exception", None)
    return JSONResponse(rows, status=201)


async def _prepare_bulk_doc(req, doc, new_edits):
    """A ``_bulk_docs`` document as it will be written, or the ``CouchError`` that refuses it alone.

    A design document from a non-admin and a refused ``_users`` or ``_replicator`` document fail on their
    own, as validation does in CouchDB (``couch_db:validate_doc_update/3``): an error row, not a failed
    request.
    """
    try:
        if isinstance(doc, dict) and isinstance(doc.get("_id"), str):
            _check_ddoc_admin(req, doc["_id"])
        return await system_dbs.incoming(req, doc, new_edits=new_edits)
    except CouchError as err:
        return err


def _refused_row(doc, err, rev):
    """An error row (chttpd_db:update_doc_result_to_json): a replicated edit's names its rev."""
    row = {"id": doc.get("_id") if isinstance(doc, dict) else None}
    if rev is not None:
        row["rev"] = rev
    row.update(err.to_json())
    return row


def _rev_of(doc):
    return doc.get("_rev") if isinstance(doc, dict) and isinstance(doc.get("_rev"), str) else None


async def bulk_get(req):
    body = await req.json(require_content_type=True)
    docs = body.get("docs") if isinstance(body, dict) else None
    if not isinstance(docs, list):
        raise BadRequest("Missing JSON list of 'docs'.")
    options = doc_options(req.query)
    results = [{**result, "docs": system_dbs.read_rows(req, result["docs"], _not_found)}
               for result in req.db.bulk_get(docs, **options)]
    return JSONResponse({"results": results})


async def revs_diff(req):
    body = await req.json(require_content_type=True)
    return JSONResponse(req.db.revs_diff(body))


async def missing_revs(req):
    body = await req.json(require_content_type=True)
    diff = req.db.revs_diff(body)
    return JSONResponse({"missing_revs": {doc_id: entry["missing"] for doc_id, entry in diff.items()}})
