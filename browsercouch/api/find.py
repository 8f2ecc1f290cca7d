"""Mango routes: ``_find``, ``_explain`` and ``_index`` (``mango_httpd``), over the store's queries.

Indexes are design documents, so creating and deleting them is for database admins (CouchDB refuses
others when it saves the design document); ``_find`` and ``_explain`` of ``_users`` and ``_replicator``
read every document, so they are server admins' only, as those databases' listings are.

``_find`` streams its documents as CouchDB does (``{"docs":[`` then one per line, then the bookmark,
``execution_stats`` and ``warning``), from the store's ``find.Cursor``, yielding to the event loop every
``ROWS_PER_CHUNK`` documents so a long scan does not hold the server.
"""

import asyncio

from ..errors import BadRequest, NotFound
from . import system_dbs
from .messages import ChunkedResponse, JSONResponse, dumps

# Documents per chunk of a _find answer (and per turn of the event loop).
ROWS_PER_CHUNK = 100


async def _object_body(req):
    body = await req.json(require_content_type=True)
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body


async def find(req):
    """The first chunk is made before the answer starts, so an error met with the first documents (a
    field name that does not parse) is an error answer, as CouchDB's delayed response makes it."""
    system_dbs.check_listing(req)
    cursor = await req.db.find(await _object_body(req))
    chunks = _find_chunks(cursor)
    first = await chunks.__anext__()
    return ChunkedResponse(_after(first, chunks))


async def _after(first, chunks):
    yield first
    async for chunk in chunks:
        yield chunk


async def _find_chunks(cursor):
    """``{"docs":[`` the rows ``],`` then the trailer's members, CouchDB's layout (``mango_httpd``)."""
    chunk, separator = [b'{"docs":['], b"\r\n"
    for n, doc in enumerate(cursor, 1):
        chunk.append(separator + dumps(doc)[:-1])
        separator = b",\r\n"
        if n % ROWS_PER_CHUNK == 0:
            yield b"".join(chunk)
            chunk = []
            await asyncio.sleep(0)
    chunk.append(b"\r\n]")
    for key, value in cursor.trailer().items():
        chunk.append(b",\r\n" + dumps(key)[:-1] + b": " + dumps(value)[:-1])
    chunk.append(b"}\r\n")
    yield b"".join(chunk)


async def explain(req):
    system_dbs.check_listing(req)
    return JSONResponse(req.db.explain(await _object_body(req)))


def _index_param(req, name):
    value = req.query.raw.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest("Index parameter ranges: limit > 1, skip > 0",
                         error="invalid_list_index_params") from None


async def list_indexes(req):
    return JSONResponse(req.db.indexes(_index_param(req, "limit"), _index_param(req, "skip") or 0))


async def create_index(req):
    return JSONResponse(req.db.create_index(await _object_body(req)))


async def bulk_delete(req):
    return JSONResponse(req.db.bulk_delete_indexes(await _object_body(req)))


async def delete_index(req):
    """``DELETE /db/_index/DDOC/TYPE/NAME`` (``DDOC`` with or without ``_design/``)."""
    parts = req.params["index"].split("/")
    if parts[0] == "_design" and len(parts) == 4:
        parts = ["_design/" + parts[1]] + parts[2:]
    if len(parts) != 3:
        raise NotFound("missing")
    return JSONResponse(req.db.delete_index(*parts))
