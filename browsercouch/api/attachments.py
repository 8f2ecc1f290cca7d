"""Attachment routes: ``GET``/``HEAD``/``PUT``/``DELETE /db/doc/att``, with ETags, byte ranges and content
encodings as CouchDB 3.x (``chttpd_db:db_attachment_req/4``): an attachment stored gzip-encoded is sent
as stored to a client that accepts gzip, decoded to any other, and never in ranges."""

import re

from ..errors import BadContentType, RangeNotSatisfiable
from ..store import encodings
from . import multipart, system_dbs
from .documents import _aiter, _check_ddoc_admin, _if_match, user_ctx
from .messages import ChunkedResponse, JSONResponse, Response, etag_matches

# RFC 9110 section 14.1.2: ``bytes=`` and ranges ``first-last`` (or ``first-``, or ``-suffix``), ASCII
# digits, separated by commas.
BYTE_RANGES = re.compile(r"^bytes=\s*([0-9]*-[0-9]*(?:\s*,\s*[0-9]*-[0-9]*)*)\s*$")
# chttpd_db: fewer ranges than this are sent as multipart/byteranges; more, the whole attachment.
MAX_RANGES = 10
# A range position of more digits than this is past the end of any attachment; it is read as FAR, never
# converted (``int()`` refuses more than 4300 digits).
MAX_POSITION_DIGITS = 18
FAR = 10**MAX_POSITION_DIGITS


def _doc_id(req):
    return req.params["doc"]


async def get(req):
    system_dbs.check_document_read(req, _doc_id(req), req.query.get("rev"))
    rev, att, data = req.db.get_attachment(_doc_id(req), req.params["att"], req.query.get("rev"),
                                           encoded=True)
    etag = '"' + att["digest"][4:] + '"'
    if etag_matches(req, etag):
        return Response(304, headers=[("ETag", etag)], content_type=None)
    encoding = att.get("encoding")
    headers = [("ETag", etag), ("Accept-Ranges", "none" if encoding else "bytes")]
    if encoding:
        if encoding in _accepted_encodings(req):
            headers.append(("Content-Encoding", encoding))
        else:
            data = encodings.decode(encoding, data)
        return Response(200, data, headers=headers, content_type=att["content_type"])
    ranges = _parse_ranges(req.headers.get("range"), len(data))
    if ranges is None or len(ranges) >= MAX_RANGES:
        return Response(200, data, headers=headers, content_type=att["content_type"])
    if len(ranges) > 1:
        boundary = multipart.new_boundary()
        parts = multipart.byteranges_parts(data, ranges, att["content_type"], boundary)
        response = ChunkedResponse(_aiter(parts), status=206,
                                  content_type=f'multipart/byteranges; boundary="{boundary}"')
        response.revalidate = False  # chttpd_db:send_ranges_multipart/5 sends none
        return response
    [(first, last)] = ranges
    headers.append(("Content-Range", f"bytes {first}-{last}/{len(data)}"))
    return Response(206, data[first:last + 1], headers=headers, content_type=att["content_type"])


def _accepted_encodings(req):
    """The content codings ``Accept-Encoding`` allows (``q=0`` excluded); ``*`` stands for any."""
    accepted = set()
    for item in req.headers.get("accept-encoding", "").split(","):
        coding, _, params = item.strip().lower().partition(";")
        quality = params.strip().removeprefix("q=") if params.strip().startswith("q=") else "1"
        if coding and quality.strip() not in ("0", "0.0", "0.00", "0.000"):
            accepted.add("gzip" if coding in ("*", "x-gzip") else coding.strip())
    return accepted


def _parse_ranges(header, size):
    """``[(first, last), ...]`` of a satisfiable ``Range``, or ``None`` to send everything (no header, a
    malformed one, or one that starts at ``0-``, as chttpd_db:parse_ranges/3); raises 416."""
    match = BYTE_RANGES.match(header.strip()) if header else None
    if match is None:
        return None
    specs = [spec.strip().split("-") for spec in match.group(1).split(",")]
    if any(not first and not last for first, last in specs) or specs[0] == ["0", ""]:
        return None
    ranges = []
    for first, last in specs:
        if not first:
            first, last = max(size - _position(last), 0), size - 1
        else:
            first, last = _position(first), min(_position(last), size - 1) if last else size - 1
        if first >= size or first > last:
            raise RangeNotSatisfiable()
        ranges.append((first, last))
    return ranges


def _position(digits):
    return int(digits) if len(digits) <= MAX_POSITION_DIGITS else FAR


async def put(req):
    doc_id = _doc_id(req)
    _check_ddoc_admin(req, doc_id)
    await system_dbs.check_document_write(req, doc_id)
    content_type = req.headers.get("content-type") or "application/octet-stream"
    rev = req.query.get("rev") or _if_match(req)
    upload = req.db.attachment_upload(content_type, _content_encoding(req))
    try:
        async for chunk in req.body_chunks():
            upload.write(chunk)
        data = upload.finish()
    except BaseException:
        upload.discard()
        raise
    result = req.db.put_attachment(doc_id, req.params["att"], rev, content_type, data, upload,
                                   user_ctx=user_ctx(req))
    # CouchDB answers an attachment write with its Location and no ETag (chttpd_db:db_attachment_req/4).
    location = req.absolute_uri(req.params["db"], doc_id, req.params["att"])
    return JSONResponse(result, status=201, headers=[("Location", location)])


def _content_encoding(req):
    """``None`` or ``"gzip"``: how the body is encoded; CouchDB takes no other coding."""
    coding = req.headers.get("content-encoding", "identity").strip().lower()
    if coding not in ("identity", "gzip"):
        raise BadContentType("Only gzip and identity content-encodings are supported")
    return None if coding == "identity" else coding


async def delete(req):
    doc_id = _doc_id(req)
    _check_ddoc_admin(req, doc_id)
    await system_dbs.check_document_write(req, doc_id)
    rev = req.query.get("rev") or _if_match(req)
    return JSONResponse(req.db.delete_attachment(doc_id, req.params["att"], rev,
                                                 user_ctx=user_ctx(req)))
