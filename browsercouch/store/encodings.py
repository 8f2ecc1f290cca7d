"""Attachment bodies as CouchDB 3.x stores them: compressible types gzip-encoded, digests of stored bytes.

CouchDB gzips an attachment of a compressible type when it is written (``[attachments]
compressible_types``, ``compression_level = 8``; ``couch_db:with_stream/3``) and its ``digest`` is the md5
of the bytes it stores: the gzip stream. Its replicator moves such attachments encoded (``"encoding":
"gzip"``, ``"encoded_length"``), and every reader gets them decoded unless it accepts gzip. We store
attachments the same way: zlib with CouchDB's parameters gives CouchDB's gzip stream byte for byte, so an
attachment written here has the digest CouchDB gives it, whoever replicates it (CouchDB's replicator,
ours, PouchDB's), and a round trip CouchDB -> browsercouch -> CouchDB is identical.

PouchDB's digests are the md5 of the identity bytes whatever the type. An attachment that arrives with such
a digest, proved by its bytes, is stored as it is and keeps it, so a round trip PouchDB -> browsercouch ->
PouchDB is identical too. (CouchDB ignores a digest sent with inline data and would gzip it.)

``Body`` is one attachment body on its way into storage: its stored bytes (or the upload whose parts
hold them), digest, identity length and encoding.
"""

import hashlib
import re
import zlib
from dataclasses import dataclass

from ..errors import BadRequest, TooLarge
from .documents import md5_digest

__all__ = ["GZIP", "Body", "is_compressible", "encode", "decode", "Encoder", "received_body"]

GZIP = "gzip"
# CouchDB 3.x's defaults (default.ini [attachments]).
COMPRESSIBLE_TYPES = ("text/*", "application/javascript", "application/json", "application/xml")
COMPRESSION_LEVEL = 8
# zlib's window bits for a gzip stream (16 + 15) and CouchDB's memLevel (couch_stream: deflateInit2).
GZIP_WBITS = 31
MEM_LEVEL = 8
# CouchDB's [couchdb] max_attachment_size default: a received gzip stream may not inflate to more.
MAX_DECODED_LENGTH = 1 << 30
# Bytes inflated at a time while checking a received gzip stream: memory stays bounded whatever its ratio.
INFLATE_STEP = 1 << 20
# couch_db:compressible_att_type/1: each pattern's "*" matches anything; parameters may follow a ";".
COMPRESSIBLE = re.compile(
    r"^\s*(?:%s)(?:\s*;.*?)?\s*$" % "|".join(re.escape(t).replace(r"\*", ".*") for t in COMPRESSIBLE_TYPES),
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Body:
    """An attachment body ready to store: ``data`` (stored bytes) or ``upload`` (the parts holding
    them), ``digest`` (``md5-`` of the stored bytes), ``length`` (identity bytes), ``encoding`` (``None``
    or ``"gzip"``) and ``encoded_length`` (stored bytes)."""

    digest: str
    length: int
    encoding: str | None
    encoded_length: int
    data: bytes | None = None
    upload: int | None = None


def is_compressible(content_type):
    return bool(COMPRESSIBLE.match(content_type or ""))


def encode(content_type, data, digest=None):
    """The ``Body`` of identity bytes ``data``: gzipped as CouchDB does when the type is compressible,
    unless ``digest`` is theirs (a PouchDB digest): then kept as they are."""
    if digest is not None and _identity(data, digest):
        return Body(digest, len(data), None, len(data), data=data)
    encoder = Encoder(content_type, None)
    stored = encoder.write(data) + encoder.finish()
    return encoder.body(data=stored)


def decode(encoding, data):
    """The identity bytes of stored ``data``."""
    return zlib.decompress(data, GZIP_WBITS) if encoding == GZIP else data


def received_body(content_type, data, encoding=None, digest=None):
    """The ``Body`` of bytes that arrived as they are (``"follows": true``): stored as they came when they
    are gzip-encoded already or come with their digest, else encoded as CouchDB would. A ``digest`` sent
    with them must match them (``couch_util:check_md5/2``)."""
    if digest is not None and not _identity(data, digest):
        raise BadRequest("Possible message corruption.", error="content_md5_mismatch")
    if digest is not None and encoding is None:
        return Body(digest, len(data), None, len(data), data=data)
    encoder = Encoder(content_type, encoding)
    stored = encoder.write(data) + encoder.finish()
    return encoder.body(data=stored)


def _identity(data, digest):
    return md5_digest(hashlib.md5(data)) == digest


class Encoder:
    """Turn an attachment body, chunk by chunk, into the bytes to store, hashing them on the way.

    ``received_encoding`` is how the bytes arrive: ``None`` (identity) or ``"gzip"`` (a client's
    ``Content-Encoding``, a replicator's ``"encoding"``), which is stored as it is once checked to be a
    valid gzip stream. Identity bytes of a compressible type are gzipped.
    """

    def __init__(self, content_type, received_encoding):
        if received_encoding not in (None, "identity", GZIP):
            raise BadRequest(f"Unsupported attachment encoding: {received_encoding}")
        self.encoding = GZIP if received_encoding == GZIP or is_compressible(content_type) else None
        self._compressor = (zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, GZIP_WBITS, MEM_LEVEL)
                            if self.encoding == GZIP and received_encoding != GZIP else None)
        self._checker = zlib.decompressobj(GZIP_WBITS) if received_encoding == GZIP else None
        self._md5 = hashlib.md5()
        self.length = 0
        self.encoded_length = 0

    def write(self, chunk):
        """The stored bytes for ``chunk`` (possibly none yet: the compressor buffers)."""
        if self._checker is not None:
            self._inflate(chunk)
            out = chunk
        else:
            self.length += len(chunk)
            out = self._compressor.compress(chunk) if self._compressor else chunk
        return self._stored(out)

    def finish(self):
        """The last stored bytes; raises ``BadRequest`` when a received gzip stream is incomplete."""
        if self._checker is not None:
            self._inflate(b"")
            if not self._checker.eof:
                raise BadRequest("Attachment is not a complete gzip stream")
            return b""
        return self._stored(self._compressor.flush()) if self._compressor else b""

    def body(self, **where):
        """The ``Body`` of everything written, stored in ``data=`` or ``upload=``."""
        return Body(md5_digest(self._md5), self.length, self.encoding, self.encoded_length, **where)

    def _inflate(self, chunk):
        """Count the identity bytes of a received gzip ``chunk`` without keeping them."""
        while True:
            try:
                out = self._checker.decompress(chunk, INFLATE_STEP)
            except zlib.error:
                raise BadRequest("Attachment is not a valid gzip stream") from None
            self.length += len(out)
            if self.length > MAX_DECODED_LENGTH:
                raise TooLarge("Attachment inflates past max_attachment_size", error="attachment_too_large")
            chunk = self._checker.unconsumed_tail
            if not chunk and len(out) < INFLATE_STEP:
                return

    def _stored(self, out):
        self._md5.update(out)
        self.encoded_length += len(out)
        return out
