"""``_local`` documents: unversioned ``0-N`` revisions, never in ``_changes`` or ``_all_docs``."""

from ..steps import Scenario, step

get, head, put, post, delete, copy = map(step, ("GET", "HEAD", "PUT", "POST", "DELETE", "COPY"))

SCENARIOS = [
    Scenario("local", [
        put("create", "/{db}/_local/cp", {"history": [1, 2]}),
        get("read", "/{db}/_local/cp"),
        head("head", "/{db}/_local/cp"),
        put("update-without-rev", "/{db}/_local/cp", {"history": [3]}),
        put("update", "/{db}/_local/cp", {"_rev": "0-1", "history": [3]}),
        put("update-stale", "/{db}/_local/cp", {"_rev": "0-1", "history": [4]}),
        put("update-bad-rev", "/{db}/_local/cp", {"_rev": "1-abc", "history": [4]}),
        get("read-updated", "/{db}/_local/cp"),
        get("read-revs", "/{db}/_local/cp", query={"revs": "true"}),
        get("read-rev", "/{db}/_local/cp", query={"rev": "0-1"}),
        get("all-docs-without-local", "/{db}/_all_docs"),
        get("all-docs-local-key", "/{db}/_all_docs", query={"keys": ["_local/cp"]}),
        get("changes-without-local", "/{db}/_changes"),
        get("local-docs", "/{db}/_local_docs"),
        get("local-docs-include-docs", "/{db}/_local_docs", query={"include_docs": "true"}),
        post("bulk-docs-local", "/{db}/_bulk_docs", {"docs": [{"_id": "_local/b", "v": 1}]}),
        get("read-bulk-local", "/{db}/_local/b"),
        post("post-local", "/{db}", {"_id": "_local/p"}),
        copy("copy", "/{db}/_local/cp", headers={"Destination": "_local/cp2"}),
        delete("delete-without-rev", "/{db}/_local/cp"),
        delete("delete-wrong-rev", "/{db}/_local/cp", query={"rev": "0-1"}),
        delete("delete", "/{db}/_local/cp", query={"rev": "0-2"}),
        get("read-deleted", "/{db}/_local/cp"),
        put("recreate", "/{db}/_local/cp", {"again": True}),
        get("read-missing", "/{db}/_local/nope"),
        put("slash-id", "/{db}/_local/a%2Fb", {"s": 1}),
        get("read-slash-id", "/{db}/_local/a%2Fb"),
        put("body-not-object", "/{db}/_local/x", [1]),
        put("bad-field", "/{db}/_local/x", {"_foo": 1}),
    ]),
]
