"""Attachments: standalone and inline, stubs, ranges, ETags, ``attachments=true``, ``atts_since``, and
the refusals (missing stubs, bad base64, ``_local`` documents). Binary bodies use
``application/octet-stream``, which neither server compresses; ``text_attachments`` covers a compressible
type, which CouchDB stores gzip-encoded."""

from ..steps import Scenario, step

get, head, put, post, delete = map(step, ("GET", "HEAD", "PUT", "POST", "DELETE"))

BINARY = {"Content-Type": "application/octet-stream"}
DATA = bytes(range(256)) * 4  # 1024 bytes, every byte value
HELLO = "aGVsbG8gd29ybGQ="  # base64 of b"hello world"

SCENARIOS = [
    Scenario("attachments", [
        put("to-new-doc", "/{db}/doc/data.bin", DATA, headers=BINARY, save={"r1": "rev"}),
        get("read", "/{db}/doc/data.bin", save={"etag": "header:ETag"}),
        head("head", "/{db}/doc/data.bin"),
        get("if-none-match", "/{db}/doc/data.bin", headers={"If-None-Match": "{etag}"}),
        get("range-start", "/{db}/doc/data.bin", headers={"Range": "bytes=0-9"}),
        get("range-middle", "/{db}/doc/data.bin", headers={"Range": "bytes=100-199"}),
        get("range-suffix", "/{db}/doc/data.bin", headers={"Range": "bytes=-5"}),
        get("range-open", "/{db}/doc/data.bin", headers={"Range": "bytes=1020-"}),
        get("range-past-end", "/{db}/doc/data.bin", headers={"Range": "bytes=1000-5000"}),
        get("range-unsatisfiable", "/{db}/doc/data.bin", headers={"Range": "bytes=5000-6000"}),
        get("range-multiple", "/{db}/doc/data.bin", headers={"Range": "bytes=0-1,10-11"}),
        get("range-malformed", "/{db}/doc/data.bin", headers={"Range": "bytes=z-y"}),
        get("range-other-unit", "/{db}/doc/data.bin", headers={"Range": "items=0-1"}),
        get("doc-with-stub", "/{db}/doc"),
        get("doc-inline", "/{db}/doc", query={"attachments": "true"}),
        get("doc-encoding-info", "/{db}/doc", query={"att_encoding_info": "true"}),
        put("second-without-rev", "/{db}/doc/other.bin", b"xyz", headers=BINARY),
        put("second", "/{db}/doc/other.bin", b"xyz", headers=BINARY, query={"rev": "{r1}"},
            save={"r2": "rev"}),
        put("second-stale-rev", "/{db}/doc/other.bin", b"xyz", headers=BINARY, query={"rev": "{r1}"}),
        get("doc-atts-since", "/{db}/doc", query={"atts_since": ["{r1}"]}),
        get("doc-atts-since-unknown", "/{db}/doc", query={"atts_since": ["1-zzz"]}),
        get("old-rev-attachment", "/{db}/doc/other.bin", query={"rev": "{r1}"}),
        get("missing-attachment", "/{db}/doc/nope.bin"),
        get("missing-doc-attachment", "/{db}/nodoc/data.bin"),
        put("name-with-slash", "/{db}/doc/dir/file.bin", b"in a dir", headers=BINARY, query={"rev": "{r2}"},
            save={"r3": "rev"}),
        get("read-name-with-slash", "/{db}/doc/dir/file.bin"),
        put("update-doc-keeping-stubs", "/{db}/doc", {"_rev": "{r3}", "field": 1, "_attachments": {
            "data.bin": {"stub": True}, "other.bin": {"stub": True}, "dir/file.bin": {"stub": True}}},
            save={"r4": "rev"}),
        get("doc-after-stub-update", "/{db}/doc"),
        put("missing-stub", "/{db}/doc", {"_rev": "{r4}", "_attachments": {"gone.bin": {"stub": True}}}),
        put("drop-attachments", "/{db}/doc", {"_rev": "{r4}", "field": 2}, save={"r5": "rev"}),
        get("doc-without-attachments", "/{db}/doc"),
        get("dropped-attachment", "/{db}/doc/data.bin"),
        get("dropped-attachment-old-rev", "/{db}/doc/data.bin", query={"rev": "{r4}"}),
        put("inline", "/{db}/inline", {"_attachments": {"hello.bin": {
            "content_type": "application/octet-stream", "data": HELLO}}}, save={"i1": "rev"}),
        get("inline-read", "/{db}/inline/hello.bin"),
        get("inline-doc", "/{db}/inline", query={"attachments": "true"}),
        get("inline-all-docs", "/{db}/_all_docs", query={"include_docs": "true", "attachments": "true",
                                                          "key": '"inline"'}),
        get("inline-changes", "/{db}/_changes", query={"include_docs": "true", "attachments": "true"}),
        post("inline-bulk-get", "/{db}/_bulk_get", {"docs": [{"id": "inline"}]},
             query={"attachments": "true"}),
        delete("delete-attachment", "/{db}/inline/hello.bin", query={"rev": "{i1}"}, save={"i2": "rev"}),
        delete("delete-attachment-again", "/{db}/inline/hello.bin", query={"rev": "{i2}"}),
        delete("delete-attachment-without-rev", "/{db}/doc/other.bin"),
        put("bad-base64", "/{db}/bad", {"_attachments": {"a.bin": {"content_type": "x/y", "data": "!!!"}}}),
        put("data-not-string", "/{db}/bad", {"_attachments": {"a.bin": {"content_type": "x/y", "data": 12}}}),
        put("attachments-not-object", "/{db}/bad", {"_attachments": []}),
        put("no-content-type", "/{db}/nct/a", b"raw bytes"),
        get("no-content-type-read", "/{db}/nct/a"),
        put("empty-body", "/{db}/empty/a.bin", b"", headers=BINARY),
        get("empty-body-read", "/{db}/empty/a.bin"),
        get("empty-body-range", "/{db}/empty/a.bin", headers={"Range": "bytes=0-1"}),
        delete("delete-existing-without-rev", "/{db}/empty/a.bin"),
        put("revpos-doc", "/{db}/revpos", {"_attachments": {"a.bin": {
            "content_type": "application/octet-stream", "data": HELLO}}}, save={"p1": "rev"}),
        put("stub-wrong-revpos", "/{db}/revpos", {"_rev": "{p1}", "_attachments": {
            "a.bin": {"stub": True, "revpos": 7}}}),
    ]),
    Scenario("local_attachments", [
        put("local-doc", "/{db}/_local/l", {"a": 1}),
        get("get", "/{db}/_local/l/att"),
        head("head", "/{db}/_local/l/att"),
        put("put", "/{db}/_local/l/att", b"data", headers=BINARY),
        put("put-with-rev", "/{db}/_local/l/att", b"data", headers=BINARY, query={"rev": "0-1"}),
        delete("delete", "/{db}/_local/l/att"),
        get("missing-local-doc", "/{db}/_local/nope/att"),
        put("inline", "/{db}/_local/i", {"_attachments": {"a.bin": {"content_type": "x/y", "data": HELLO}}}),
        get("inline-read", "/{db}/_local/i"),
    ]),
    Scenario("text_attachments", [
        put("put", "/{db}/doc/a.txt", "hello hello hello hello hello", headers={"Content-Type": "text/plain"},
            save={"r1": "rev"}),
        get("read", "/{db}/doc/a.txt"),
        get("read-gzip", "/{db}/doc/a.txt", headers={"Accept-Encoding": "gzip"}),
        get("range", "/{db}/doc/a.txt", headers={"Range": "bytes=0-4"}),
        get("stub", "/{db}/doc"),
        get("encoding-info", "/{db}/doc", query={"att_encoding_info": "true"}),
        get("inline", "/{db}/doc", query={"attachments": "true"}),
        put("inline-json", "/{db}/j", {"_attachments": {"a.json": {"content_type": "application/json",
                                                                    "data": "eyJhIjogMX0="}}}),
        get("inline-json-stub", "/{db}/j"),
        get("inline-json-read", "/{db}/j/a.json"),
        put("underscore-name", "/{db}/u/_hidden.txt", "x", headers={"Content-Type": "text/plain"}),
        put("underscore-inline", "/{db}/u2", {"_attachments": {"_a": {"content_type": "text/plain",
                                                                       "data": HELLO}}}),
    ]),
]
