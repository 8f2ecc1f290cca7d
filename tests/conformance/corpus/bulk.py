"""``_bulk_docs``, ``_bulk_get``, ``_revs_diff`` and ``_missing_revs``: what replicators send."""

from ..steps import Scenario, step

get, put, post = map(step, ("GET", "PUT", "POST"))

JSON = {"Content-Type": "application/json"}

SCENARIOS = [
    Scenario("bulk_docs", [
        post("create", "/{db}/_bulk_docs", {"docs": [{"_id": "a", "v": 1}, {"_id": "b", "v": 2}, {"v": 3}]},
             save={"a1": "0.rev", "b1": "1.rev"}),
        post("update-and-conflict", "/{db}/_bulk_docs", {"docs": [
            {"_id": "a", "_rev": "{a1}", "v": 10}, {"_id": "b", "v": 20},
            {"_id": "b", "_rev": "1-0", "v": 21}]},
             save={"a2": "0.rev"}),
        post("delete", "/{db}/_bulk_docs", {"docs": [{"_id": "a", "_rev": "{a2}", "_deleted": True}]}),
        post("same-id-twice", "/{db}/_bulk_docs", {"docs": [{"_id": "twice"}, {"_id": "twice"}]}),
        post("bad-ids", "/{db}/_bulk_docs",
             {"docs": [{"_id": "_bad"}, {"_id": 12}, {"_id": ""}, {"_id": "ok"}]}),
        post("bad-revs", "/{db}/_bulk_docs",
             {"docs": [{"_id": "r1", "_rev": "bad"}, {"_id": "r2", "_rev": 3}]}),
        post("doc-not-object", "/{db}/_bulk_docs", {"docs": [1]}),
        post("empty", "/{db}/_bulk_docs", {"docs": []}),
        post("docs-missing", "/{db}/_bulk_docs", {"documents": []}),
        post("docs-not-list", "/{db}/_bulk_docs", {"docs": {"_id": "x"}}),
        post("body-not-object", "/{db}/_bulk_docs", [{"_id": "x"}]),
        post("malformed", "/{db}/_bulk_docs", b'{"docs": [{', headers=JSON),
        post("text-plain", "/{db}/_bulk_docs", b'{"docs": []}', headers={"Content-Type": "text/plain"}),
        post("new-edits-false", "/{db}/_bulk_docs", {"new_edits": False, "docs": [
            {"_id": "n", "_rev": "1-a", "v": 1},
            {"_id": "n", "_rev": "2-b", "_revisions": {"start": 2, "ids": ["b", "a"]}, "v": 2},
            {"_id": "m", "_rev": "3-c", "_revisions": {"start": 3, "ids": ["c", "b", "a"]}}]}),
        post("new-edits-false-without-rev", "/{db}/_bulk_docs", {"new_edits": False, "docs": [{"_id": "x"}]}),
        post("new-edits-false-again", "/{db}/_bulk_docs", {"new_edits": False, "docs": [
            {"_id": "n", "_rev": "2-b", "_revisions": {"start": 2, "ids": ["b", "a"]}, "v": 2}]}),
        post("revisions-beat-rev", "/{db}/_bulk_docs", {"new_edits": False, "docs": [
            {"_id": "p", "_rev": "2-a", "_revisions": {"start": 1, "ids": ["a"]}, "v": 1}]}),
        get("read-revisions-beat-rev", "/{db}/p", query={"revs": "true"}),
        put("revisions-beat-rev-put", "/{db}/p2",
            {"_rev": "3-x", "_revisions": {"start": 2, "ids": ["y", "z"]}}, query={"new_edits": "false"}),
        get("read-revisions-beat-rev-put", "/{db}/p2", query={"revs": "true"}),
        post("bare-rev", "/{db}/_bulk_docs", {"new_edits": False, "docs": [{"_id": "q", "_rev": "1-"}]}),
        get("read-bare-rev", "/{db}/q", query={"revs": "true"}),
        get("read-n", "/{db}/n", query={"revs_info": "true"}),
        get("read-m", "/{db}/m", query={"revs": "true"}),
        post("new-edits-string", "/{db}/_bulk_docs", {"new_edits": "false", "docs": []}),
        get("newest", "/{db}", save={"newest": "update_seq"}),
        post("unsorted", "/{db}/_bulk_docs", {"docs": [{"_id": "zeta"}, {"_id": "alpha"}, {"_id": "mu"}]}),
        get("unsorted-changes", "/{db}/_changes", query={"since": "{newest}"}),
        get("get", "/{db}/_bulk_docs"),
        get("all", "/{db}/_all_docs", query={"include_docs": "true", "keys": ["a", "b", "m", "n", "twice"]}),
        post("all-or-nothing", "/{db}/_bulk_docs", {"all_or_nothing": True, "docs": [{"_id": "aon"}]}),
    ]),
    Scenario("bulk_get", setup=[
        post("branches", "/{db}/_bulk_docs", {"new_edits": False, "docs": [
            {"_id": "x", "_rev": "1-a", "v": 1},
            {"_id": "x", "_rev": "2-b", "_revisions": {"start": 2, "ids": ["b", "a"]}, "v": 2},
            {"_id": "x", "_rev": "2-c", "_revisions": {"start": 2, "ids": ["c", "a"]}, "v": 3},
            {"_id": "y", "_rev": "1-y", "_deleted": True}]}),
        put("z", "/{db}/z", {"plain": True}),
    ], steps=[
        post("winners", "/{db}/_bulk_get", {"docs": [{"id": "x"}, {"id": "z"}]}),
        post("revs", "/{db}/_bulk_get", {"docs": [{"id": "x", "rev": "2-b"}, {"id": "x", "rev": "1-a"}]},
             query={"revs": "true"}),
        post("missing", "/{db}/_bulk_get", {"docs": [{"id": "nope"}, {"id": "x", "rev": "9-z"}]}),
        post("deleted", "/{db}/_bulk_get", {"docs": [{"id": "y"}, {"id": "y", "rev": "1-y"}]}),
        post("latest", "/{db}/_bulk_get", {"docs": [{"id": "x", "rev": "1-a"}]}, query={"latest": "true"}),
        get("open-revs-all", "/{db}/x", query={"open_revs": "all"}),
        get("conflicts", "/{db}/x", query={"conflicts": "true", "deleted_conflicts": "true"}),
        get("latest-ignores-rev", "/{db}/x", query={"rev": "2-b", "latest": "true"}),
        post("atts-since", "/{db}/_bulk_get", {"docs": [{"id": "z", "atts_since": ["1-a"]}]}),
        post("no-id", "/{db}/_bulk_get", {"docs": [{"rev": "1-a"}]}),
        post("doc-not-object", "/{db}/_bulk_get", {"docs": ["x"]}),
        post("docs-missing", "/{db}/_bulk_get", {}),
        post("docs-not-list", "/{db}/_bulk_get", {"docs": {"id": "x"}}),
        post("bad-rev", "/{db}/_bulk_get", {"docs": [{"id": "x", "rev": "bad"}]}),
        post("text-plain", "/{db}/_bulk_get", b'{"docs": []}', headers={"Content-Type": "text/plain"}),
        get("get", "/{db}/_bulk_get"),
    ]),
    Scenario("revs_diff", setup=[
        post("branches", "/{db}/_bulk_docs", {"new_edits": False, "docs": [
            {"_id": "x", "_rev": "1-a"},
            {"_id": "x", "_rev": "2-b", "_revisions": {"start": 2, "ids": ["b", "a"]}},
            {"_id": "x", "_rev": "2-c", "_revisions": {"start": 2, "ids": ["c", "a"]}}]}),
    ], steps=[
        post("known", "/{db}/_revs_diff", {"x": ["1-a", "2-b"]}),
        post("missing", "/{db}/_revs_diff", {"x": ["3-d", "2-b", "1-z"], "y": ["1-a"]}),
        post("empty", "/{db}/_revs_diff", {}),
        post("revs-not-list", "/{db}/_revs_diff", {"x": "1-a"}),
        post("bad-rev", "/{db}/_revs_diff", {"x": ["bad"]}),
        post("body-not-object", "/{db}/_revs_diff", ["x"]),
        post("text-plain", "/{db}/_revs_diff", b"{}", headers={"Content-Type": "text/plain"}),
        post("missing-revs", "/{db}/_missing_revs", {"x": ["3-d", "2-b"], "y": ["1-a"]}),
        post("missing-revs-none", "/{db}/_missing_revs", {"x": ["2-b"]}),
        get("get", "/{db}/_revs_diff"),
    ]),
]
