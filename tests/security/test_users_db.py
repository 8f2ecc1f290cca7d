"""``_users`` keeps every user to their own document, whatever its ``_security`` says (issue 12, item 3).

An admin opens ``_users`` to a role (CouchDB needs ``users_db_security_editable`` for that; browsercouch
lets an admin edit it). A user of that role then reads and writes only their own
``org.couchdb.user:NAME``, never changes its ``roles``, ``type`` or ``name``, never sees another's
``derived_key`` or ``salt``, and cannot list the database. Each case runs against browsercouch and
against Apache CouchDB 3.4.3, which must answer the same (``couch_users_db.erl`` and ``_design/_auth``).
"""

import time

import pytest
from helpers import start_browsercouch

from .peers import ADMIN, Server, open_to_role, reference_server, unique

ROLE = "staff"


@pytest.fixture(scope="module")
def native():
    server = start_browsercouch("--admin", ":".join(ADMIN))
    couch = Server("browsercouch", server.url)
    assert couch.request("PUT", "/_users")[0] == 201
    yield couch
    server.stop()


@pytest.fixture(scope="module")
def reference(couchdb):
    couch = reference_server(couchdb)
    setting = "/_node/_local/_config/couchdb/users_db_security_editable"
    assert couch.request("PUT", setting, '"true"')[0] == 200
    yield couch
    couch.request("DELETE", setting)


@pytest.fixture(params=["native", "couchdb"])
def server(request):
    couch = request.getfixturevalue("native" if request.param == "native" else "reference")
    restore = open_to_role(couch, "_users", ROLE)
    yield couch
    restore()


@pytest.fixture
def users(server):
    """Two users of the role, ``(name, password)`` each: bob, the actor, and carol, the victim."""
    bob, carol = (unique("bob"), unique("pw")), (unique("carol"), unique("pw"))
    for name, password in (bob, carol):
        server.make_user(name, password, [ROLE])
    return bob, carol


def _doc(server, name, user=ADMIN):
    status, doc = server.request("GET", f"/_users/org.couchdb.user:{name}", user=user)
    assert status == 200, doc
    return doc


def test_a_user_reads_their_own_document_only(server, users):
    bob, carol = users
    assert _doc(server, bob[0], bob)["name"] == bob[0]
    assert server.error("GET", f"/_users/org.couchdb.user:{carol[0]}", user=bob) == \
        (404, "not_found", "missing")
    for listing in ("/_users/_all_docs", "/_users/_changes", "/_users/_all_docs?include_docs=true"):
        assert server.error("GET", listing, user=bob) == (401, "unauthorized", "You are not a server admin.")


def test_a_user_cannot_make_themself_admin_or_change_their_roles(server, users):
    bob, _ = users
    doc = _doc(server, bob[0], bob)
    for roles in (["_admin"], [ROLE, "boss"], []):
        assert server.error("PUT", f"/_users/{doc['_id']}", {**doc, "roles": roles}, bob) == \
            (403, "forbidden", "Only _admin may edit roles")
    assert server.error("PUT", f"/_users/{doc['_id']}", {**doc, "type": "admin"}, bob) == \
        (403, "forbidden", "doc.type must be user")
    assert server.error("PUT", f"/_users/{doc['_id']}", {**doc, "name": "root"}, bob) == \
        (403, "forbidden", "Doc ID must be of the form org.couchdb.user:name")
    status, session = server.request("GET", "/_session", user=bob)
    assert status == 200 and session["userCtx"]["roles"] == [ROLE]


def test_a_user_cannot_write_or_delete_another_users_document(server, users):
    bob, carol = users
    victim = _doc(server, carol[0])
    stolen = {**victim, "password": "taken"}
    missing = (404, "not_found", "missing")
    assert server.error("PUT", f"/_users/{victim['_id']}", stolen, bob) == missing
    assert server.error("POST", "/_users/_bulk_docs", {"docs": [stolen]}, bob) == missing
    assert server.error("DELETE", f"/_users/{victim['_id']}?rev={victim['_rev']}", user=bob) == missing
    newcomer = unique("eve")
    assert server.error("PUT", f"/_users/org.couchdb.user:{newcomer}",
                        {"name": newcomer, "password": "x", "roles": [], "type": "user"}, bob) == missing
    assert server.request("GET", "/_session", user=carol)[0] == 200


def test_a_user_changes_their_own_password(server, users):
    bob, _ = users
    doc = _doc(server, bob[0], bob)
    assert server.request("PUT", f"/_users/{doc['_id']}", {**doc, "password": "new-secret"}, bob)[0] == 201
    # CouchDB's credentials cache follows _users a moment later; browsercouch's at once.
    deadline = time.monotonic() + 10
    while server.request("GET", "/_session", user=(bob[0], "new-secret"))[0] != 200:
        assert server.name == "couchdb" and time.monotonic() < deadline, "the new password is refused"
        time.sleep(0.2)
    assert server.error("GET", "/_session", user=bob)[:2] == (401, "unauthorized")


@pytest.mark.parametrize("server", ["native"], indirect=True)
def test_no_reader_sees_another_users_credentials(server, users):
    """``_bulk_get``, ``open_revs`` and ``COPY`` read through the same rule (CouchDB answers the first two
    with internal errors for a non-admin, so browsercouch alone here)."""
    bob, carol = users
    victim = f"org.couchdb.user:{carol[0]}"
    status, body = server.request("POST", "/_users/_bulk_get", {"docs": [{"id": victim}]}, bob)
    assert status == 200 and [list(row) for row in body["results"][0]["docs"]] == [["error"]]
    status, rows = server.request("GET", f"/_users/{victim}?open_revs=all", user=bob)
    assert status == 200 and rows and all("ok" not in row for row in rows)
    status, _ = server.request("COPY", f"/_users/{victim}", user=bob, headers={"Destination": "copied"})
    assert status == 404


def test_find_shows_no_reader_another_users_credentials(server, users):
    """``_find`` reads every document: a user of ``_users`` must not get another's ``derived_key`` or
    ``salt`` through it (browsercouch refuses it to non-admins, as ``_all_docs``), nor make an index (a
    design document) there."""
    bob, carol = users
    status, body = server.request("POST", "/_users/_find", {"selector": {"type": "user"}}, bob)
    others = [doc for doc in (body.get("docs") or []) if doc.get("name") != bob[0]] if status == 200 else []
    assert not [doc for doc in others if "derived_key" in doc or "salt" in doc], body
    status, _ = server.request("POST", "/_users/_index", {"index": {"fields": ["name"]}, "ddoc": "mine"}, bob)
    assert status >= 400
    assert server.request("GET", "/_users/_design/mine")[0] == 404
