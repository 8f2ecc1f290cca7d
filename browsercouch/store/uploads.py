"""An attachment body stored while it arrives, not after.

``PUT /db/doc/att`` may carry tens of megabytes. Held whole, the body is stored in one transaction after
the last byte came in, and in the browser that transaction's pages reach the file store only after that:
the upload, the write and the save run one after the other. ``AttachmentUpload`` instead commits every
``PART_SIZE`` stored bytes as a part of its own (``sqlite.py``: ``attachment_parts``), so the tab's
persister saves earlier parts while later ones arrive, and no copy of the whole body is kept in memory.
The body is encoded (``encodings.py``) and its digest computed on the way. ``finish()`` hands over an
``encodings.Body``, which the document's write links to its digest in the same transaction as the new
revision; until then the parts belong to nothing, and ``discard()`` (or the next open of the file) drops
them.

A body smaller than one part is never committed on its own: its ``Body`` holds the bytes, stored as any
other attachment.
"""

from .encodings import Encoder

__all__ = ["AttachmentUpload", "PART_SIZE"]

# Bytes per part: big enough that a part's commit and save cost little per byte, small enough that the
# save of one overlaps the arrival of the next (the tab's file store writes 1 MiB records).
PART_SIZE = 1 << 20


class AttachmentUpload:
    """Collect one attachment body: ``write(chunk)`` as it arrives, then ``finish()`` or ``discard()``.

    ``content_type`` and ``encoding`` (the request's ``Content-Encoding``) say how it is stored.
    """

    def __init__(self, storage, content_type, encoding=None):
        self._storage = storage
        self._encoder = Encoder(content_type, encoding)
        self._pending = []
        self._pending_size = 0
        self._upload = None
        self._parts = 0

    def write(self, data):
        self._add(self._encoder.write(data))

    def _add(self, stored):
        if not stored:
            return
        self._pending.append(stored)
        self._pending_size += len(stored)
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
        """The body's ``encodings.Body``: its bytes if they fit in one part, else its parts."""
        self._add(self._encoder.finish())
        if self._upload is None:
            return self._encoder.body(data=b"".join(self._pending))
        if self._pending:
            self._commit_part()
        return self._encoder.body(upload=self._upload)

    def discard(self):
        """Drop the parts committed so far (the body will not be used)."""
        self._pending = []
        if self._upload is not None and not self._storage.closed:  # a deleted database took them along
            with self._storage.transaction():
                self._storage.delete_parts(self._upload)
            self._upload = None
