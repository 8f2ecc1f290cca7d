"""Bad input anywhere: malformed JSON, wrong content types, invalid ids and revisions, odd methods."""

from ..steps import Scenario, step

get, put, post, delete, copy = map(step, ("GET", "PUT", "POST", "DELETE", "COPY"))

JSON = {"Content-Type": "application/json"}

SCENARIOS = [
    Scenario("errors", [
        put("malformed-json", "/{db}/doc", b'{"a":', headers=JSON),
        put("trailing-garbage", "/{db}/doc", b'{"a":1} x', headers=JSON),
        put("invalid-utf8", "/{db}/doc", b'{"a":"\xff"}', headers=JSON),
        put("nan", "/{db}/doc", b'{"a":NaN}', headers=JSON),
        put("array-body", "/{db}/doc", [1, 2]),
        put("string-body", "/{db}/doc", "just text", headers=JSON),
        put("empty-body", "/{db}/doc", b"", headers=JSON),
        put("no-content-type", "/{db}/doc2", b'{"a":1}'),
        put("text-plain", "/{db}/doc3", b'{"a":1}', headers={"Content-Type": "text/plain"}),
        put("underscore-id", "/{db}/_foo", {}),
        put("underscore-field", "/{db}/doc4", {"_foo": 1}),
        put("id-mismatch", "/{db}/doc5", {"_id": "other"}),
        put("bad-rev", "/{db}/doc6", {"_rev": "bad"}),
        put("bad-rev-number", "/{db}/doc6", {"_rev": "x-abc"}),
        put("rev-on-new-doc", "/{db}/doc7", {"_rev": "1-abc"}),
        put("bad-revisions", "/{db}/doc8", {"_revisions": {"start": 1}}, query={"new_edits": "false"}),
        put("deleted-not-bool", "/{db}/doc9", {"_deleted": "yes"}),
        get("bad-rev-query", "/{db}/doc2", query={"rev": "bad"}),
        get("bad-open-revs-rev", "/{db}/doc2", query={"open_revs": ["bad"]}),
        delete("delete-bad-rev", "/{db}/doc2", query={"rev": "bad"}),
        delete("delete-missing", "/{db}/nope", query={"rev": "1-abc"}),
        copy("copy-missing", "/{db}/nope", headers={"Destination": "x"}),
        put("design-underscore-field", "/{db}/_design/d", {"_foo": 1}),
        get("missing-db-doc", "/nope-{db}/doc"),
        get("missing-db-all-docs", "/nope-{db}/_all_docs"),
        post("missing-db-bulk", "/nope-{db}/_bulk_docs", {"docs": []}),
        get("missing-db-changes", "/nope-{db}/_changes"),
        post("bulk-get-missing-db", "/nope-{db}/_bulk_get", {"docs": []}),
        get("unknown-db-endpoint", "/{db}/_nope"),
        get("design-endpoint-missing", "/{db}/_design/nope/_view/v"),
        get("long-path", "/{db}/a/b/c"),
        put("method-patch", "/{db}/doc", {}, headers={"X-HTTP-Method-Override": "PATCH"}),
        post("post-doc-path", "/{db}/doc", {}),
        put("put-design-info", "/{db}/_design/d/_info", {}),
    ]),
]
