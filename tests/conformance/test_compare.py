"""Comparison and the allowlist (``compare.py``, ``allowlist.py``): every real difference is caught, and
only the ones an entry names are excused."""

import pytest

from .allowlist import ALLOWED
from .compare import ABSENT, Allowed, Difference, Pairing, differences, explain


def _diff(couchdb, ours, pairing=None):
    return [(d.where, d.couchdb, d.ours) for d in differences("s:x", couchdb, ours, pairing or Pairing())]


def test_equal_answers_have_no_differences():
    answer = {"status": 200, "body": {"rows": [{"id": "a", "value": {"rev": "1-⟨h1⟩"}}]}, "headers": {}}
    assert _diff(answer, answer) == []


@pytest.mark.parametrize("couchdb, ours, expected", [
    ({"status": 200}, {"status": 201}, [("status", 200, 201)]),
    ({"body": {"a": 1}}, {"body": {"a": 1.0}}, [("body.a", 1, 1.0)]),
    ({"body": {"a": True}}, {"body": {"a": 1}}, [("body.a", True, 1)]),
    ({"body": {"a": 1}}, {"body": {}}, [("body.a", 1, ABSENT)]),
    ({"body": [1, 2]}, {"body": [1]}, [("body[1]", 2, ABSENT)]),
    ({"body": {"r": "missing"}}, {"body": {"r": "deleted"}}, [("body.r", "missing", "deleted")]),
    ({"headers": {"etag": '"1-⟨h1⟩"'}}, {"headers": {}}, [("headers.etag", '"1-⟨h1⟩"', ABSENT)]),
    ({"body": "text"}, {"body": {"a": 1}}, [("body", "text", {"a": 1})]),
])
def test_a_real_difference_is_caught(couchdb, ours, expected):
    assert _diff(couchdb, ours) == expected


def test_placeholders_pair_one_to_one_over_a_scenario():
    pairing = Pairing()
    # Numbered per server: CouchDB's h1 is our h2 where they stand in the same place.
    assert _diff({"rev": "1-⟨h1⟩"}, {"rev": "1-⟨h2⟩"}, pairing) == []
    assert _diff({"rev": "1-⟨h1⟩", "seq": "⟨s1⟩"}, {"rev": "1-⟨h2⟩", "seq": "⟨s1⟩"}, pairing) == []
    # The wrong rev, or a rev paired twice, is a difference; so is the generation or a kind.
    assert _diff({"rev": "1-⟨h1⟩"}, {"rev": "1-⟨h3⟩"}, pairing) == [("rev", "1-⟨h1⟩", "1-⟨h3⟩")]
    assert _diff({"rev": "1-⟨h4⟩"}, {"rev": "1-⟨h2⟩"}, pairing) == [("rev", "1-⟨h4⟩", "1-⟨h2⟩")]
    assert _diff({"rev": "1-⟨h1⟩"}, {"rev": "2-⟨h2⟩"}, pairing) == [("rev", "1-⟨h1⟩", "2-⟨h2⟩")]
    assert _diff({"seq": "⟨s1⟩"}, {"seq": "⟨h1⟩"}, pairing) == [("seq", "⟨s1⟩", "⟨h1⟩")]
    # An extra update on one server shows where it happens, and later sequences pair afresh.
    assert _diff({"seq": "⟨s2⟩"}, {"seq": "⟨s1⟩"}, pairing) == [("seq", "⟨s2⟩", "⟨s1⟩")]
    assert _diff({"seq": "⟨s3⟩"}, {"seq": "⟨s2⟩"}, pairing) == []


def test_opaque_etags_pair_one_way():
    pairing = Pairing()
    assert _diff({"etag": "⟨e1⟩"}, {"etag": "⟨e1⟩"}, pairing) == []
    # CouchDB's ETag changed by itself while ours did not: fine.
    assert _diff({"etag": "⟨e2⟩"}, {"etag": "⟨e1⟩"}, pairing) == []
    # CouchDB's stayed while ours changed: our ETag is less stable than CouchDB's.
    assert _diff({"etag": "⟨e2⟩"}, {"etag": "⟨e3⟩"}, pairing) == [("etag", "⟨e2⟩", "⟨e3⟩")]


def test_allowed_entries_excuse_only_what_they_name():
    entry = Allowed("docs:*", "headers.location", "why", ours="<absent>")
    assert entry.explains(Difference("docs:put", "headers.location", "/db/d", ABSENT))
    assert not entry.explains(Difference("docs:put", "headers.location", "/db/d", "/db/e"))
    assert not entry.explains(Difference("docs:put", "headers.etag", "x", ABSENT))
    assert not entry.explains(Difference("other:put", "headers.location", "/db/d", ABSENT))
    bracketed = Allowed("s:x", "body.lines[[]*].pending", "why")
    assert bracketed.explains(Difference("s:x", "body.lines[1].pending", 2, 0))
    found = [Difference("docs:put", "headers.location", "/db/d", ABSENT),
             Difference("docs:put", "status", 1, 2)]
    unexplained, used = explain(found, [entry])
    assert unexplained == found[1:] and used == {entry}


def test_every_allowlist_entry_has_a_one_line_reason():
    for entry in ALLOWED:
        assert entry.reason.strip() and "\n" not in entry.reason and len(entry.reason) <= 160, entry
        assert ":" in entry.step, entry
    assert len(set(ALLOWED)) == len(ALLOWED)
