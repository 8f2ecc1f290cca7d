"""Server and database endpoints: the welcome, ``_up``, ``_uuids``, ``_all_dbs``, ``_dbs_info``, database
create/info/delete with bad names, ``_revs_limit``, ``_compact``, ``_ensure_full_commit``, methods."""

from ..steps import Scenario, step

get, head, put, post, delete = map(step, ("GET", "HEAD", "PUT", "POST", "DELETE"))

JSON = {"Content-Type": "application/json"}

SCENARIOS = [
    Scenario("server", [
        get("welcome", "/"),
        head("welcome-head", "/"),
        get("welcome-html", "/", headers={"Accept": "text/html"}),
        delete("welcome-delete", "/"),
        get("up", "/_up"),
        get("uuids", "/_uuids"),
        get("uuids-three", "/_uuids", query={"count": 3}),
        get("uuids-bad-count", "/_uuids", query={"count": "many"}),
        get("uuids-negative", "/_uuids", query={"count": "-1"}),
        get("uuids-too-many", "/_uuids", query={"count": 1001}),
        post("uuids-post", "/_uuids"),
        get("all-dbs-range", "/_all_dbs", query={"start_key": '"{db}"', "end_key": '"{db}"'}),
        get("all-dbs-bad-key", "/_all_dbs", query={"start_key": "nope"}),
        post("dbs-info", "/_dbs_info", {"keys": ["{db}", "nope-{db}"]}),
        post("dbs-info-no-keys", "/_dbs_info", {}),
        post("dbs-info-text", "/_dbs_info", b'{"keys": []}', headers={"Content-Type": "text/plain"}),
        get("unknown-underscore", "/_nope"),
        get("db-info", "/{db}"),
        head("db-head", "/{db}"),
        put("db-again", "/{db}"),
        put("db-second", "/{db}-2", query={"q": "1"}),
        get("db-second-info", "/{db}-2"),
        # After a database was created: CouchDB's ETag of the list of databases changes on its own now
        # and then (it is its shards database's), so no step expects it to stay what it was.
        get("dbs-info-get", "/_dbs_info", query={"start_key": '"{db}"', "end_key": '"{db}-2"'}),
        delete("db-second-delete", "/{db}-2"),
        delete("db-second-delete-again", "/{db}-2"),
        get("db-deleted-info", "/{db}-2"),
        head("db-deleted-head", "/{db}-2"),
        put("db-upper", "/Upper"),
        put("db-digit", "/1abc"),
        put("db-underscore", "/_abc"),
        put("db-dot", "/a.b"),
        put("db-slash", "/{db}%2Fsub"),
        delete("db-slash-delete", "/{db}%2Fsub"),
        delete("db-with-rev", "/{db}", query={"rev": "1-a"}),
        post("db-post-no-body", "/{db}", headers=JSON),
        post("db-post-array", "/{db}", [1]),
        post("db-post-text", "/{db}", b"{}", headers={"Content-Type": "text/plain"}),
        get("revs-limit", "/{db}/_revs_limit"),
        put("revs-limit-set", "/{db}/_revs_limit", 5),
        get("revs-limit-after", "/{db}/_revs_limit"),
        put("revs-limit-zero", "/{db}/_revs_limit", 0),
        put("revs-limit-string", "/{db}/_revs_limit", "5"),
        put("revs-limit-object", "/{db}/_revs_limit", {"limit": 5}),
        post("revs-limit-post", "/{db}/_revs_limit", 5),
        post("ensure-full-commit", "/{db}/_ensure_full_commit", headers=JSON),
        post("view-cleanup", "/{db}/_view_cleanup", headers=JSON),
        get("db-info-after", "/{db}"),
        # Last: a database being compacted says so in its info for a while, or not, as it goes.
        post("compact", "/{db}/_compact", headers=JSON),
        post("compact-no-type", "/{db}/_compact"),
        get("compact-get", "/{db}/_compact"),
        put("all-docs-put", "/{db}/_all_docs", {}),
    ]),
]
