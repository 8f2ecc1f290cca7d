"""A design document's index signature is CouchDB's (``couch_mrview_util:ddoc_to_mrst/2``): the MD5 of
an Erlang term. Each signature here is what Apache CouchDB 3.4.3 answered in ``GET
/db/_design/D/_info`` for the same design document (recorded 2026-12-07;
tests/interop/test_couchdb_views.py compares a live one)."""

import pytest

from browsercouch.store.design import ViewGroup

MAP = "function(doc){emit(1,1)}"
RECORDED = [
    ({"views": {"v": {"map": "function(doc){emit(doc._id,1)}"}}}, "30b6bf26a0a044e34b2997cd90c6160e"),
    # Views sharing a map function are one record, naming its map-only views and its reduces.
    ({"views": {"a": {"map": MAP, "reduce": "_count"}, "b": {"map": MAP}, "c": {"map": MAP, "reduce": "_sum"},
                "z": {"map": "function(doc){emit(0,1)}"}}}, "b0b4a8200f84a88b128f0a1432d80213"),
    ({"views": {"v": {"map": "function(doc){var m=require('views/lib/m'); emit(1,1)}"},
                "lib": {"m": "exports.x=1;", "a": {"y": "1", "b": "2"}}},
      "options": {"include_design": True, "local_seq": False}, "language": "javascript"},
     "c1a6cc278f2b88686eadf42856b6be63"),
    ({"views": {"v": {"map": MAP, "options": {"collation": "raw"}}, "w": {"map": MAP}}},
     "51de43f4c8845acab542e4afe7f6f846"),
    # The index POST /db/_index {"index": {"fields": ["g", "n"]}, "ddoc": "idx", "name": "gn"} makes.
    ({"language": "query", "views": {"gn": {
        "map": {"fields": {"g": "asc", "n": "asc"}, "partial_filter_selector": {}}, "reduce": "_count",
        "options": {"def": {"fields": ["g", "n"]}}}}}, "e1a78f0c0bb8d74772c1b46c92c644fd"),
    ({"views": {"é": {"map": "function(doc){emit('é',1.5)}"},
                "x": {"map": "function(doc){}", "reduce": "function(k,v){return 1}"}}},
     "4650924b9509140f61bc3820a4de4f07"),
    ({"views": {}}, "3e823c2a4383ac0c18d4e574135a5b08"),
]


@pytest.mark.parametrize("body, signature", RECORDED)
def test_signatures_are_couchdbs(body, signature):
    assert ViewGroup("_design/d", body).signature == signature


def test_field_order_of_a_query_view_changes_it():
    """A Mango index's fields are in order: the same fields in another order are another index."""
    def body(fields):
        return {"language": "query", "views": {"v": {"map": {"fields": fields}}}}
    assert (ViewGroup("_design/d", body({"a": "asc", "b": "asc"})).signature
            != ViewGroup("_design/d", body({"b": "asc", "a": "asc"})).signature)
