"""``RemoteEndpoint``: a database behind a CouchDB-compatible URL, through an ``HttpClient``.

Every request goes through ``_call``, which sends JSON, reads JSON back and turns every failure into a
``browsercouch.errors`` class: an HTTP error answer into its named error (``errors.from_response``), an
unreachable or silent peer into ``PeerUnavailable`` (503), and an answer that is not the JSON we asked for
into ``BadPeerResponse`` (502). Credentials come from the URL's userinfo or the arguments, go out as a
Basic ``Authorization`` header, and never appear in ``name``, in errors or in logs.

Capability fallbacks live on the instance (STYLE.md rule 7): a peer without ``_bulk_get`` (CouchDB 1.x,
old PouchDB servers) is asked once, and from then on each document is read with
``GET /db/doc?open_revs=[...]&revs=true&latest=true``, a few at a time; a peer without
``_ensure_full_commit`` is asked once too.
"""

import asyncio
import base64
import json
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

from ..errors import (
    BadPeerResponse,
    BadRequest,
    CouchError,
    FileExists,
    Forbidden,
    NotFound,
    PeerUnavailable,
    Unauthorized,
    from_response,
)
from ..store import compact_json
from .endpoint import Endpoint, tag_error

__all__ = ["RemoteEndpoint", "HEARTBEAT", "FEED_TIMEOUT"]

# Long-polls ask the peer for a newline this often (CouchDB's replicator and PouchDB both use 10 s) ...
HEARTBEAT = 10.0
# ... and to end an empty poll after this long (CouchDB's changes_timeout is 60 s; shorter re-polls cost a
# request and notice a half-open connection sooner).
FEED_TIMEOUT = 25.0
# Per-document reads in flight when a peer has no _bulk_get (PouchDB's shim reads 6 at a time).
OPEN_REVS_CONCURRENCY = 8
# Statuses that mean "this server has no such endpoint" (_bulk_get, _ensure_full_commit) rather than
# "this request was wrong": PouchDB's adapter falls back on 400 and 404; 405 and 501 are what other
# servers answer for an unknown route.
NO_SUCH_ENDPOINT = frozenset({400, 404, 405, 501})


def _seq_param(seq):
    """A sequence for the query string: opaque strings as they are, anything else as JSON."""
    return seq if isinstance(seq, str) else json.dumps(seq)


def _doc_path(doc_id):
    for prefix in ("_design/", "_local/"):
        if doc_id.startswith(prefix):
            return "/" + prefix + quote(doc_id[len(prefix):], safe="")
    return "/" + quote(doc_id, safe="")


class RemoteEndpoint(Endpoint):
    """The database at ``url`` (``http(s)://[user:pass@]host:port/[prefix/]db``).

    Args:
        client: the ``HttpClient`` to send requests with (shared, not closed by the endpoint).
        headers: extra request headers (a ``_replicate`` endpoint object's ``headers``).
        username, password: Basic auth credentials; override those in the URL.
        timeout: seconds of silence tolerated per request; ``None`` for the client's default.
    """

    def __init__(self, url, client, *, headers=None, username=None, password=None, timeout=None):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadRequest("a remote database must be an http(s) URL")
        netloc = parts.netloc.rpartition("@")[2]
        path = parts.path.rstrip("/")
        if not path:
            raise BadRequest("a remote database URL must name the database")
        self.url = urlunsplit((parts.scheme, netloc, path, "", ""))
        self.root_url = urlunsplit((parts.scheme, netloc, path.rpartition("/")[0] + "/", "", ""))
        self.db_name = unquote(path.rpartition("/")[2])
        user = username if username is not None else unquote(parts.username or "") or None
        secret = password if password is not None else unquote(parts.password or "")
        self.name = urlunsplit((parts.scheme, f"{quote(user, safe='')}:*****@{netloc}" if user else netloc,
                                path, "", ""))
        self.client = client
        self.timeout = timeout
        self._headers = {"accept": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}}
        if user is not None:
            token = base64.b64encode(f"{user}:{secret}".encode("utf-8")).decode("ascii")
            self._headers["authorization"] = "Basic " + token
        self._json_headers = {**self._headers, "content-type": "application/json"}
        self._id = None
        self.has_bulk_get = None  # unknown until the first _bulk_get; False once the peer lacks it
        self.has_ensure_full_commit = None  # likewise

    def __repr__(self):
        return f"RemoteEndpoint({self.name!r})"

    # -- the one request path ---------------------------------------------------------------------

    async def _call(self, method, path="", query=None, body=None, *, url=None, timeout=None):
        """Send one request and return the decoded JSON answer; raise a ``CouchError`` for anything else."""
        response = await self._send(method, path, query, body, url=url, timeout=timeout)
        return self._decode(method, path, response)

    async def _send(self, method, path, query, body, *, url=None, timeout=None, headers=None):
        target = (url or self.url + path) + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else compact_json(body).encode()
        headers = headers or (self._json_headers if data is not None else self._headers)
        timeout = timeout if timeout is not None else self.timeout
        try:
            return await self.client.request(method, target, headers, data, timeout=timeout)
        except TimeoutError:
            reason = f"no answer to {method} {path or '/'} in time"
            raise tag_error(PeerUnavailable(reason), self.name) from None
        except OSError as err:
            reason = f"{method} {path or '/'} failed: {err.strerror or err or type(err).__name__}"
            raise tag_error(PeerUnavailable(reason), self.name) from None

    def _decode(self, method, path, response):
        try:
            value = json.loads(response.body)
        except ValueError:  # UnicodeDecodeError is one too
            value = _MALFORMED
        if response.status >= 400:
            raise tag_error(from_response(response.status, value), self.name)
        if value is _MALFORMED:
            raise tag_error(BadPeerResponse(f"{method} {path or '/'} answered {response.status} with a body "
                                            "that is not JSON"), self.name)
        return value

    # -- the endpoint interface -------------------------------------------------------------------

    async def id(self):
        """The server's uuid and the database name (as PouchDB's http adapter), else the URL."""
        if self._id is None:
            try:
                welcome = await self._call("GET", url=self.root_url)
            except (Unauthorized, Forbidden, NotFound):  # credentials for the database only, or a proxy
                welcome = None
            uuid = welcome.get("uuid") if isinstance(welcome, dict) else None
            self._id = f"{uuid}/{self.db_name}" if isinstance(uuid, str) else self.url
        return self._id

    async def info(self):
        return await self._call("GET")

    async def create(self):
        try:
            await self._call("PUT")
        except FileExists:
            pass

    async def changes(self, since, *, limit, longpoll=False, heartbeat=None, doc_ids=None, selector=None,
                      filter=None, query_params=None):
        query = {"style": "all_docs", "since": _seq_param(since), "limit": str(limit)}
        timeout = None
        if longpoll:
            beat = heartbeat or HEARTBEAT
            query.update(feed="longpoll", heartbeat=str(int(beat * 1000)),
                         timeout=str(int(FEED_TIMEOUT * 1000)))
            # Silence is tolerated a little longer than the poll itself, for peers that send no heartbeat.
            timeout = max(self.timeout or 0, FEED_TIMEOUT + beat)
        body = _changes_filter(query, doc_ids, selector, filter, query_params)
        method = "POST" if body is not None else "GET"
        feed = await self._call(method, "/_changes", query, body, timeout=timeout)
        if not isinstance(feed, dict) or "last_seq" not in feed or not _all(feed.get("results"), _is_row):
            raise tag_error(BadPeerResponse("_changes answered without valid results and last_seq"),
                            self.name)
        return {"results": feed["results"], "last_seq": feed["last_seq"], "pending": feed.get("pending")}

    async def bulk_get(self, requests, *, attachments=False):
        if self.has_bulk_get is not False:
            query = {"revs": "true", "latest": "true", **({"attachments": "true"} if attachments else {})}
            try:
                answer = await self._call("POST", "/_bulk_get", query, {"docs": requests})
            except CouchError as err:
                if self.has_bulk_get is not None or err.status not in NO_SUCH_ENDPOINT:
                    raise
                self.has_bulk_get = False
            else:
                self.has_bulk_get = True
                results = answer.get("results") if isinstance(answer, dict) else None
                if not _all(results, _is_bulk_get_result):
                    raise tag_error(BadPeerResponse("_bulk_get answered without valid results"), self.name)
                return results
        return await self._open_revs_each(requests, attachments)

    async def _open_revs_each(self, requests, attachments):
        """The ``_bulk_get`` answer, read one document at a time with ``open_revs``."""
        by_id = {}
        for req in requests:
            by_id.setdefault(req["id"], (req.get("atts_since"), []))[1].append(req["rev"])
        limit = asyncio.Semaphore(OPEN_REVS_CONCURRENCY)

        async def one(doc_id, atts_since, revs):
            query = {"open_revs": compact_json(revs), "revs": "true", "latest": "true"}
            if attachments:
                query["attachments"] = "true"
            elif atts_since:
                query["atts_since"] = compact_json(atts_since)
            async with limit:
                rows = await self._call("GET", _doc_path(doc_id), query)
            if not isinstance(rows, list):
                raise tag_error(BadPeerResponse("open_revs answered without a list"), self.name)
            return {"id": doc_id, "docs": [_open_revs_row(doc_id, row) for row in rows]}

        return list(await asyncio.gather(*(one(i, since, revs) for i, (since, revs) in by_id.items())))

    async def get_attachment(self, doc_id, name, rev):
        path = _doc_path(doc_id) + "/" + quote(name, safe="/")
        headers = {**self._headers, "accept": "*/*"}
        response = await self._send("GET", path, {"rev": rev}, None, headers=headers)
        if response.status >= 400:
            self._decode("GET", path, response)
        return response.body

    async def revs_diff(self, revs):
        diff = await self._call("POST", "/_revs_diff", body=revs)
        if not isinstance(diff, dict) or not _all(list(diff.values()), _is_diff_entry):
            raise tag_error(BadPeerResponse("_revs_diff answered without lists of missing revisions"),
                            self.name)
        return diff

    async def bulk_docs(self, docs):
        rows = await self._call("POST", "/_bulk_docs", body={"docs": docs, "new_edits": False})
        if not isinstance(rows, list):
            raise tag_error(BadPeerResponse("_bulk_docs answered without a list of results"), self.name)
        return [row for row in rows if isinstance(row, dict) and "error" in row]

    async def ensure_full_commit(self):
        """``POST /_ensure_full_commit``; a peer without it (PouchDB never calls it, and newer servers
        commit every write) is asked once and then assumed to commit as it goes."""
        if self.has_ensure_full_commit is False:
            return {"ok": True}
        try:
            answer = await self._call("POST", "/_ensure_full_commit", body={})
        except CouchError as err:
            if self.has_ensure_full_commit is not None or err.status not in NO_SUCH_ENDPOINT:
                raise
            self.has_ensure_full_commit = False
            return {"ok": True}
        self.has_ensure_full_commit = True
        return answer

    async def get_local(self, doc_id):
        return await self._call("GET", _doc_path(doc_id))

    async def put_local(self, doc):
        return await self._call("PUT", _doc_path(doc["_id"]), body=doc)


_MALFORMED = object()


def _changes_filter(query, doc_ids, selector, filter, query_params):
    """Add the selection to ``query``; return the POST body it needs, or ``None`` for a GET."""
    if doc_ids is not None:
        query["filter"] = "_doc_ids"
        return {"doc_ids": list(doc_ids)}
    if selector is not None:
        query["filter"] = "_selector"
        return {"selector": selector}
    if filter is not None:
        query["filter"] = filter
        for key, value in (query_params or {}).items():
            query[key] = value if isinstance(value, str) else json.dumps(value)
    return None


def _all(items, check):
    return isinstance(items, list) and all(check(item) for item in items)


def _is_row(row):
    """A ``_changes`` row: ``{"id": str, "changes": [{"rev": str}, ...], ...}``."""
    return isinstance(row, dict) and isinstance(row.get("id"), str) and _all(row.get("changes"), _is_change)


def _is_change(change):
    return isinstance(change, dict) and isinstance(change.get("rev"), str)


def _is_bulk_get_result(result):
    return isinstance(result, dict) and _all(result.get("docs"), lambda item: isinstance(item, dict))


def _is_diff_entry(entry):
    return isinstance(entry, dict) and _all(entry.get("missing"), lambda rev: isinstance(rev, str))


def _open_revs_row(doc_id, row):
    if isinstance(row, dict) and isinstance(row.get("ok"), dict):
        return {"ok": row["ok"]}
    rev = row.get("missing") if isinstance(row, dict) else None
    return {"error": {"id": doc_id, "rev": rev, "error": "not_found", "reason": "missing"}}
