"""Generated scenarios (hypothesis): random documents, then random ``_all_docs`` and ``_changes`` queries
and random bad input, written as corpus steps so they replay and compare like the declarative ones.

A scenario writes its documents with ``_bulk_docs`` (ids from a small alphabet, so queries hit them),
deletes and updates some, marks a sequence to read changes since, then asks its queries. Numbers are
finite and neither ``-0.0`` nor subnormal: CouchDB's JSON parser reads those as ``0.0`` (the declarative
corpus keeps one such document, allowlisted). Bad input stays on the endpoints whose parsing is
CouchDB's own in ``api/`` (query parameters, malformed JSON), so a run finds differences there.
"""

import json

from hypothesis import strategies as st

from .steps import Scenario, step

__all__ = ["scenarios"]

get, post, put = step("GET"), step("POST"), step("PUT")

IDS = st.text(alphabet="abcxyzAB09-é", min_size=1, max_size=3)
KEYS = st.text(alphabet="abcdefgh", min_size=1, max_size=3)
FLOATS = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False).filter(lambda x: x != 0.0)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), FLOATS, st.text(max_size=6))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner,
                                                                                          max_size=3),
                      max_leaves=6)
BODIES = st.dictionaries(KEYS, VALUES, max_size=4)
FLAGS = st.sampled_from(["true", "false"])
ODD_INTEGERS = st.sampled_from(["-1", "x", "1.5", "", "+2", "007", "1e2"])
# What CouchDB's _changes reads with list_to_integer/1 without crashing (it answers 500 to the others).
CHANGES_INTEGERS = st.sampled_from(["-1", "+2", "007", "0"])
ODD_FLAGS = st.sampled_from(["maybe", "TRUE", "False", "1", ""])
MALFORMED = st.sampled_from([b"{", b'{"docs": [}', b"[1,]", b"nul", b'{"a": 01}', b'"\\x"', b"\xff"])
JSON = {"Content-Type": "application/json"}


def _json(value):
    return json.dumps(value, ensure_ascii=False)


def _some_ids(ids):
    """Ids of the scenario's documents, and now and then others."""
    return st.one_of(st.sampled_from(ids), st.sampled_from(ids), IDS) if ids else IDS


@st.composite
def _bounds(draw, ids):
    """``startkey``/``endkey``/``key`` values: mostly ids of the scenario, sometimes others or no strings."""
    keys = st.one_of(_some_ids(ids), st.sampled_from([None, 1, [], {}]))
    names = draw(st.lists(st.sampled_from(["startkey", "start_key", "endkey", "end_key", "key"]), max_size=2,
                          unique=True))
    return {name: draw(keys) for name in names}


@st.composite
def _all_docs_query(draw, ids, index):
    options = draw(_bounds(ids))
    for name in draw(st.lists(st.sampled_from(["descending", "inclusive_end", "include_docs", "conflicts",
                                               "update_seq"]), max_size=3, unique=True)):
        options[name] = draw(st.booleans())
    for name in ("limit", "skip"):
        if draw(st.booleans()):
            options[name] = draw(st.integers(0, 5))
    if draw(st.integers(0, 3)) == 0:
        options["keys"] = draw(st.lists(_some_ids(ids), max_size=4))
    name = f"all-docs-{index}"
    if draw(st.booleans()):
        return post(name, "/{db}/_all_docs", options)
    query = {k: _json(v) if k in _JSON_PARAMS else v for k, v in options.items()}
    return get(name, "/{db}/_all_docs", query=query)


_JSON_PARAMS = {"startkey", "start_key", "endkey", "end_key", "key", "keys"}


@st.composite
def _changes_query(draw, ids, index):
    query = {"since": draw(st.sampled_from(["0", "{mark}", "now"]))}
    for name in draw(st.lists(st.sampled_from(["descending", "include_docs", "conflicts"]), max_size=2,
                              unique=True)):
        query[name] = draw(FLAGS)
    if draw(st.booleans()):
        query["limit"] = draw(st.integers(0, 4))
    if draw(st.booleans()):
        query["style"] = "all_docs"
    feed = draw(st.sampled_from(["normal", "normal", "longpoll", "continuous"]))
    if feed != "normal":
        query.update(feed=feed, timeout=50)
    name = f"changes-{index}"
    choice = draw(st.integers(0, 3))
    if choice == 0:
        # Unique: CouchDB sends a document once per time it is named (the corpus keeps one such case).
        doc_ids = draw(st.lists(_some_ids(ids), max_size=3, unique=True))
        return post(name, "/{db}/_changes", {"doc_ids": doc_ids}, query={**query, "filter": "_doc_ids"})
    if choice == 1:
        return get(name, "/{db}/_changes", query={**query, "filter": "_design"})
    return get(name, "/{db}/_changes", query=query)


@st.composite
def _bad_input(draw, index):
    name = f"bad-{index}"
    kind = draw(st.integers(0, 4))
    if kind == 0:
        param = draw(st.sampled_from(["limit", "skip"]))
        return get(name, "/{db}/_all_docs", query={param: draw(ODD_INTEGERS)})
    if kind == 1:
        param = draw(st.sampled_from(["descending", "include_docs", "inclusive_end", "update_seq"]))
        return get(name, "/{db}/_all_docs", query={param: draw(ODD_FLAGS)})
    if kind == 2:
        param = draw(st.sampled_from(["descending", "include_docs", "conflicts"]))
        return get(name, "/{db}/_changes", query={param: draw(ODD_FLAGS), "limit": draw(CHANGES_INTEGERS)})
    if kind == 3:
        bound = draw(st.sampled_from(["key", "startkey"]))
        value = draw(st.sampled_from(['"a"', '"b"', "x"]))
        return get(name, "/{db}/_all_docs", query={"keys": '["a"]', bound: value})
    path = draw(st.sampled_from(["/{db}/_bulk_docs", "/{db}/_all_docs", "/{db}/_changes", "/{db}/_revs_diff",
                                 "/{db}/_bulk_get", "/{db}/doc"]))
    method = post if not path.endswith("/doc") else put
    return method(name, path, draw(MALFORMED), headers=JSON)


@st.composite
def _branches(draw):
    """Conflicted documents written with ``new_edits=false``: from ``1-r``, one to three branches of one
    to three revisions each, some ending deleted. The revs are the corpus's own (``2-b1``), so which
    leaf wins is decided by the same rule on both servers, not by their different hashes."""
    docs = []
    for doc_id in draw(st.sets(st.sampled_from(["k1", "k2", "k3"]), max_size=2)):
        for branch in draw(st.sets(st.sampled_from("bcd"), min_size=1, max_size=3)):
            length = draw(st.integers(1, 3))
            ids = [f"{branch}{depth}" for depth in range(length, 0, -1)] + ["r"]
            revisions = {"start": length + 1, "ids": ids}
            doc = {"_id": doc_id, "_rev": f"{length + 1}-{ids[0]}", "_revisions": revisions, **draw(BODIES)}
            if draw(st.integers(0, 3)) == 0:
                doc["_deleted"] = True
            docs.append(doc)
    return sorted(docs, key=lambda doc: doc["_id"])


@st.composite
def _doc_query(draw, ids, index):
    """A document read with conflict options (not ``open_revs`` or ``latest``, which differ today: the
    declarative corpus pins them)."""
    doc_id = draw(st.sampled_from(["k1", "k2", "k3", *ids]))
    options = draw(st.sampled_from([{"conflicts": "true"}, {"deleted_conflicts": "true", "conflicts": "true"},
                                    {"revs": "true"}, {"revs_info": "true"},
                                    {"rev": "2-b1"}]))
    return get(f"doc-{index}", "/{db}/" + doc_id, query=options)


@st.composite
def scenarios(draw):
    """A ``Scenario`` named ``generated``: documents, their edits, conflicted documents, then one to six
    queries."""
    ids = sorted(draw(st.sets(IDS, max_size=8)))
    docs = [{"_id": doc_id, **draw(BODIES)} for doc_id in ids]
    if ids and draw(st.booleans()):
        # Sorted among the others: CouchDB numbers the changes of one _bulk_docs in id order.
        docs = sorted([*docs, {"_id": "_design/" + draw(KEYS)}], key=lambda doc: doc["_id"])
    steps = [post("fill", "/{db}/_bulk_docs", {"docs": docs},
                  save={f"r{n}": f"{n}.rev" for n in range(len(docs))})]
    edits = []
    for n, doc_id in enumerate(doc["_id"] for doc in docs):
        action = draw(st.sampled_from(["keep", "keep", "delete", "update"]))
        if action == "delete":
            edits.append({"_id": doc_id, "_rev": f"{{r{n}}}", "_deleted": True})
        elif action == "update":
            edits.append({"_id": doc_id, "_rev": f"{{r{n}}}", **draw(BODIES)})
    if edits:
        steps.append(post("edit", "/{db}/_bulk_docs", {"docs": edits}))
    branches = draw(_branches())
    if branches:
        steps.append(post("branches", "/{db}/_bulk_docs", {"new_edits": False, "docs": branches}))
    steps.append(get("mark", "/{db}/_changes", query={"limit": draw(st.integers(0, 3))},
                     save={"mark": "last_seq"}))
    for index in range(draw(st.integers(1, 6))):
        query = st.one_of(_all_docs_query(ids, index), _changes_query(ids, index), _doc_query(ids, index),
                          _bad_input(index))
        steps.append(draw(query))
    return Scenario("generated", steps)
