"""Garbage in, CouchDB errors out: hypothesis throws random bytes, methods, paths, parameters, headers and
JSON at a real ``browsercouch serve`` (a subprocess on 127.0.0.1) and checks, for every answer:

- it is well-formed HTTP/1.1 (parsed strictly by h11);
- it is never a 500 (a 500 is a bug in a handler: fix the handler), and the server logged no traceback;
- a 4xx/5xx answer carries CouchDB's JSON ``{"error": str, "reason": str}``;
- the server is still up afterwards (``GET /_up``);

and, once the run is over, that the database ``keep``, created before and only ever *read* by the
fuzzer, holds exactly the same documents, revisions, attachments and ``_local`` documents.

Requests are drawn route by route from the API's own routing table (``routes.ROUTES``), each with the
parameters and the body that route reads, every value possibly of the wrong type. Bounded:
``FUZZ_EXAMPLES`` examples per raw-byte test and a tenth of that per route (``BROWSERCOUCH_FUZZ_EXAMPLES``
overrides), no example database, no deadline. The raw-byte fuzz also runs against browsercouch's own h11
driver in process (``browsercouch.http.start_server``, which ``serve`` and the browser shells run); even
protocol errors must be JSON. A slowloris client trickling its headers must not hold up anyone else.
"""

import asyncio
import base64
import json
import os
import socket
import threading
import time
from urllib.parse import quote

import h11
import pytest
from helpers import http, start_browsercouch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from browsercouch.api import CouchApp, routes
from browsercouch.http import Limits, start_server
from browsercouch.store import Couch

from .wire import exchange, send_raw

FUZZ_EXAMPLES = int(os.environ.get("BROWSERCOUCH_FUZZ_EXAMPLES", "500"))
FUZZ_SETTINGS = settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck))
# Each route of the table gets its own run, so that rare routes get as many tries as common ones.
ROUTE_FUZZ_SETTINGS = settings(FUZZ_SETTINGS, max_examples=max(FUZZ_EXAMPLES // 10, 1))
KEEP = "keep"
ADMIN = "admin:fuzzpw"
# Fuzzed requests come from their own loopback address: the wrong passwords among them lock that address
# out for a while (api/throttle.py), not the one the checks between them use.
FUZZ_SOURCE = "127.0.0.2"
# Connections trickling their headers at once in the slowloris test.
SLOWLORIS_CLIENTS = 50
# Seconds an ordinary request may take while they do (generous for a loaded 2-core CI machine).
SLOW_ANSWER = 2.0


# -- the server under test ----------------------------------------------------------------------------


class Target:
    """A running server: ``port``, ``url`` (with the admin's credentials, if any), and ``new_log()``,
    what it logged since the last call."""

    def __init__(self, process, credentials=None):
        self.process = process
        self.port = int(process.url.rstrip("/").rsplit(":", 1)[1])
        self.url = process.url if credentials is None else f"http://{credentials}@127.0.0.1:{self.port}/"
        self._seen = len(process.output())

    def new_log(self):
        text = self.process.output()
        new, self._seen = text[self._seen:], len(text)
        return new

    def alive(self):
        """Still answering: ``/_up`` needs no credentials, and fuzzed wrong passwords from this address
        may have locked the admin's out for a while (api/throttle.py)."""
        plain = f"http://127.0.0.1:{self.port}/_up"
        return self.process.proc.poll() is None and http("GET", plain, timeout=5)[0] == 200


@pytest.fixture(scope="module", params=["admin-party", "with-admin"])
def target(request):
    """The CLI server, once in admin party and once with an admin (so auth parsing is fuzzed too)."""
    credentials = None if request.param == "admin-party" else ADMIN
    process = start_browsercouch("--log-level", "warning", *(["--admin", ADMIN] if credentials else []))
    try:
        target = Target(process, credentials)
        _seed(target.url)
        target.new_log()
        yield target
    finally:
        process.stop()


def _seed(url):
    """Create ``keep`` (documents, a conflict, a deletion, attachments, a design and a _local doc) and the
    databases the fuzzer may write to."""
    for name in ("fuzz", "fuzz2"):
        assert http("PUT", url + name)[0] == 201
        http("PUT", url + name + "/_security", {})
        http("POST", url + name + "/_bulk_docs", {"docs": [{"_id": i} for i in ("a", "b", "doc1")]})
    assert http("PUT", url + KEEP)[0] == 201
    att = {"content_type": "text/plain", "data": base64.b64encode(b"keep me").decode()}
    docs = [{"_id": f"doc{i}", "n": i, "nested": {"list": [i, str(i)]}} for i in range(20)]
    docs += [{"_id": "withatt", "_attachments": {"a.txt": att}}, {"_id": "_design/d", "views": {}}]
    status, _, rows = http("POST", url + KEEP + "/_bulk_docs", {"docs": docs})
    assert status == 201
    rev = {r["id"]: r["rev"] for r in rows}["doc0"]
    http("DELETE", f"{url}{KEEP}/doc0?rev={rev}")
    conflict = {"_id": "doc1", "_rev": "2-" + "c" * 32, "n": "conflict",
                "_revisions": {"start": 2, "ids": ["c" * 32, {r["id"]: r["rev"] for r in rows}["doc1"][2:]]}}
    http("POST", url + KEEP + "/_bulk_docs", {"docs": [conflict], "new_edits": False})
    http("PUT", url + KEEP + "/_local/checkpoint", {"seq": 7})


def snapshot(url):
    """Everything a client can see of ``keep``."""
    db = url + KEEP
    return {
        "all_docs": http("GET", db + "/_all_docs?include_docs=true&conflicts=true&attachments=true")[2],
        "changes": http("GET", db + "/_changes?style=all_docs")[2],
        "open_revs": http("GET", db + "/doc1?open_revs=all&revs=true")[2],
        "deleted": http("GET", db + "/doc0?open_revs=all")[2],
        "local": http("GET", db + "/_local/checkpoint")[2],
        "security": http("GET", db + "/_security")[2],
        "revs_limit": http("GET", db + "/_revs_limit")[2],
        "info": {k: v for k, v in http("GET", db)[2].items() if k in ("doc_count", "doc_del_count",
                                                                     "update_seq")},
    }


# -- what to send -------------------------------------------------------------------------------------

# Repeats weight the choice: mostly databases that exist, sometimes names that cannot.
WRITE_DBS = ["fuzz"] * 40 + ["fuzz2"] * 10 + [
    "_users", "_replicator", "newdb", "a%2Fb", "Bad", "_bad", "x" * 300, "%00", "%ff%fe", "..", "db%20x"]
DOC_IDS = ["doc1", "doc0", "withatt", "nope", "a", "b", "_design/d", "_local/x", "org.couchdb.user:u"]
# The parameters each kind of route reads (keyed by the route's last literal segment, "{doc}" for
# documents); the fuzzer mostly sends a route its own parameters, with values of their kind.
_DOC_PARAMS = ["rev", "revs", "revs_info", "open_revs", "latest", "conflicts", "deleted_conflicts",
               "attachments", "atts_since", "local_seq", "meta", "new_edits", "batch"]
_VIEW_PARAMS = ["startkey", "start_key", "endkey", "end_key", "key", "keys", "startkey_docid", "endkey_docid",
                "inclusive_end", "descending", "limit", "skip", "include_docs", "update_seq", "conflicts"]
ROUTE_PARAMS = {
    "_uuids": ["count"], "_all_dbs": _VIEW_PARAMS, "_session": ["basic", "next"],
    "_all_docs": _VIEW_PARAMS, "_design_docs": _VIEW_PARAMS, "_local_docs": _VIEW_PARAMS,
    "_changes": ["feed", "since", "limit", "descending", "style", "filter", "doc_ids", "timeout", "heartbeat",
                 "include_docs", "conflicts", "attachments", "seq_interval", "selector"],
    "_bulk_get": _DOC_PARAMS, "_bulk_docs": ["new_edits", "batch"], "{db}": ["rev", "batch"],
    "{doc}": _DOC_PARAMS,
}
PARAMS = sorted({name for names in ROUTE_PARAMS.values() for name in names})
METHODS = ["GET"] * 6 + ["POST"] * 6 + ["PUT"] * 5 + ["DELETE"] * 2 + ["HEAD", "COPY", "OPTIONS", "PATCH",
                                                                       "MOVE", "TRACE", "X-FOO"]
READ_METHODS = ["GET", "HEAD"]

# Characters that are legal in an h11 header value / request target, latin-1 and all.
_field_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                      max_size=40).map(str.strip)
_any_text = st.text(max_size=30)


def _json_values(max_leaves=20):
    leaves = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63, max_value=2**200)
              | st.floats(allow_nan=False, allow_infinity=False) | _any_text)
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(_any_text, inner, max_size=4), max_leaves=max_leaves)


_json = _json_values()
_rev = st.sampled_from(["1-" + "a" * 32, "2-" + "c" * 32, "0-1", "1-x", "bogus", "", "99999999999999999999-a",
                        "-1-a", "1-" + "a" * 5000]) | _any_text
_garbage = _json | _rev

# JSON shaped like what the endpoints expect, with every member a possible wrong type.
_att = st.fixed_dictionaries({}, optional={
    "stub": _garbage, "data": st.sampled_from(["aGk=", "!!!", ""]) | _garbage, "content_type": _garbage,
    "digest": _garbage, "revpos": _garbage, "follows": _garbage, "length": _garbage})
_doc = st.fixed_dictionaries({}, optional={
    "_id": st.sampled_from(["a", "b", "_design/x", "_local/y", "_bad", "", "org.couchdb.user:u"]) | _garbage,
    "_rev": _rev | _garbage, "_deleted": _garbage, "_revisions": _garbage
    | st.fixed_dictionaries({"start": _garbage, "ids": st.lists(_garbage, max_size=3)}),
    "_attachments": _garbage | st.dictionaries(_any_text, _att | _garbage, max_size=2),
    "_conflicts": _garbage, "_other": _garbage, "name": _garbage, "type": _garbage, "roles": _garbage,
    "password": _garbage, "field": _garbage})
_body_object = st.fixed_dictionaries({}, optional={
    "docs": st.lists(_doc | _garbage, max_size=4) | _garbage, "new_edits": _garbage,
    "keys": st.lists(_garbage, max_size=4) | _garbage, "doc_ids": st.lists(_garbage, max_size=3) | _garbage,
    "selector": _garbage | st.dictionaries(_any_text, _garbage, max_size=3), "admins": _garbage,
    "members": _garbage, "name": _garbage, "password": _garbage, "limit": _garbage, "skip": _garbage,
    "descending": _garbage, "include_docs": _garbage, "start_key": _garbage, "key": _garbage,
    "atts_since": _garbage, "a": _garbage})


_selector = st.recursive(
    _garbage, lambda inner: st.dictionaries(
        st.sampled_from(["a", "n", "$and", "$or", "$nor", "$not", "$gt", "$lt", "$eq", "$ne", "$in", "$nin",
                         "$exists", "$type", "$size", "$mod", "$regex", "$elemMatch", "$allMatch", "$all",
                         "$keyMapMatch", "$beginsWith", "nested.list"]) | _any_text,
        inner, max_size=3) | st.lists(inner, max_size=3), max_leaves=12)
# The body each kind of route reads, with every member a possible wrong type.
ROUTE_BODIES = {
    "_changes": st.fixed_dictionaries({}, optional={"doc_ids": st.lists(_garbage, max_size=3) | _garbage,
                                                    "selector": _selector}),
    "_bulk_docs": st.fixed_dictionaries({"docs": st.lists(_doc | _garbage, max_size=4) | _garbage},
                                        optional={"new_edits": _garbage | st.booleans()}),
    "_bulk_get": st.fixed_dictionaries({"docs": st.lists(st.fixed_dictionaries({}, optional={
        "id": st.sampled_from(["doc1", "a", "withatt"]) | _garbage, "rev": _rev | _garbage,
        "atts_since": st.lists(_rev, max_size=2) | _garbage}) | _garbage, max_size=3) | _garbage}),
    "_all_docs": _body_object, "_design_docs": _body_object, "_dbs_info": _body_object,
    "_revs_diff": st.dictionaries(st.sampled_from(["doc1", "a"]) | _any_text,
                                  st.lists(_rev | _garbage, max_size=3) | _garbage, max_size=3),
    "_security": st.fixed_dictionaries({}, optional={
        "admins": st.fixed_dictionaries({}, optional={"names": _garbage, "roles": _garbage}) | _garbage,
        "members": st.fixed_dictionaries({}, optional={"names": _garbage, "roles": _garbage}) | _garbage}),
    "_session": st.fixed_dictionaries({}, optional={"name": _garbage | st.just("admin"),
                                                    "password": _garbage | st.just("fuzzpw")}),
    "_revs_limit": _garbage,
}
ROUTE_BODIES["_missing_revs"] = ROUTE_BODIES["_revs_diff"]


def _nested(depth):
    return b"[" * depth + b"]" * depth


_raw_bodies = st.sampled_from([
    b"", b"{", b"[", b"NaN", b'{"a":NaN}', b"Infinity", b"-Infinity", b"1e400", b"1" * 5000,
    b'{"a":"\\ud800"}', b'"\\udc00"', b"\xff\xfe\xfd", b"\xef\xbb\xbf{}", b"\x00", b"{}{}", b"nul",
    _nested(100), _nested(250), _nested(5000), _nested(100_000), b'{"docs":' + _nested(2000) + b"}",
    b'{"a":' * 3000 + b"1" + b"}" * 3000, b"[" * 50_000, b'{"docs":[{"_id":"x","v":' + b"9" * 4400 + b"}]}",
]) | st.binary(max_size=200)
_bodies = (st.none() | _raw_bodies
           | (_json | _body_object | _doc).map(lambda v: json.dumps(v).encode()))

# From here on, choices among a few known values are made with a plain ``random.Random`` (drawn from
# hypothesis, so a failure replays): hypothesis itself avoids repeating a small choice it has already
# made and drifts to the endless strategies, which would starve ``filter=_doc_ids`` and its kind.
# In an option list, a strategy stands for "anything it draws".

CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/related; boundary=x", "multipart/mixed",
                 "", ";", _field_text]
HEADER_VALUES = {
    "Content-Type": CONTENT_TYPES,
    "Authorization": ["Basic !!!", "Basic " + base64.b64encode(b"a:b").decode(),
                      "Basic " + base64.b64encode(ADMIN.encode()).decode(),
                      "Basic " + base64.b64encode(b"\xff:\xfe").decode(), "Basic", "Bearer x",
                      "Basic " + base64.b64encode(b"nocolon").decode(), _field_text],
    "Cookie": ["AuthSession=", "AuthSession=%%%", "AuthSession=YTpiOmM", "a=b; c",
               "AuthSession=" + base64.urlsafe_b64encode(b"u:ZZZ:mac").decode(), _field_text],
    "Range": ["bytes=0-1", "bytes=-1", "bytes=5-", "bytes=9-1", "bytes=0-1,2-3", "bytes=--", "bytes=a-b",
              "bytes=99999999999999999999-", "bytes=0-" + "9" * 5000, "bytes=-" + "9" * 5000, _field_text],
    "Destination": ["new", "new?rev=1-abc", "_design/x", "_local/x", "", "?rev=", "_bad", "a%2Fb",
                    _field_text],
    "If-Match": ['"1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"', "1-x", "bogus", "", _field_text],
    "If-None-Match": ['"1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"', "*", _field_text],
    "Expect": ["100-continue", _field_text],
    "Origin": ["http://a.example", "null", _field_text],
    "Access-Control-Request-Method": ["PUT", "GET", _field_text],
}
HEADER_NAMES = [*HEADER_VALUES, "Access-Control-Request-Headers", "Accept", "X-Foo"]

_param_value = (_garbage.map(json.dumps) | _any_text
                | st.sampled_from(["true", "false", "", "all", "now", "-1", "0", "1", "100", "10000000000",
                                   "99999999999999999999999", "1.5", "\u00b2", "1e3", " 1", "0x10",
                                   "normal", "longpoll", "continuous", "eventsource", "all_docs", "_doc_ids",
                                   "_selector", "_design", "_view", "x/y", "[]", "{}", "null"]))
# Values for each parameter: (plausible, wrong). A request mostly carries plausible values so that it gets
# past the first check, and now and then a wrong one; a strategy stands for anything it draws.
_BOOL_VALUES = (["true", "false", None], ["", "1", "yes", "TRUE", _param_value])
_INT_VALUES = (["0", "1", "5", "2"], ["-1", "x", "1.5", "99999999999999999999999", "\u00b2", "1e3", " 1",
                                     "true", "9" * 5000, None, _param_value])
_JSON_VALUES = (['["a","doc1"]', '"a"', '["1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]', '{"n":{"$gt":1}}'],
                ["all", "[{}]", "[[]]", "5", "{}", "[1]", None, _garbage.map(json.dumps)])
PARAM_VALUES = {
    **dict.fromkeys(["revs", "revs_info", "latest", "conflicts", "deleted_conflicts", "attachments",
                     "local_seq", "meta", "inclusive_end", "descending", "include_docs", "update_seq",
                     "new_edits"], _BOOL_VALUES),
    **dict.fromkeys(["limit", "skip", "count", "timeout", "heartbeat", "seq_interval"], _INT_VALUES),
    **dict.fromkeys(["startkey", "start_key", "endkey", "end_key", "key", "keys", "doc_ids", "atts_since",
                     "open_revs", "selector"], _JSON_VALUES),
    "since": (["0", "now", "3", "3-g1AAAA"], ["-1", "99999999999999999999999", "\u00b2", "abc", '"5"', "1.5",
                                              _param_value]),
    "feed": (["normal", "longpoll", "continuous", "eventsource"], ["live", "x", _param_value]),
    "style": (["all_docs", "main_only"], ["x", _param_value]),
    "filter": (["_doc_ids", "_selector", "_design"], ["_view", "app/f", "", _param_value]),
    "rev": (["1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "2-cccccccccccccccccccccccccccccccc"],
            ["0-1", "bogus", _rev]),
    "batch": (["ok"], ["no", _param_value]),
}
# How often a parameter gets a wrong value rather than a plausible one.
WRONG_VALUE_RATE = 0.15


def _pick(draw, rnd, options):
    """One of ``options``, uniformly; a strategy among them is drawn from."""
    choice = rnd.choice(options)
    return draw(choice) if isinstance(choice, st.SearchStrategy) else choice


def _param(draw, rnd, name):
    plausible, wrong = PARAM_VALUES.get(name, ([], [_param_value]))
    return _pick(draw, rnd, wrong if not plausible or rnd.random() < WRONG_VALUE_RATE else plausible)


def _params(draw, rnd, pattern):
    """Query parameters for a route: each of its own parameters with probability 0.3 (values of the
    parameter's kind), and up to two others, any name at all."""
    literals = [part for part in pattern if not part.startswith("{")]
    key = literals[-1] if literals else ("{db}" if len(pattern) == 1 else "{doc}")
    if pattern and pattern[-1] in ("{doc}", "{ddoc}"):
        key = "{doc}"
    params = [(name, _param(draw, rnd, name)) for name in ROUTE_PARAMS.get(key, PARAMS) if rnd.random() < 0.3]
    for _ in range(rnd.randint(0, 2)):
        params.append((_pick(draw, rnd, [*PARAMS, _any_text]), _pick(draw, rnd, [_param_value, None])))
    rnd.shuffle(params)
    return params


def _segment(draw, rnd, part):
    """A path segment for one part of a route pattern (``routes.ROUTES``)."""
    if not part.startswith("{"):
        return part
    name = part.strip("{}*")
    if name == "db":
        return rnd.choice(WRITE_DBS)
    if name == "att":
        return _pick(draw, rnd, ["a.txt", "x/y", "%2F", "_att", "b.bin", _any_text.map(_quote)])
    return _quote(_pick(draw, rnd, [*DOC_IDS, _any_text]))


def _quote(text):
    return quote(text, safe="")


def _body(draw, rnd, pattern):
    """Mostly the body the route reads (wrong types included), else any body at all."""
    literals = [part for part in pattern if not part.startswith("{")]
    if rnd.random() < 0.7:
        return json.dumps(draw(ROUTE_BODIES.get(literals[-1] if literals else "", _doc))).encode()
    return draw(_bodies)


@st.composite
def requests(draw, route):
    """``(method, target, headers, body)`` for ``route``, an entry of the API's own table
    (``routes.ROUTES``), mostly with one of its methods; writes go only to databases other than ``keep``."""
    rnd = draw(st.randoms(use_true_random=True))
    methods, pattern, _, _ = route
    method = rnd.choice(methods) if rnd.random() < 0.9 else rnd.choice(METHODS)
    segments = [_segment(draw, rnd, part) for part in pattern]
    if segments and pattern[0] == "{db}" and method in READ_METHODS and rnd.random() < 0.5:
        segments[0] = KEEP
    params = _params(draw, rnd, pattern)
    if any(name == "feed" for name, _ in params):
        params.append(("timeout", rnd.choice(["0", "50", "200"])))
    target = "/" + "/".join(segments) + ("?" + _query(params) if params else "")
    headers = []
    for _ in range(rnd.randint(0, 3)):
        name = rnd.choice(HEADER_NAMES)
        headers.append((name, _pick(draw, rnd, HEADER_VALUES.get(name, [_field_text]))))
    body = _body(draw, rnd, pattern) if rnd.random() < 0.8 else None
    if body is not None and rnd.random() < 0.8:
        headers.append(("Content-Type", "application/json" if rnd.random() < 0.7 else
                        _pick(draw, rnd, CONTENT_TYPES)))
    return method, target, headers, body


def _query(params):
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" if v is not None else quote(k, safe='')
                    for k, v in params)


# -- checks -------------------------------------------------------------------------------------------


# 500s that are Apache CouchDB 3.4.3's own answers, kept for parity: Mango options it has no message for
# (POST only, so the body is always there to check): (error, start of the reason).
COUCHDB_500S = (("unknown_error", "Unknown Error: mango_opts :: "),)


def _couchdb_500(body):
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return any(answer.get("error") == error and str(answer.get("reason", "")).startswith(reason)
               for error, reason in COUCHDB_500S)


def check_reply(reply, method, target):
    """Assert one answer is a proper CouchDB answer."""
    context = f"{method} {target} -> {reply.status} {reply.body[:300]!r}"
    assert reply.status != 500 or _couchdb_500(reply.body), context
    assert 100 <= reply.status < 600, context
    if method == "HEAD" or reply.status in (204, 304) or reply.status < 400:
        return
    assert (reply.header("content-type") or "").startswith("application/json"), context
    body = json.loads(reply.body)
    assert isinstance(body, dict) and set(body) == {"error", "reason"}, context
    assert isinstance(body["error"], str) and isinstance(body["reason"], str), context


def _check_log(target, context):
    log = target.new_log()
    assert "Traceback" not in log and "Exception" not in log, f"{context}\n--- server log ---\n{log}"


# -- the fuzz tests -----------------------------------------------------------------------------------


def _route_id(route):
    methods, pattern = route[0], route[1]
    return "/".join(pattern).replace("{", "").replace("}", "") + ":" + ",".join(methods)


@pytest.mark.parametrize("route", routes.ROUTES, ids=_route_id)
def test_fuzz_requests(target, route):
    before = snapshot(target.url)

    @ROUTE_FUZZ_SETTINGS
    @given(requests(route))
    def run(request):
        target.new_log()  # what an earlier, failed example left in the log is not this one's
        method, path, headers, body = request
        raw_headers = [(k.encode(), v.encode()) for k, v in headers]
        try:
            reply = exchange(target.port, method.encode(), path.encode("latin-1"), raw_headers, body,
                             source=FUZZ_SOURCE)
        except h11.LocalProtocolError:
            return  # not valid HTTP to send; the raw-byte fuzz covers that
        except TimeoutError:
            pytest.fail(f"{method} {path}: no answer")
        context = f"{method} {path} {headers} {body[:200] if body else body!r}"
        if not reply.complete:
            # Only a feed may still be streaming when we stop reading.
            assert "_changes" in path and reply.status == 200, context
        check_reply(reply, method, path)
        _check_log(target, context)
        assert target.alive(), context

    run()
    assert snapshot(target.url) == before


_raw_requests = st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD", b"", b"G\x00T", b"\xff"]),
              st.sampled_from([b" / ", b" /fuzz ", b" /fuzz/doc ", b"  ", b" * ", b" http://x/ ", b" /%zz ",
                               b" /\xff ", b" " + b"/a" * 40000 + b" "]),
              st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1x", b"", b"HTTP/9"]),
              st.lists(st.sampled_from([
                  b"Host: x", b"Content-Length: 5", b"Content-Length: -1", b"Content-Length: 99999999999",
                  b"Content-Length: " + b"9" * 5000,
                  b"Content-Length: 1, 2", b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip",
                  b"Content-Type: application/json", b"Expect: 100-continue", b": novalue", b"No-Colon",
                  b"X: \x00", b"X:" + b"y" * 70000, b"Connection: close", b" folded", b"Host: a\rb",
              ]), max_size=5),
              st.binary(max_size=100) | st.sampled_from([b"0\r\n\r\n", b"5\r\nhello\r\n0\r\n\r\n",
                                                         b"zz\r\n", b"{}", b"ffffffffffffffff\r\n"]))
    .map(lambda p: p[0] + p[1] + p[2] + b"\r\n" + b"".join(h + b"\r\n" for h in p[3]) + b"\r\n" + p[4]),
)


def _fuzz_raw(port, check_log=None, alive=None):
    @FUZZ_SETTINGS
    @given(_raw_requests)
    def run(data):
        try:
            replies = send_raw(port, data)
        except TimeoutError as exc:
            pytest.fail(f"{data[:200]!r}: {exc}")
        for reply in replies:
            check_reply(reply, reply.method.decode("latin-1"), repr(data[:200]))
        if check_log:
            check_log(repr(data[:200]))
        assert alive is None or alive()

    run()


def test_fuzz_raw_bytes_on_the_cli(target):
    before = snapshot(target.url)
    _fuzz_raw(target.port, lambda context: _check_log(target, context), target.alive)
    assert snapshot(target.url) == before


class DriverThread:
    """browsercouch's own h11 driver (``http.start_server``) serving a ``CouchApp`` in a thread."""

    def __init__(self, limits=None):
        self.couch = Couch(None)
        self.app = CouchApp(self.couch)
        self.limits = limits or Limits()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(start_server(self.app, limits=self.limits))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(10)
        return self

    async def _shutdown(self):
        """Stop listening and the app's _replicator watcher, and let open connections finish (their
        clients have all closed by now)."""
        self.server.close()
        await self.app.scheduler.stop()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.couch.close()


def test_fuzz_raw_bytes_on_the_driver(caplog):
    # Here even HTTP-level errors (400, 431) come from browsercouch, so they too must be CouchDB JSON,
    # and the driver and the app log every exception they catch.
    with DriverThread() as server:
        url = f"http://127.0.0.1:{server.port}/"
        _fuzz_raw(server.port, alive=lambda: http("GET", url + "_up", timeout=5)[0] == 200)
    errors = [r for r in caplog.records if r.name.startswith("browsercouch") and r.levelname == "ERROR"]
    assert not errors, [r.getMessage() for r in errors]


# -- slowloris ------------------------------------------------------------------------------------------


def _slowloris(port, stop, opened):
    """Open a connection and trickle a request head one byte at a time until ``stop`` is set."""
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 10_000
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            opened.release()
            for byte in head:
                if stop.wait(0.05):
                    return
                sock.sendall(bytes([byte]))
    except OSError:
        pass  # the server may close on us: that is allowed


@pytest.mark.parametrize("server_kind", ["cli", "driver"])
def test_slowloris_does_not_block_other_clients(target, server_kind):
    with DriverThread() if server_kind == "driver" else _nullcontext(target) as server:
        port = server.port
        url = f"http://127.0.0.1:{port}/"
        stop, opened = threading.Event(), threading.Semaphore(0)
        slow = [threading.Thread(target=_slowloris, args=(port, stop, opened), daemon=True)
                for _ in range(SLOWLORIS_CLIENTS)]
        for thread in slow:
            thread.start()
        for _ in slow:
            assert opened.acquire(timeout=10)
        try:
            time.sleep(0.3)
            for _ in range(20):
                started = time.monotonic()
                status, _, body = http("GET", url, timeout=5)
                assert status == 200 and body["couchdb"] == "Welcome"
                assert time.monotonic() - started < SLOW_ANSWER
        finally:
            stop.set()
            for thread in slow:
                thread.join(10)


class _nullcontext:
    def __init__(self, value):
        self.value = value

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        return False


def test_driver_closes_a_slowloris_connection():
    # The driver's header_timeout (HEADER_TIMEOUT, 30 s by default) ends a head that never completes.
    with DriverThread(Limits(header_timeout=0.5)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            closed = False
            while time.monotonic() - started < 4:
                try:
                    sock.sendall(b"X")
                except OSError:
                    closed = True
                    break
                sock.settimeout(0.2)
                try:
                    if sock.recv(100) == b"":
                        closed = True
                        break
                except (TimeoutError, socket.timeout):
                    pass
            assert closed
