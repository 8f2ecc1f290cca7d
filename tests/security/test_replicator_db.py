"""A ``_replicator`` document's job runs as its writer, and its document stays theirs (issue 12, item 3).

An admin opens ``_replicator`` to a role. A user of that role may then ask for replications, but a job
uses the writer's rights on local databases (CouchDB's ``user_ctx``: an admin's only when an admin wrote
it), whatever ``user_ctx`` the document claims; other users cannot change the document, and see it
without its credentials. The ownership and reading rules are compared with Apache CouchDB 3.4.3
(``couch_replicator_docs.erl``); the jobs' rights only with browsercouch, as CouchDB 3 has no local
endpoints.
"""

import time

import pytest
from helpers import start_browsercouch

from .peers import ADMIN, Server, open_to_role, reference_server, unique

ROLE = "staff"
# Nothing listens on the discard port: jobs that point there fail to connect, on loopback only.
NOWHERE = "http://127.0.0.1:9"
JOB_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def native():
    server = start_browsercouch("--admin", ":".join(ADMIN))
    couch = Server("browsercouch", server.url)
    for db in ("_users", "_replicator"):
        assert couch.request("PUT", f"/{db}")[0] == 201
    yield couch
    server.stop()


@pytest.fixture(params=["native", "couchdb"])
def server(request):
    if request.param == "native":
        couch = request.getfixturevalue("native")
    else:
        couch = reference_server(request.getfixturevalue("couchdb"))
        if couch.request("GET", "/_replicator")[0] == 404:
            couch.request("PUT", "/_replicator")
    restore = open_to_role(couch, "_replicator", ROLE)
    yield couch
    restore()


@pytest.fixture
def users(server):
    """Two users of the role, ``(name, password)`` each."""
    made = (unique("bob"), unique("pw")), (unique("carol"), unique("pw"))
    for name, password in made:
        server.make_user(name, password, [ROLE])
    return made


def _settled(server, doc_id):
    """The document once its job has ended (``_replication_state`` completed or failed)."""
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        status, doc = server.request("GET", f"/_replicator/{doc_id}")
        if status == 200 and doc.get("_replication_state") in ("completed", "failed"):
            return doc
        assert time.monotonic() < deadline, f"the job of {doc_id} never ended: {doc}"
        time.sleep(0.2)


@pytest.fixture
def databases(native):
    """``secret`` (admins only, two documents) and ``public`` (anyone), fresh names each time."""
    secret, public = unique("secret"), unique("public")
    for db in (secret, public):
        assert native.request("PUT", f"/{db}")[0] == 201
    assert native.request("PUT", f"/{public}/_security", {})[0] == 200
    for doc_id in ("a", "b"):
        assert native.request("PUT", f"/{secret}/{doc_id}", {"secret": doc_id})[0] == 201
    return secret, public


def _doc_count(server, db):
    return server.request("GET", f"/{db}")[1]["doc_count"]


@pytest.mark.parametrize("server", ["native"], indirect=True)
def test_a_job_has_its_writers_rights_not_the_servers(server, users, databases):
    bob, _ = users
    secret, public = databases
    spec = {"source": secret, "target": public}
    assert server.request("PUT", "/_replicator/bobs", spec, bob)[0] == 201
    failed = _settled(server, "bobs")
    assert failed["_replication_state"] == "failed"
    assert "refused access" in failed["_replication_state_reason"]
    assert _doc_count(server, public) == 0
    assert server.request("PUT", "/_replicator/admins", spec)[0] == 201
    assert _settled(server, "admins")["_replication_state"] == "completed"
    assert _doc_count(server, public) == 2


@pytest.mark.parametrize("server", ["native"], indirect=True)
def test_a_writer_cannot_claim_another_users_rights(server, users, databases):
    bob, _ = users
    secret, public = databases
    forged = {"source": secret, "target": public, "user_ctx": {"name": "admin", "roles": ["_admin"]}}
    assert server.request("PUT", "/_replicator/forged", forged, bob)[0] == 201
    replicated = {**forged, "_id": "replicated", "_rev": "1-" + "0" * 32}
    body = {"docs": [replicated], "new_edits": False}
    status, rows = server.request("POST", "/_replicator/_bulk_docs", body, bob)
    assert status == 201 and rows == []
    for doc_id in ("forged", "replicated"):
        doc = _settled(server, doc_id)
        assert doc["user_ctx"] == {"name": bob[0], "roles": [ROLE]} and doc["owner"] == bob[0]
        assert doc["_replication_state"] == "failed"
    assert _doc_count(server, public) == 0


@pytest.mark.parametrize("server", ["native"], indirect=True)
def test_a_users_job_cannot_read_the_users_database(server, users):
    bob, _ = users
    target = unique("mine")
    assert server.request("PUT", f"/{target}", None)[0] == 201
    assert server.request("PUT", f"/{target}/_security", {"members": {"names": [bob[0]]}})[0] == 200
    assert server.request("PUT", "/_replicator/users", {"source": "_users", "target": target}, bob)[0] == 201
    assert _settled(server, "users")["_replication_state"] == "failed"
    assert _doc_count(server, target) == 0


def test_replication_documents_are_their_owners(server, users):
    """The same requests to browsercouch and CouchDB get the same answers."""
    (bob, carol), doc_id = users, unique("rep")
    spec = {"source": f"http://{bob[0]}:{bob[1]}@127.0.0.1:9/src",
            "target": {"url": f"{NOWHERE}/dst", "headers": {"Authorization": "Basic Ym9iOnB3"}}}
    status, written = server.request("PUT", f"/_replicator/{doc_id}", spec, bob)
    assert status == 201
    assert server.request("GET", f"/_replicator/{doc_id}", user=bob)[1]["owner"] == bob[0]
    status, seen = server.request("GET", f"/_replicator/{doc_id}", user=carol)
    assert status == 200 and seen["owner"] == bob[0] and seen["_rev"] != written["rev"]
    assert seen["source"] == f"{NOWHERE}/src" and seen["target"] == {"url": f"{NOWHERE}/dst"}
    assert server.request("GET", f"/_replicator/{doc_id}")[1]["source"] == spec["source"]
    others = (403, "forbidden", "Can't update replication documents from other users.")
    assert server.error("PUT", f"/_replicator/{unique('rep')}", {**spec, "owner": bob[0]}, carol) == others
    assert server.error("PUT", f"/_replicator/{doc_id}", {**seen, "owner": bob[0]}, carol) == others
    for listing in ("/_replicator/_all_docs", "/_replicator/_changes", "/_scheduler/docs"):
        assert server.error("GET", listing, user=carol) == \
            (401, "unauthorized", "You are not a server admin.")
    assert server.request("DELETE", f"/_replicator/{doc_id}?rev={written['rev']}", user=bob)[0] == 200


@pytest.mark.parametrize("server", ["native"], indirect=True)
def test_nobody_else_changes_or_deletes_a_users_document(server, users):
    """Even knowing the real revision (CouchDB lets a user who does overwrite the document and take it)."""
    bob, carol = users
    spec = {"source": f"{NOWHERE}/a", "target": "x"}
    rev = server.request("PUT", "/_replicator/bobs-own", spec, bob)[1]["rev"]
    others = (403, "forbidden", "Can't update replication documents from other users.")
    taken = {"_rev": rev, "source": f"{NOWHERE}/a", "target": "mine"}
    assert server.error("PUT", "/_replicator/bobs-own", taken, carol) == others
    assert server.error("DELETE", f"/_replicator/bobs-own?rev={rev}", user=carol) == others
    assert server.request("DELETE", f"/_replicator/bobs-own?rev={rev}", user=bob)[0] == 200
