"""``replicator.replication_id``: stable for the same replication, different for any other."""

import pytest

from browsercouch.replicator.replication_id import replication_id

BASE = ("uuid-1/src", "uuid-2/tgt")


def test_is_32_hex_digits_and_stable():
    first = replication_id(*BASE, selector={"a": 1, "b": {"c": [1, 2]}})
    assert len(first) == 32 and int(first, 16) >= 0
    assert replication_id(*BASE, selector={"b": {"c": [1, 2]}, "a": 1}) == first  # key order is irrelevant


def test_known_value():
    """Pinned: a change to the inputs or their encoding must bump REPLICATION_ID_VERSION."""
    assert replication_id(*BASE) == "e0ecf6c812cc34c5e5c64034a07fd42f"


def test_doc_ids_order_and_duplicates_do_not_matter():
    assert replication_id(*BASE, doc_ids=["b", "a", "a"]) == replication_id(*BASE, doc_ids=["a", "b"])


@pytest.mark.parametrize("changed", [
    {"source_id": "uuid-1/other"},
    {"target_id": "uuid-3/tgt"},
    {"doc_ids": ["a"]},
    {"doc_ids": []},
    {"selector": {"type": "x"}},
    {"filter": "app/by_type"},
    {"filter": "app/by_type", "query_params": {"type": "x"}},
    {"since": 42},
])
def test_sensitive_to_every_input(changed):
    args = {"source_id": BASE[0], "target_id": BASE[1], **changed}
    assert replication_id(args.pop("source_id"), args.pop("target_id"), **args) != replication_id(*BASE)


def test_query_params_count_only_with_a_filter():
    with_params = replication_id(*BASE, filter="app/f", query_params={"k": 1})
    assert with_params != replication_id(*BASE, filter="app/f", query_params={"k": 2})
    assert replication_id(*BASE, query_params={"k": 1}) == replication_id(*BASE)


def test_source_and_target_are_not_interchangeable():
    assert replication_id("a", "b") != replication_id("b", "a")

