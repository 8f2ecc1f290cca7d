"""Attachment routes: ``GET``/``HEAD``/``PUT``/``DELETE /db/doc/att``, with ETags, byte ranges and content
encodings as CouchDB 3.x (``chttpd_db:db_attachment_req/4``): an attachment stored gzip-encoded is sent
as stored to a client that accepts gzip, decoded to any other, and never in ranges."""

import re

from ..errors import BadContentType, Conflict, RangeNotSatisfiable
from ..store.encodings import decode
from .documents import _check_ddoc_admin, _if_match
from .messages import JSONResponse, Response

# RFC 9110 section 14.1.2: a single ``bytes=first-last`` range (or ``first-``, or ``-suffix``), ASCII digits.
SINGLE_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")
# A range position of more digits than this is past the end of any attachment; it is read as FAR, never
# converted (``int()`` refuses more than 4300 digits).
MAX_POSITION_DIGITS = 18
FAR = 10**MAX_POSITION_DIGITS


def _doc_id(req):
    return req.params["doc"]


async def get(req):
    rev, att, data = req.db.get_attachment(_doc_id(req), req.params["att"], req.query.get("rev"),
                                           encoded=True)
    etag = '"' + att["digest"][4:] + '"'
    encoding = att.get("encoding")
    headers = [("ETag", etag), ("Accept-Ranges", "none" if encoding else "bytes")]
    if req.headers.get("if-none-match", "").strip() == etag:
        return Response(304, headers=headers, content_type=None)
    if encoding:
        if encoding in _accepted_encodings(req):
            headers.append(("Content-Encoding", encoding))
        else:
            data = decode(encoding, data)
        return Response(200, data, headers=headers, content_type=att["content_type"])
    byte_range = _parse_range(req.headers.get("range"), len(data))
    if byte_range is None:
        return Response(200, data, headers=headers, content_type=att["content_type"])
    first, last = byte_range
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


def _parse_range(header, size):
    """``(first, last)`` for a satisfiable single range, ``None`` to send everything; raises 416.

    Several ranges at once are answered with the whole attachment, which RFC 9110 allows.
    """
    if not header:
        return None
    match = SINGLE_RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        first, last = max(size - _position(last), 0), size - 1
    else:
        first, last = _position(first), min(_position(last), size - 1) if last else size - 1
    if first >= size or first > last:
        raise RangeNotSatisfiable()
    return first, last


def _position(digits):
    return int(digits) if len(digits) <= MAX_POSITION_DIGITS else FAR


async def put(req):
    doc_id = _doc_id(req)
    _check_ddoc_admin(req, doc_id)
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
    result = req.db.put_attachment(doc_id, req.params["att"], rev, content_type, data, upload)
    return JSONResponse(result, status=201, headers=[("ETag", f'"{result["rev"]}"')])


def _content_encoding(req):
    """``None`` or ``"gzip"``: how the body is encoded; CouchDB takes no other coding."""
    coding = req.headers.get("content-encoding", "identity").strip().lower()
    if coding not in ("identity", "gzip"):
        raise BadContentType("Only gzip and identity content-encodings are supported")
    return None if coding == "identity" else coding


async def delete(req):
    doc_id = _doc_id(req)
    _check_ddoc_admin(req, doc_id)
    rev = req.query.get("rev") or _if_match(req)
    if rev is None:
        raise Conflict()
    result = req.db.delete_attachment(doc_id, req.params["att"], rev)
    return JSONResponse(result, status=200, headers=[("ETag", f'"{result["rev"]}"')])
