"""An attachment body stored while it arrives, not after.

``PUT /db/doc/att`` may carry tens of megabytes. Held whole, the body is stored in one transaction after
the last byte came in, and in the browser that transaction's pages reach IndexedDB only after that: the
upload, the write and the save run one after the other. ``AttachmentUpload`` instead commits every
``PART_SIZE`` bytes as a part of its own (``sqlite.py``: ``attachment_parts``), so the tab's persister
saves earlier parts while later ones arrive, and no copy of the whole body is kept in memory. The digest
is computed on the way. ``finish()`` hands over a ``StreamedAttachment``, which the document's write links
to its digest in the same transaction as the new revision; until then the parts belong to nothing, and
``discard()`` (or the next open of the file) drops them.

A body smaller than one part is never committed on its own: ``finish()`` returns its bytes, stored as
any other attachment.
"""

import hashlib
from dataclasses import dataclass

from .documents import md5_digest

__all__ = ["AttachmentUpload", "StreamedAttachment", "PART_SIZE"]

# Bytes per part: big enough that a part's commit and save cost little per byte, small enough that the
# save of one overlaps the arrival of the next (the tab's file store writes 1 MiB records).
PART_SIZE = 1 << 20


@dataclass(frozen=True)
class StreamedAttachment:
    """An attachment body stored as ``upload``'s parts: ``digest`` (``md5-...``) and ``length``."""

    digest: str
    length: int
    upload: int


class AttachmentUpload:
    """Collect one attachment body: ``write(chunk)`` as it arrives, then ``finish()`` or ``discard()``."""

    def __init__(self, storage):
        self._storage = storage
        self._md5 = hashlib.md5()
        self._pending = []
        self._pending_size = 0
        self._upload = None
        self._parts = 0
        self.length = 0

    def write(self, data):
        self._md5.update(data)
        self.length += len(data)
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= PART_SIZE:
            self._commit_part()

    def _commit_part(self):
        data = b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        if self._upload is None:
            self._upload = self._storage.new_upload()
        with self._storage.transaction():
            self._storage.put_part(self._upload, self._parts, data)
        self._parts += 1

    def finish(self):
        """The body: its bytes if it fit in one part, else a ``StreamedAttachment`` of its parts."""
        if self._upload is None:
            return b"".join(self._pending)
        if self._pending:
            self._commit_part()
        return StreamedAttachment(md5_digest(self._md5), self.length, self._upload)

    def discard(self):
        """Drop the parts committed so far (the body will not be used)."""
        self._pending = []
        if self._upload is not None and not self._storage.closed:  # a deleted database took them along
            with self._storage.transaction():
                self._storage.delete_parts(self._upload)
            self._upload = None
