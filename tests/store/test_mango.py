"""Tests for ``browsercouch.store.mango``: selector matching and CouchDB collation.

The operator tables are ported from the eunit tests of CouchDB's ``mango_selector.erl`` (``check_selector``:
each condition is applied to field ``x`` and, negated with ``$not``, must give the opposite answer).
"""

import copy
import functools
import itertools
import json
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from browsercouch.errors import BadRequest
from browsercouch.store.mango import ASCII_SYMBOL_ORDER, collate, compile_selector, sort_key


def matches(selector, doc):
    return compile_selector(selector)(doc)


# ---------------------------------------------------------------------------------------------------------
# Operators on field x, and their negations: (id, condition, [(expected, value of x), ...])

NESTED = {"a": {"b": {"c": 7}}}
IN_ARGS = [42, False, "bar", [["nested"], "list"], {"b": 2}]
OPERATOR_TABLE = [
    ("lt-number", {"$lt": 5}, [(True, 4), (False, 5), (False, 6)]),
    ("lt-string", {"$lt": "hello"}, [(True, "held"), (False, "hello"), (False, "help")]),
    ("lt-array", {"$lt": [1, 2, 3]},
     [(True, [1, 2, 2]), (True, [1, 2]), (False, [1, 2, 3]), (False, [1, 2, 4]), (False, [1, 3])]),
    ("lte-number", {"$lte": 5}, [(True, 4), (True, 5), (False, 6)]),
    ("lte-string", {"$lte": "hello"}, [(True, "held"), (True, "hello"), (False, "help")]),
    ("lte-array", {"$lte": [1, 2, 3]},
     [(True, [1, 2, 2]), (True, [1, 2]), (True, [1, 2, 3]), (False, [1, 2, 4]), (False, [1, 3])]),
    ("gt-number", {"$gt": 5}, [(False, 4), (False, 5), (True, 6)]),
    ("gt-string", {"$gt": "hello"}, [(False, "held"), (False, "hello"), (True, "help")]),
    ("gt-array", {"$gt": [1, 2, 3]},
     [(False, [1, 2, 2]), (False, [1, 2]), (False, [1, 2, 3]), (True, [1, 2, 4]), (True, [1, 3])]),
    ("gte-number", {"$gte": 5}, [(False, 4), (True, 5), (True, 6)]),
    ("gte-string", {"$gte": "hello"}, [(False, "held"), (True, "hello"), (True, "help")]),
    ("gte-array", {"$gte": [1, 2, 3]},
     [(False, [1, 2, 2]), (False, [1, 2]), (True, [1, 2, 3]), (True, [1, 2, 4]), (True, [1, 3])]),
    ("eq-number", {"$eq": 5}, [(True, 5), (False, 6)]),
    ("eq-string", {"$eq": "hello"}, [(True, "hello"), (False, "help")]),
    ("eq-array", {"$eq": [1, [2, 3, 4], 5]},
     [(True, [1, [2, 3, 4], 5]), (False, [1, [2, 3, 4]]), (False, [1, [2, 3, 4], 5, 6]),
      (False, [1, [2, 7, 4], 5])]),
    ("eq-object", {"$eq": NESTED},
     [(True, NESTED), (False, {"a": {"b": {"c": 8}}}), (False, {"a": {"b": {"d": 7}}}),
      (False, {"a": {"d": {"c": 7}}})]),
    ("eq-int-is-float", {"$eq": 1}, [(True, 1.0), (False, True)]),
    ("ne-number", {"$ne": 5}, [(False, 5), (True, 6)]),
    ("ne-string", {"$ne": "hello"}, [(False, "hello"), (True, "help")]),
    ("ne-array", {"$ne": [1, [2, 3, 4], 5]},
     [(False, [1, [2, 3, 4], 5]), (True, [1, [2, 3, 4]]), (True, [1, [2, 3, 4], 5, 6]),
      (True, [1, [2, 7, 4], 5])]),
    ("ne-object", {"$ne": NESTED},
     [(False, NESTED), (True, {"a": {"b": {"c": 8}}}), (True, {"a": {"b": {"d": 7}}})]),
    ("in-empty", {"$in": []}, [(False, 0), (False, True), (False, "foo")]),
    ("in", {"$in": IN_ARGS},
     [(True, 42), (True, False), (True, "bar"), (True, {"b": 2}), (False, 43), (False, True),
      (False, "bars"), (False, {"b": 2, "c": 3}),
      # an array value matches when one of its elements is in the list...
      (True, [0, 42]), (True, [0, False]), (True, [0, "bar"]), (True, [0, {"b": 2}]),
      # ... so an array candidate matches only as an element
      (False, [["nested"], "list"]), (True, [0, [["nested"], "list"]])]),
    ("nin-empty", {"$nin": []}, [(True, 0), (True, True), (True, "foo")]),
    ("nin", {"$nin": IN_ARGS},
     [(False, 42), (False, False), (False, "bar"), (False, {"b": 2}), (True, 43), (True, True),
      (True, "bars"), (True, {"b": 2, "c": 3}), (False, [0, 42]), (False, [0, False]), (False, [0, "bar"]),
      (False, [0, {"b": 2}]), (True, [["nested"], "list"]), (False, [0, [["nested"], "list"]])]),
    ("all-empty-matches-nothing", {"$all": []}, [(False, []), (False, [42]), (False, {}), (False, "foo")]),
    ("all-any-order", {"$all": [1, 2, 3, 4]},
     [(True, [3, 2, 4, 1]), (True, [0, 4, 3, 5, 2, 1, 6]), (False, [3, 2, 4]), (False, [])]),
    ("not-all", {"$not": {"$all": [1, 2, 3, 4]}}, [(True, [2, 4, 1]), (False, [2, 4, 1, 3]), (True, [])]),
    ("all-single-array-is-exact-or-member", {"$all": [[1, 2, 3, 4]]},
     [(True, [1, 2, 3, 4]), (False, [4, 3, 2, 1]), (False, [1, 3, 4]), (False, []),
      (True, [5, [1, 2, 3, 4], 6]), (False, [5, [1, 3, 4], 6]), (False, [5, [1, 3, 2, 4], 6])]),
    ("all-single-scalar", {"$all": ["hello"]},
     [(False, "hello"), (True, ["hello"]), (True, [0, "hello", 1]), (False, [])]),
    ("all-objects-exact", {"$all": [{"a": 1}]}, [(True, [{"a": 1}]), (False, [{"a": 1, "b": 2}])]),
    ("all-booleans-are-not-numbers", {"$all": [1]}, [(True, [1]), (True, [1.0]), (False, [True])]),
    ("exists-true", {"x": {"$exists": True}}, [(True, {"x": 0}), (False, {"y": 0}), (False, {})]),
    ("exists-false", {"x": {"$exists": False}}, [(False, {"x": 0}), (True, {"y": 0}), (True, {})]),
    ("not-exists-and-eq", {"x": {"$not": {"$exists": True, "$eq": 0}}},
     [(True, {"x": 1}), (False, {"x": 0}), (True, {})]),
    ("type-null", {"$type": "null"}, [(True, None), (False, False), (False, {})]),
    ("type-boolean", {"$type": "boolean"}, [(True, True), (True, False), (False, 0)]),
    ("type-number", {"$type": "number"},
     [(True, 42), (True, 3.14), (True, 0), (False, True), (False, [1]), (False, "1")]),
    ("type-string", {"$type": "string"}, [(True, ""), (True, "hello"), (False, [])]),
    ("type-array", {"$type": "array"}, [(True, []), (True, [1, 2]), (False, {}), (False, "hi")]),
    ("type-object", {"$type": "object"}, [(True, {}), (True, {"a": 1}), (False, [["a", 1]]), (False, None)]),
    ("type-unknown-name", {"$type": "integer"}, [(False, 1)]),
    ("regex", {"$regex": "^[0-9a-f]+$"}, [(False, ""), (True, "3a0df5e"), (False, "3a0gf5e"), (False, 42)]),
    ("regex-searches-anywhere", {"$regex": "b+"}, [(True, "abbc"), (False, "ac")]),
    ("begins-with", {"$beginsWith": "foo"},
     [(True, "foo"), (True, "food"), (True, "fool me once"), (False, "more food"), (False, "fo"),
      (False, 42)]),
    ("mod", {"$mod": [28, 1]},
     [(True, 1), (True, 29), (True, 57), (False, 58), (False, "57"), (False, 29.0)]),
    ("mod-has-erlang-sign", {"$mod": [3, -1]}, [(True, -4), (False, 2), (False, -2)]),
    ("size", {"$size": 3},
     [(False, 3), (False, "fun"), (True, [0, 0, 0]), (False, [0, 0]), (False, [0, 0, 0, 0])]),
    ("all-match", {"$allMatch": {"$eq": 0}}, [(False, []), (True, [0]), (False, [1]), (False, [0, 1])]),
    ("elem-match-ne", {"$elemMatch": {"$ne": 0}}, [(False, []), (False, [0]), (True, [1]), (True, [0, 1])]),
    ("elem-match", {"$elemMatch": {"$eq": 0}}, [(False, []), (True, [0]), (False, [1]), (True, [0, 1])]),
    ("elem-match-not-an-array", {"$elemMatch": {"$eq": 0}}, [(False, 0), (False, {"0": 0})]),
    ("elem-match-objects", {"$elemMatch": {"name": "a", "qty": {"$gt": 2}}},
     [(True, [{"name": "b", "qty": 9}, {"name": "a", "qty": 3}]), (False, [{"name": "a", "qty": 1}]),
      (False, [{"name": "a"}, {"qty": 5}])]),
    ("key-map-match", {"$keyMapMatch": {"$regex": "^[a-z]+$"}},
     [(True, {"hello": 0}), (True, {"a": 1, "b": 2}), (True, {"a": 1, "b4": 2}), (False, {"b4": 2}),
      (False, {}), (False, ["a"])]),
    ("and", {"$and": [{"$gt": 3}, {"$lt": 7}]}, [(True, 6), (False, 2), (False, 9)]),
    ("or", {"$or": [{"$lt": 3}, {"$gt": 7}]}, [(False, 6), (True, 2), (True, 9)]),
    ("nor", {"$nor": [{"$lt": 3}, {"$gt": 7}]}, [(True, 6), (False, 2), (False, 9)]),
    ("implicit-and-of-operators", {"$gt": 3, "$lt": 7}, [(True, 6), (False, 2), (False, 9)]),
    ("double-negation", {"$not": {"$not": {"$eq": 1}}}, [(True, 1), (False, 2)]),
    ("collated-string-eq-is-exact", {"$eq": "a"}, [(True, "a"), (False, "A"), (False, "á")]),
]
OPERATOR_CASES = [
    pytest.param(cond, expected, value, id=f"{name}-{index}")
    for name, cond, results in OPERATOR_TABLE
    for index, (expected, value) in enumerate(results)
]


@pytest.mark.parametrize("cond, expected, value", OPERATOR_CASES)
def test_operator_and_its_negation(cond, expected, value):
    doc = {"x": value}
    assert matches({"x": cond}, doc) is expected
    assert matches({"x": {"$not": cond}}, doc) is (not expected)


# ---------------------------------------------------------------------------------------------------------
# Whole documents: (id, selector, doc, expected)

DEMO_DOC = {"_id": "foo", "_rev": "bar", "user_id": 11}
DOC_TABLE = [
    ("demo-number", {"user_id": 11}, DEMO_DOC, True),
    ("demo-id", {"_id": "foo"}, DEMO_DOC, True),
    ("demo-two-fields", {"_id": "foo", "_rev": "bar"}, DEMO_DOC, True),
    ("demo-other-number", {"user_id": 1234}, DEMO_DOC, False),
    ("demo-string-is-not-number", {"user_id": "11"}, DEMO_DOC, False),
    ("demo-one-field-differs", {"_id": "foo", "_rev": "quux"}, DEMO_DOC, False),
    ("demo-begins-with-id", {"_id": {"$beginsWith": "f"}}, DEMO_DOC, True),
    ("demo-begins-with-number", {"user_id": {"$beginsWith": "f"}}, DEMO_DOC, False),
    ("empty-selector-matches-all", {}, {}, True),
    ("missing-field-never-eq", {"x": 0}, {}, False),
    ("missing-field-never-ne", {"x": {"$ne": 5}}, {}, False),
    ("missing-field-never-negated-eq", {"$not": {"x": 5}}, {}, False),
    ("missing-field-never-not-eq", {"x": {"$not": {"$eq": 0}}}, {}, False),
    ("missing-field-never-nin", {"x": {"$nin": [1]}}, {}, False),
    ("missing-field-never-not-regex", {"x": {"$not": {"$regex": "a"}}}, {}, False),
    ("missing-field-exists-false", {"x": {"$exists": False}}, {}, True),
    ("missing-field-not-exists", {"$not": {"x": {"$exists": True}}}, {}, True),
    ("nor-of-exists", {"$nor": [{"x": {"$exists": True}}]}, {}, True),
    ("inner-empty-object-matches-only-empty-object", {"x": {}}, {"x": {}}, True),
    ("inner-empty-object-vs-object", {"x": {}}, {"x": {"a": 1}}, False),
    ("inner-empty-object-vs-array", {"x": {}}, {"x": []}, False),
    ("inner-empty-object-vs-missing", {"x": {}}, {}, False),
    ("negated-empty-object-vs-empty", {"$not": {"x": {}}}, {"x": {}}, False),
    ("negated-empty-object-vs-object", {"$not": {"x": {}}}, {"x": {"a": 1}}, True),
    ("negated-empty-object-vs-array", {"$not": {"x": {}}}, {"x": []}, True),
    ("negated-empty-object-vs-missing", {"$not": {"x": {}}}, {}, False),
    ("inner-object-is-a-subset-match", {"x": {"a": 1}}, {"x": {"a": 1, "b": 2}}, True),
    ("inner-object-needs-every-field", {"x": {"a": 1, "b": 2}}, {"x": {"a": 1}}, False),
    ("inner-object-vs-array", {"x": {"a": 1}}, {"x": []}, False),
    ("dotted-shorthand", {"x.b": 2}, {"x": {"a": 1, "b": 2}}, True),
    ("deep-nesting", {"a": {"b": {"c": {"$gt": 1}}}}, {"a": {"b": {"c": 2}}}, True),
    ("deep-dotted", {"a.b.c": 2}, {"a": {"b": {"c": 2}}}, True),
    ("escaped-dot-is-one-name", {"a\\.b": 1}, {"a.b": 1}, True),
    ("escaped-dot-is-not-a-path", {"a\\.b": 1}, {"a": {"b": 1}}, False),
    ("escaped-dot-then-path", {"a\\.b.c": 1}, {"a.b": {"c": 1}}, True),
    ("array-index", {"tags.1": "x"}, {"tags": ["a", "x"]}, True),
    ("array-index-then-field", {"items.0.name": "a"}, {"items": [{"name": "a"}]}, True),
    ("array-index-out-of-range", {"tags.2": {"$exists": False}}, {"tags": ["a", "x"]}, False),
    ("array-negative-index", {"tags.-1": "x"}, {"tags": ["a", "x"]}, False),
    ("array-no-implicit-traversal", {"items.name": "a"}, {"items": [{"name": "a"}]}, False),
    ("path-through-scalar-is-bad", {"a.b": {"$exists": False}}, {"a": 5}, False),
    ("path-through-object-missing", {"a.b": {"$exists": False}}, {"a": {}}, True),
    ("and-empty-matches-all", {"x": {"$and": []}}, {}, True),
    ("not-and-empty-is-or-empty", {"x": {"$not": {"$and": []}}}, {}, True),
    ("or-empty-matches-all", {"x": {"$or": []}}, {}, True),
    ("not-or-empty-matches-all", {"x": {"$not": {"$or": []}}}, {}, True),
    ("nor-empty-matches-all", {"x": {"$nor": []}}, {}, True),
    ("and-range-missing", {"x": {"$and": [{"$gt": 3}, {"$lt": 7}]}}, {}, False),
    ("not-and-range-missing", {"x": {"$not": {"$and": [{"$gt": 3}, {"$lt": 7}]}}}, {}, False),
    ("or-range-missing", {"x": {"$or": [{"$lt": 3}, {"$gt": 7}]}}, {}, False),
    ("not-or-range-missing", {"x": {"$not": {"$or": [{"$lt": 3}, {"$gt": 7}]}}}, {}, False),
    ("nor-range-missing", {"x": {"$nor": [{"$lt": 3}, {"$gt": 7}]}}, {}, False),
    ("top-level-or", {"$or": [{"a": 1}, {"b": 2}]}, {"b": 2}, True),
    ("top-level-and", {"$and": [{"a": 1}, {"b": 2}]}, {"a": 1, "b": 3}, False),
    ("top-level-implicit-and", {"a": 1, "b": {"$gt": 1}}, {"a": 1, "b": 2}, True),
    ("top-level-nor", {"$nor": [{"a": 1}, {"b": 2}]}, {"a": 2, "b": 3}, True),
    ("operators-and-fields-mixed", {"x": {"$exists": True, "a": 1}}, {"x": {"a": 1}}, True),
    ("id-compares-raw", {"_id": {"$gt": "B"}}, {"_id": "a"}, True),
    ("other-fields-collate", {"name": {"$gt": "B"}}, {"name": "a"}, False),
    ("id-in-raw", {"_id": {"$in": ["a", "b"]}}, {"_id": "b"}, True),
    ("id-raw-string-after-array", {"_id": {"$gt": [1]}}, {"_id": "a"}, True),
    ("nested-elem-match", {"m": {"$elemMatch": {"$elemMatch": {"$eq": 3}}}}, {"m": [[1], [2, 3]]}, True),
    ("all-match-objects", {"m": {"$allMatch": {"ok": True}}}, {"m": [{"ok": True}, {"ok": False}]}, False),
    # As in CouchDB, negations inside $elemMatch under a field are not normalised: here the missing "b" in
    # the element makes {"b": 1} false, so its $not is true.
    ("elem-match-keeps-inner-not", {"a": {"$elemMatch": {"$not": {"b": 1}}}}, {"a": [{"c": 2}]}, True),
    ("elem-match-inner-nor", {"a": {"$elemMatch": {"$nor": [{"$eq": 1}]}}}, {"a": [1, 2]}, True),
    ("elem-match-inner-nor-none", {"a": {"$elemMatch": {"$nor": [{"$eq": 1}]}}}, {"a": [1]}, False),
    ("and-of-bare-value-compares-the-doc", {"$and": [5]}, {"a": 1}, False),
    ("unicode-field-and-value", {"ключ": {"$beginsWith": "зна"}}, {"ключ": "значение"}, True),
]


@pytest.mark.parametrize("selector, doc, expected", [c[1:] for c in DOC_TABLE], ids=[c[0] for c in DOC_TABLE])
def test_documents(selector, doc, expected):
    assert matches(selector, doc) is expected


def test_a_compiled_selector_is_reusable_and_does_not_mutate():
    selector = {"a": {"$in": [1, 2]}, "b": {"$elemMatch": {"c": {"$gt": 0}}}, "$or": [{"d": 1}, {"e": 1}]}
    frozen = copy.deepcopy(selector)
    match = compile_selector(selector)
    docs = [{"a": 1, "b": [{"c": 1}], "d": 1}, {"a": 3, "b": [{"c": 1}], "d": 1}, {"a": 2, "b": [], "e": 1}]
    before = copy.deepcopy(docs)
    assert [match(d) for d in docs] == [True, False, False]
    assert [match(d) for d in docs] == [True, False, False]
    assert selector == frozen and docs == before


# ---------------------------------------------------------------------------------------------------------
# Invalid selectors: (id, selector, CouchDB error name)

INVALID_TABLE = [
    ("not-an-object", [{"a": 1}], "invalid_selector_json"),
    ("string", "a", "invalid_selector_json"),
    ("unknown-operator", {"x": {"$foo": 1}}, "invalid_operator"),
    ("unknown-top-level-operator", {"$foo": [1]}, "invalid_operator"),
    ("internal-default", {"$default": {"$text": "a"}}, "invalid_operator"),
    ("where", {"$where": "1"}, "not_supported"),
    ("geo", {"x": {"$geoWithin": {}}}, "not_supported"),
    ("text", {"$text": "hello"}, "not_supported"),
    ("and-not-list", {"$and": {"a": 1}}, "bad_arg"),
    ("or-not-list", {"$or": "a"}, "bad_arg"),
    ("nor-not-list", {"$nor": 1}, "bad_arg"),
    ("not-not-object", {"x": {"$not": [1]}}, "bad_arg"),
    ("elem-match-not-object", {"x": {"$elemMatch": 1}}, "bad_arg"),
    ("all-match-not-object", {"x": {"$allMatch": []}}, "bad_arg"),
    ("key-map-match-not-object", {"x": {"$keyMapMatch": "a"}}, "bad_arg"),
    ("in-not-list", {"x": {"$in": 1}}, "bad_arg"),
    ("nin-not-list", {"x": {"$nin": {}}}, "bad_arg"),
    ("all-not-list", {"x": {"$all": "a"}}, "bad_arg"),
    ("exists-string", {"x": {"$exists": "true"}}, "bad_arg"),
    ("exists-number", {"x": {"$exists": 1}}, "bad_arg"),
    ("type-not-string", {"x": {"$type": 5}}, "bad_arg"),
    ("size-negative", {"x": {"$size": -1}}, "bad_arg"),
    ("size-float", {"x": {"$size": 1.5}}, "bad_arg"),
    ("size-bool", {"x": {"$size": True}}, "bad_arg"),
    ("mod-one-arg", {"x": {"$mod": [1]}}, "bad_arg"),
    ("mod-three-args", {"x": {"$mod": [1, 2, 3]}}, "bad_arg"),
    ("mod-float", {"x": {"$mod": [2.0, 1]}}, "bad_arg"),
    ("mod-bool", {"x": {"$mod": [True, 1]}}, "bad_arg"),
    ("mod-zero-divisor", {"x": {"$mod": [0, 1]}}, "bad_arg"),
    ("mod-not-list", {"x": {"$mod": 3}}, "bad_arg"),
    ("regex-not-string", {"x": {"$regex": 5}}, "bad_arg"),
    ("regex-does-not-compile", {"x": {"$regex": "("}}, "bad_arg"),
    ("begins-with-lone-surrogate", {"x": {"$beginsWith": "\ud800"}}, "bad_arg"),
    ("begins-with-number", {"x": {"$beginsWith": 1}}, "invalid_operator"),
    ("nested-bad-arg", {"$and": [{"$or": [{"x": {"$in": 1}}]}]}, "bad_arg"),
    ("bad-arg-inside-elem-match", {"x": {"$elemMatch": {"$size": "2"}}}, "bad_arg"),
    ("operator-without-field", {"$gt": 5}, "invalid_selector"),
    ("elem-match-without-field", {"$elemMatch": {"$gt": 5}}, "invalid_selector"),
    ("empty-field-name", {"": 1}, "invalid_selector"),
    ("double-dot", {"a..b": 1}, "invalid_field_name"),
    ("trailing-dot", {"a.": 1}, "invalid_field_name"),
    ("leading-dot", {".a": 1}, "invalid_field_name"),
    ("empty-nested-name", {"a": {"": 1}}, "invalid_field_name"),
    ("escaped-path-empty-part", {"a\\.b..c": 1}, "invalid_field_name"),
]


@pytest.mark.parametrize("selector, error", [c[1:] for c in INVALID_TABLE], ids=[c[0] for c in INVALID_TABLE])
def test_invalid_selectors_are_400(selector, error):
    with pytest.raises(BadRequest) as err:
        compile_selector(selector)
    assert (err.value.status, err.value.error) == (400, error)


def test_error_reasons_are_couchdb_s():
    cases = [
        ({"x": {"$foo": 1}}, "Invalid operator: $foo"),
        ({"$where": "1"}, "Unsupported operator: $where"),
        ({"x": {"$in": 1}}, "Bad argument for operator $in: 1"),
        ({"x": {"$mod": [1]}}, "Bad argument for operator $mod: [1]"),
        ({"$gt": 5}, "One or more conditions is missing a field name."),
        ([], "Selector must be a JSON object, not: []"),
    ]
    for selector, reason in cases:
        with pytest.raises(BadRequest) as err:
            compile_selector(selector)
        assert err.value.reason == reason


# ---------------------------------------------------------------------------------------------------------
# Collation

# The view_collation order from the CouchDB docs ("Collation Specification").
COUCHDB_COLLATION = [
    None, False, True,
    1, 2, 3.0, 4,
    "a", "A", "aa", "b", "B", "ba", "bb",
    ["a"], ["b"], ["b", "c"], ["b", "c", "a"], ["b", "d"], ["b", "d", "e"],
    {"a": 1}, {"a": 2}, {"b": 1}, {"b": 2}, {"b": 2, "a": 1}, {"b": 2, "c": 2},
]


def test_the_documented_collation_order():
    assert sorted(reversed(COUCHDB_COLLATION), key=sort_key) == COUCHDB_COLLATION
    for (i, a), (j, b) in itertools.product(enumerate(COUCHDB_COLLATION), repeat=2):
        assert collate(a, b) == (i > j) - (i < j), (a, b)


def test_the_documented_ascii_order():
    assert sorted(ASCII_SYMBOL_ORDER) == sorted(r"""!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~""")
    letters = "".join(c + c.upper() for c in "abcdefghijklmnopqrstuvwxyz")
    expected = " " + ASCII_SYMBOL_ORDER + "0123456789" + letters
    printable = [chr(c) for c in range(32, 127)]
    assert "".join(sorted(printable, key=sort_key)) == expected


@pytest.mark.parametrize("ordered", [
    ["abc", "Abc", "ABC", "abc1", "AbcZZZZZ"],
    ["a", "A", "aa", "AA", "b"],
    ["cote", "coté", "côte", "côté", "cotes"],
    ["e", "é", "É", "f"],
    ["2", "٣", "4"],
    ["a-b", "ab"],
    ["", " ", "~", "$", "0", "a"],
    ["z", "α", "я"],
], ids=["docs-key-ranges", "case-is-tertiary", "accents-are-secondary", "accented-letter-between",
        "digits-by-value", "symbols-are-not-ignored", "classes", "scripts"])
def test_string_collation(ordered):
    assert sorted(reversed(ordered), key=sort_key) == ordered
    assert all(collate(a, b) == -1 for a, b in itertools.pairwise(ordered))


def test_numbers_collate_by_value():
    assert collate(1, 1.0) == 0
    assert collate(-1, 0.5) == -1
    assert collate(10**20, 1e20) == 0
    assert collate(True, 0) == -1 and collate(False, True) == -1


def test_sort_key_refuses_non_json_values():
    for value in [(1, 2), {1, 2}, object(), b"bytes"]:
        with pytest.raises(TypeError):
            sort_key(value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8) | st.sampled_from(["a", "A", "á", "b", "ß", "ss", "1", "-", " ", "é", "é"]),
    lambda children: (st.lists(children, max_size=4)
                      | st.dictionaries(st.text(max_size=4), children, max_size=4)),
    max_leaves=12,
)


def canonical(value):
    """JSON value up to what collation must call equal: numbers by exact value, objects in member order."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return ("number", Fraction(value))
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return ("object", [(k, canonical(v)) for k, v in value.items()])


@given(json_values, json_values)
def test_collate_is_antisymmetric_and_agrees_with_sort_key(a, b):
    assert collate(a, a) == 0
    assert collate(a, b) == -collate(b, a)
    assert collate(a, b) == (sort_key(a) > sort_key(b)) - (sort_key(a) < sort_key(b))


@given(json_values, json_values)
def test_collate_calls_equal_only_equal_values(a, b):
    assert (collate(a, b) == 0) == (canonical(a) == canonical(b))


@given(json_values, json_values, json_values)
def test_collate_is_transitive(a, b, c):
    x, y, z = sorted([a, b, c], key=functools.cmp_to_key(collate))
    assert collate(x, y) <= 0 and collate(y, z) <= 0 and collate(x, z) <= 0


@given(st.lists(json_values, max_size=6))
def test_eq_selector_agrees_with_collation(values):
    for a, b in itertools.product(values, repeat=2):
        assert matches({"x": {"$eq": a}}, {"x": b}) is (collate(a, b) == 0)
        assert matches({"x": {"$lt": a}}, {"x": b}) is (collate(b, a) < 0)


def test_selectors_roundtrip_through_json():
    selector = json.loads('{"a": {"$gte": 1.0}, "b": {"$in": [true, null]}}')
    assert matches(selector, {"a": 1, "b": None}) and not matches(selector, {"a": 1, "b": 1})
