"""What the replicator needs from a database, and how a source or target description becomes one.

A replication sees two endpoints, never URLs (STYLE.md rule 7). ``Endpoint`` documents the methods;
``LocalEndpoint`` (a database of a ``store.Couch`` in this process) and ``RemoteEndpoint`` (a database
URL, through an ``HttpClient``) implement them with the same JSON shapes as CouchDB's HTTP API, and both
raise the ``browsercouch.errors`` classes, so the replicator catches ``NotFound`` whichever it is.
Every method is a coroutine. As a *source* an endpoint serves ``id``, ``info``, ``changes``,
``bulk_get``, ``get_attachment`` and ``get_local``/``put_local``; as a *target* ``id``, ``info``,
``create``, ``revs_diff``, ``bulk_docs``, ``ensure_full_commit`` and ``get_local``/``put_local``.

Errors an endpoint raises carry ``peer``, the endpoint's ``name`` (a URL with the password masked, or
``local database NAME``), so a failure message can say who failed.
"""

__all__ = ["Endpoint", "tag_error"]


class Endpoint:
    """The interface. ``name`` is a printable description that never contains credentials."""

    name = "endpoint"

    async def id(self):
        """A string that identifies the database itself (server uuid and database name), for the
        replication id; the same database reached another way should give the same string."""
        raise NotImplementedError

    async def info(self):
        """``GET /db``: a dict with at least ``update_seq``; ``NotFound`` if the database is missing."""
        raise NotImplementedError

    async def create(self):
        """``PUT /db``; succeeds if the database exists already."""
        raise NotImplementedError

    async def changes(self, since, *, limit, longpoll=False, heartbeat=None, doc_ids=None, selector=None,
                      filter=None, query_params=None):
        """One batch of ``_changes?style=all_docs``: ``{"results": [...], "last_seq": S, "pending": N}``.

        Rows are ``{"seq", "id", "changes": [{"rev"}...], "deleted"?}``, at most ``limit`` of them, after
        the opaque sequence ``since``. With ``longpoll`` the call waits (sending ``heartbeat`` seconds
        apart, for a remote peer) until a change or the peer's feed timeout, and may return no rows. At
        most one of ``doc_ids``, ``selector`` or ``filter`` (``"ddoc/name"`` with ``query_params``).
        ``pending`` may be ``None`` when the peer does not say.
        """
        raise NotImplementedError

    async def bulk_get(self, requests, *, attachments=False):
        """``POST /_bulk_get?revs=true&latest=true``: ``[{"id", "docs": [{"ok": doc} | {"error": {...}}]}]``.

        ``requests`` are ``{"id", "rev", "atts_since"?}``; with ``attachments`` every attachment comes
        inline, else only those newer than ``atts_since`` (a peer may ignore ``atts_since`` and send stubs).
        """
        raise NotImplementedError

    async def get_attachment(self, doc_id, name, rev):
        """The bytes of attachment ``name`` of ``doc_id`` at ``rev``."""
        raise NotImplementedError

    async def revs_diff(self, revs):
        """``POST /_revs_diff``: ``{id: {"missing": [...], "possible_ancestors": [...]?}}`` for ``revs``
        (``{id: [rev, ...]}``); ids with nothing missing are left out."""
        raise NotImplementedError

    async def bulk_docs(self, docs):
        """``POST /_bulk_docs`` with ``new_edits: false``; returns only the rows that failed."""
        raise NotImplementedError

    async def ensure_full_commit(self):
        """``POST /_ensure_full_commit``: everything written so far is durable."""
        raise NotImplementedError

    async def get_local(self, doc_id):
        """The ``_local/...`` document ``doc_id`` (with ``_id`` and ``_rev``); ``NotFound`` if missing."""
        raise NotImplementedError

    async def put_local(self, doc):
        """Write a ``_local/...`` document; returns ``{"ok", "id", "rev"}``; ``Conflict`` on a stale rev."""
        raise NotImplementedError


def tag_error(err, name):
    """Set ``err.peer`` to ``name`` unless it names a peer already; return ``err``."""
    if getattr(err, "peer", None) is None:
        err.peer = name
    return err
