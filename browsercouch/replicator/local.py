"""``LocalEndpoint``: a database of a ``store.Couch`` in this process, as a replication source or target.

The store's methods are synchronous and short (one SQLite transaction each); the only wait is a
long-poll for the next change (``Database.wait_for_change``). Answers have the JSON shapes of the HTTP
API, so the replicator cannot tell a local endpoint from a remote one.

A job a server runs for a user uses that user's rights, as their own requests would: ``access(couch,
db_name, action)`` is called before every use of the database and raises the ``CouchError`` that refuses
it. ``action`` is ``"use"`` (read, or write documents and checkpoints), ``"create"`` or ``"design"``
(write a design document: a refused one fails alone, as a ``_bulk_docs`` row). Without ``access``
everything is allowed (the command line's own databases).
"""

import time

from ..errors import BadRequest, CouchError, FileExists
from .endpoint import Endpoint, tag_error

__all__ = ["LocalEndpoint", "DEFAULT_FEED_TIMEOUT"]

# A long-poll with nothing to report returns after this many seconds (as a remote feed's ``timeout``).
DEFAULT_FEED_TIMEOUT = 25.0


def _local_seq(since):
    """Our sequences are integers; accept them as CouchDB-style strings too (``"12"``, ``"12-g1A..."``)."""
    if isinstance(since, int) and not isinstance(since, bool):
        return since
    head = str(since).split("-", 1)[0].strip('"')
    if not head.isdigit():
        raise BadRequest(f"Malformed sequence supplied in 'since' parameter: {since}")
    return int(head)


class _Tagged:
    """Context manager: errors raised inside carry the endpoint's name as ``peer``."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if isinstance(exc, CouchError):
            tag_error(exc, self.name)
        return False


def _allow_all(couch, db_name, action):
    """The ``access`` of an endpoint that may do anything."""


class LocalEndpoint(Endpoint):
    """Database ``db_name`` of ``couch`` (a ``store.Couch``). ``feed_timeout``: long-poll seconds;
    ``access``: what the job's user may do (see the module's docstring)."""

    def __init__(self, couch, db_name, *, feed_timeout=DEFAULT_FEED_TIMEOUT, access=None):
        self.couch = couch
        self.db_name = db_name
        self.name = f"local database {db_name}"
        self.feed_timeout = feed_timeout
        self._access = access or _allow_all
        self._errors = _Tagged(self.name)

    @property
    def db(self):
        """The open ``store.Database``; ``NotFound`` if it does not exist, the ``access`` refusal if the
        job's user may not use it."""
        self._access(self.couch, self.db_name, "use")
        return self.couch.get_db(self.db_name)

    async def id(self):
        return f"{self.couch.uuid}/{self.db_name}"

    async def info(self):
        with self._errors:
            return self.db.info()

    async def create(self):
        with self._errors:
            self._access(self.couch, self.db_name, "create")
            try:
                self.couch.create_db(self.db_name)
            except FileExists:
                pass

    async def changes(self, since, *, limit, longpoll=False, heartbeat=None, doc_ids=None, selector=None,
                      filter=None, query_params=None):
        with self._errors:
            db = self.db
            selection = _selection(db, doc_ids, selector, filter, query_params)
            options = dict(selection, limit=limit, all_leaves=True)
            deadline = time.monotonic() + self.feed_timeout
            rows, end = await _pass(db, _local_seq(since), options)
            while longpoll and not rows and not db.closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not await db.wait_for_change(end.last_seq, remaining):
                    break
                rows, end = await _pass(db, end.last_seq, options)
            return {"results": rows, "last_seq": end.last_seq, "pending": end.pending}

    async def bulk_get(self, requests, *, attachments=False):
        with self._errors:
            return self.db.bulk_get(requests, revs=True, latest=True, attachments=attachments)

    async def get_attachment(self, doc_id, name, rev):
        with self._errors:
            return self.db.get_attachment(doc_id, name, rev)[2]

    async def revs_diff(self, revs):
        with self._errors:
            return self.db.revs_diff(revs)

    async def bulk_docs(self, docs):
        with self._errors:
            db = self.db
            refused = {doc["_id"]: _refused_row(doc, err) for doc, err in self._refused_designs(docs)}
            failed = db.update_docs([doc for doc in docs if doc["_id"] not in refused], new_edits=False)
        return [*refused.values(), *({k: v for k, v in row.items() if k != "exception"} for row in failed)]

    def _refused_designs(self, docs):
        """``(doc, error)`` of each design document the job's user may not write."""
        for doc in docs:
            if doc["_id"].startswith("_design/"):
                try:
                    self._access(self.couch, self.db_name, "design")
                except CouchError as err:
                    yield doc, err

    async def ensure_full_commit(self):
        await self.couch.ensure_full_commit()
        return self.db.ensure_full_commit()

    async def get_local(self, doc_id):
        with self._errors:
            return self.db.get_local(doc_id)

    async def put_local(self, doc):
        with self._errors:
            return self.db.put_local(doc)


def _refused_row(doc, err):
    return {"id": doc["_id"], "rev": doc.get("_rev"), "error": err.error, "reason": err.reason}


def _selection(db, doc_ids, selector, filter, query_params):
    """The ``Database.changes`` options of a replication's selection."""
    if doc_ids is not None:
        return {"doc_ids": doc_ids}
    if selector is not None:
        return {"selector": selector}
    if filter == "_design":
        return {"design_only": True}
    if filter is not None:
        return {"doc_filter": db.filter(filter, {"query": query_params or {}, "method": "GET", "id": None,
                                                 "userCtx": {"db": db.name, "name": None, "roles": []}})}
    return {}


async def _pass(db, since, options):
    """``(rows, FeedEnd)`` of one ``_changes`` pass (``store/changes.py``: the pass ends with it)."""
    items = [item async for item in db.changes(since, **options)]
    return items[:-1], items[-1]
