"""Normalisation: one server's answers made comparable with another's, as plain data, without I/O.

CouchDB and browsercouch may differ in ways no client can rely on, and the comparison must not see them:

- **Revision hashes** (and uuids, server uuids, generated ids): CouchDB hashes an edit with Erlang's term
  format, browsercouch with canonical JSON. Every 32-hex-digit token becomes ``⟨h1⟩``, ``⟨h2⟩``, ... in
  order of first appearance in the server's transcript; the generation number of a rev stays
  (``"2-⟨h3⟩"``). Revisions the corpus writes itself (``1-a``) are not 32 hex digits and stay as they are.
- **Sequences** (``seq``, ``last_seq``, ``update_seq``, ``purge_seq``, an event's ``id``): CouchDB's are
  opaque ``"N-g1AAA..."`` strings, ours integers. Each becomes ``⟨s1⟩``, ``⟨s2⟩``, ... by its number
  ``N``, in order of first appearance, so two answers naming the same sequence still agree.
- **Opaque ETags** (``"DHUGHH80EARQRUQ60AJ61GKLV"``, CouchDB's ``chttpd:make_etag``: an md5 in base 36)
  become ``⟨e1⟩``, ... in order of first appearance, as hashes do: two answers about the same state
  must carry the same ETag, and a changed state a new one.
- **Times, sizes and secrets**: ``instance_start_time``, the members of ``sizes``, a user's ``salt`` and
  ``derived_key``, and the ``Expires`` date of a cookie.
- **Origins and secrets in headers**: the ``scheme://host:port`` of a ``Location`` (CouchDB's is
  absolute, a relative one means the same), the value of an ``AuthSession`` cookie, multipart boundaries.

Placeholders are numbered per server; ``compare`` pairs CouchDB's with ours where they stand in the same
place and insists the pairing stays one to one. First appearance is counted in the body before the
headers and over object members in sorted key order, so member order, which JSON does not define,
cannot shift the numbering.
"""

import json
import re

__all__ = ["Normaliser", "COMPARED_HEADERS", "SEQUENCE_KEYS", "TOKEN", "parse_body"]

# What clients read from a response's headers; the rest (Server, Date, X-Couch-Request-ID,
# X-CouchDB-Body-Time, Content-Length, Transfer-Encoding) is transport or diagnostics.
COMPARED_HEADERS = ("cache-control", "content-type", "etag", "location", "content-range", "accept-ranges",
                    "content-encoding", "set-cookie", "www-authenticate")
SEQUENCE_KEYS = frozenset({"seq", "last_seq", "update_seq", "purge_seq"})
TIME_KEYS = frozenset({"instance_start_time"})
SECRET_KEYS = frozenset({"salt", "derived_key"})
HASH = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
BOUNDARY = re.compile(r'boundary="?([^";]+)"?')
ORIGIN = re.compile(r"^https?://[^/]+")
COOKIE_VALUE = re.compile(r"^(AuthSession=)[^;]+")
COOKIE_EXPIRES = re.compile(r"(Expires=)[^;]+")
OPAQUE_ETAG = re.compile(r'^"[0-9A-Z]{1,25}"$')
# A placeholder the normaliser wrote: its kind (h: hash, s: sequence, e: opaque ETag) and number.
TOKEN = re.compile(r"⟨([hse])(\d+)⟩")


class Normaliser:
    """Normalises the answers of one server's transcript, in order (placeholders are per transcript)."""

    def __init__(self):
        self.hashes = {}
        self.sequences = {}
        self.etags = {}

    def exchange(self, status, headers, raw):
        """``{"status", "headers", "body"}`` for one answer: ``headers`` is a mapping with ``get`` (the
        compared ones only, by lower-case name), ``raw`` the body bytes."""
        content_type = headers.get("Content-Type") or ""
        boundary = BOUNDARY.search(content_type)
        body = self.value(parse_body(content_type, raw, boundary.group(1) if boundary else None))
        kept = {name: self._header(name, headers.get(name)) for name in COMPARED_HEADERS
                if headers.get(name) is not None}
        return {"status": status, "body": body, "headers": kept}

    def _header(self, name, value):
        value = BOUNDARY.sub('boundary="<boundary>"', value) if name == "content-type" else value
        if name == "location":
            value = ORIGIN.sub("", value)
        if name == "set-cookie":
            value = COOKIE_EXPIRES.sub(r"\1<date>", COOKIE_VALUE.sub(r"\1<cookie>", value))
        if name == "etag" and OPAQUE_ETAG.match(value):
            return self._placeholder(self.etags, value, "e")
        return self.text(value)

    def text(self, text):
        """``text`` with every 32-hex-digit token replaced by its placeholder."""
        return HASH.sub(lambda match: self._placeholder(self.hashes, match.group(0), "h"), text)

    def sequence(self, value):
        """The placeholder of a sequence: an integer, or a string whose number is before its first ``-``."""
        number = value
        if isinstance(value, str):
            head = value.split("-", 1)[0]
            number = int(head) if head.isdigit() else value
        if isinstance(number, bool) or not isinstance(number, (int, str)):
            return self.value(value)
        return self._placeholder(self.sequences, number, "s")

    def value(self, value, key=None):
        """A JSON value normalised; ``key`` is the object member it is the value of."""
        if key in SEQUENCE_KEYS:
            return self.sequence(value)
        if key in TIME_KEYS:
            return "<time>"
        if key in SECRET_KEYS:
            return "<secret>"
        if key == "sizes" and isinstance(value, dict):
            return {name: "<size>" for name in value}
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {self.text(name): self.value(value[name], name) for name in sorted(value)}
        return value

    @staticmethod
    def _placeholder(table, token, prefix):
        if token not in table:
            table[token] = f"⟨{prefix}{len(table) + 1}⟩"
        return table[token]


def parse_body(content_type, raw, boundary=None):
    """A body as data: JSON (one document, or ``{"lines": [...]}`` for continuous feeds), server-sent
    events as a list of ``{field: value}`` (an event's ``id``, a JSON sequence, as ``seq``), multipart as a
    list of parts, other bytes as text; an empty body is ``None``.

    Blank lines are no JSON line and no event (heartbeats, CouchDB's first newline), and a body that is
    JSON on neither reading stays text, so a malformed answer is compared as what it is.
    """
    media = content_type.split(";")[0].strip().lower()
    text = raw.decode("utf-8", "replace")
    if media == "text/event-stream":
        return [_event(block) for block in text.split("\n\n") if block.strip()]
    if not raw:
        return None
    if media == "application/json":
        return _json_document_or_lines(text)
    if media.startswith("multipart/") and boundary:
        return _multipart(text, boundary)
    return text


def _json_document_or_lines(text):
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return {"lines": [json.loads(line) for line in text.splitlines() if line.strip()]}
    except ValueError:
        return text


def _event(block):
    fields = {}
    for line in block.splitlines():
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        fields[name] = _json_document_or_lines(value) if name == "data" and value else value
    if "id" in fields:
        fields["seq"] = _json_document_or_lines(fields.pop("id"))
    return fields


def _multipart(text, boundary):
    parts = []
    for chunk in text.split("--" + boundary)[1:]:
        if chunk.startswith("--"):
            break
        head, _, body = chunk.strip("\r\n").partition("\r\n\r\n")
        lines = [line for line in head.splitlines() if line and not line.lower().startswith("content-length")]
        nested = BOUNDARY.search(head)
        if nested:
            body = _multipart(body, nested.group(1))
        elif body[:1] == "{":
            body = _json_document_or_lines(body)
        headers = sorted(BOUNDARY.sub('boundary="<boundary>"', line).lower() for line in lines)
        parts.append({"headers": headers, "body": body})
    return parts
