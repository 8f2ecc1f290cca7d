"""MIME multipart bodies as CouchDB writes and reads them (RFC 2046 section 5.1; ``couch_doc.erl``).

Apache CouchDB's replicator reads documents that have attachments as ``multipart/mixed`` (one part per
requested revision; a revision with attachments is itself a ``multipart/related`` part: the JSON document
with ``"follows": true`` stubs, then one part per attachment body) and writes them with
``PUT /db/doc?new_edits=false`` as ``multipart/related``. Binary bodies travel raw instead of base64.

Writing is a generator of byte chunks, so attachments are not copied into one big buffer. Reading takes a
complete body (the API has already bounded it by ``max_request_size``) and returns its parts.
"""

import json
import re
import uuid

from ..errors import BadRequest
from ..store import compact_json

__all__ = ["boundary_of", "parse", "read_related", "related_parts", "mixed_parts", "byteranges_parts",
           "new_boundary"]

# RFC 2046 section 5.1.1: boundary := 0*69<bchars> bcharsnospace; quoted when it has tspecials.
BOUNDARY_PARAM = re.compile(r';\s*boundary=(?:"([^"]{1,70})"|([^";\s]{1,70}))', re.IGNORECASE)
CRLF = b"\r\n"


def new_boundary():
    return uuid.uuid4().hex


def boundary_of(content_type):
    """The ``boundary`` parameter of a multipart ``Content-Type``; 400 when there is none."""
    match = BOUNDARY_PARAM.search(content_type or "")
    if match is None:
        raise BadRequest("Missing or invalid multipart boundary")
    return match.group(1) or match.group(2)


def _parse_headers(block):
    headers = {}
    for line in block.split(CRLF):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise BadRequest("Malformed multipart part header")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return headers


def parse(body, boundary):
    """The parts of a multipart ``body``: a list of ``(headers, data)`` (header names lower-cased).

    The preamble before the first delimiter and the epilogue after the closing one are ignored, as RFC
    2046 says. Raises ``BadRequest`` when the delimiters or part headers are malformed.
    """
    delimiter = b"--" + boundary.encode("latin-1")
    start = body.find(delimiter)
    if start < 0:
        raise BadRequest("Multipart body has no boundary")
    parts = []
    position = start + len(delimiter)
    while not body.startswith(b"--", position):
        head_start = body.find(CRLF, position)
        end = body.find(CRLF + delimiter, head_start)
        if head_start < 0 or end < 0:
            raise BadRequest("Truncated multipart body")
        part = body[head_start + 2:end]
        block, sep, data = part.partition(CRLF + CRLF)
        if not sep:
            block, data = (b"", part[2:]) if part.startswith(CRLF) else (part, b"")
        parts.append((_parse_headers(block), data))
        position = end + 2 + len(delimiter)
    return parts


def related_parts(doc, attachments, boundary):
    """Chunks of a ``multipart/related`` body: the JSON doc (its attachments in ``attachments`` are
    ``"follows": true`` stubs), then each ``(name, content_type, data)``, sent as the document says they
    are stored (a ``Content-Encoding`` header for those it says are ``"encoding": "gzip"``)."""
    yield b"--%s\r\nContent-Type: application/json\r\n\r\n" % boundary.encode()
    yield compact_json(doc).encode()
    atts = doc.get("_attachments", {})
    for name, content_type, data in attachments:
        encoding = atts.get(name, {}).get("encoding")
        yield (b"\r\n--%s\r\nContent-Disposition: attachment; filename=%s\r\nContent-Type: %s\r\n"
               b"Content-Length: %d\r\n%s\r\n" % (
                   boundary.encode(), json.dumps(name).encode("utf-8"), content_type.encode("latin-1"),
                   len(data), b"Content-Encoding: %s\r\n" % encoding.encode("ascii") if encoding else b""))
        yield data
    yield b"\r\n--%s--" % boundary.encode()


def mixed_parts(entries, boundary):
    """Chunks of a ``multipart/mixed`` body from ``entries``: each ``("json", value, error)`` for a JSON
    part (``error`` marks ``{"missing": rev}`` parts) or ``("related", doc, attachments)``."""
    for kind, value, extra in entries:
        yield b"--%s\r\n" % boundary.encode()
        if kind == "json":
            error = b'; error="true"' if extra else b""
            yield b"Content-Type: application/json%s\r\n\r\n" % error
            yield compact_json(value).encode()
        else:
            inner = new_boundary()
            yield b'Content-Type: multipart/related; boundary="%s"\r\n\r\n' % inner.encode()
            yield from related_parts(value, extra, inner)
        yield CRLF
    yield b"--%s--" % boundary.encode()


def byteranges_parts(data, ranges, content_type, boundary):
    """Chunks of a ``multipart/byteranges`` body (RFC 9110 section 14.6): each ``(first, last)`` of
    ``data`` with its ``Content-Range``, as chttpd_db:send_ranges_multipart/5 writes them."""
    yield b"--%s" % boundary.encode()
    for first, last in ranges:
        yield (b"\r\nContent-Type: %s\r\nContent-Range: bytes %d-%d/%d\r\n\r\n"
               % (content_type.encode("latin-1"), first, last, len(data)))
        yield data[first:last + 1]
        yield b"\r\n--%s" % boundary.encode()
    yield b"--"


def read_related(body, content_type):
    """A ``multipart/related`` document upload: ``(doc, {attachment_name: bytes})``.

    The first part is the JSON document; the following parts are the bodies of the attachments marked
    ``"follows": true``, matched by ``Content-Disposition`` filename or else in document order
    (``couch_doc:doc_from_multi_part_stream``).
    """
    parts = parse(body, boundary_of(content_type))
    if not parts:
        raise BadRequest("Multipart body has no document part")
    try:
        doc = json.loads(parts[0][1])
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("invalid UTF-8 JSON") from None
    if not isinstance(doc, dict):
        raise BadRequest("Document must be a JSON object")
    atts = doc.get("_attachments") if isinstance(doc.get("_attachments"), dict) else {}
    following = [name for name, att in atts.items() if isinstance(att, dict) and att.get("follows")]
    data = {}
    for index, (headers, payload) in enumerate(parts[1:]):
        name = _filename(headers.get("content-disposition", ""))
        if name is None and index < len(following):
            name = following[index]
        if name is not None:
            data[name] = payload
    return doc, data


FILENAME = re.compile(r'filename=(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', re.IGNORECASE)


def _filename(disposition):
    match = FILENAME.search(disposition)
    if match is None:
        return None
    if match.group(1) is not None:
        return json.loads('"' + match.group(1) + '"') if "\\" in match.group(1) else match.group(1)
    return match.group(2)
