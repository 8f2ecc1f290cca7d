"""Authentication and authorization through the app (``api/auth.py``, ``api/app.py``): Basic, cookie
sessions, server admins, ``_users`` members, db admins and ``_security``."""

import asyncio
import re

import pytest

from browsercouch.api import auth

from .util import TEST_ITERATIONS, admins, basic, expect_error, expect_json

ADMIN = ("admin", "s3cret")
BOB = ("bob", "bobpw")  # a _users user, member of ``shared``
EVE = ("eve", "evepw")  # a _users user with no rights
DAN = ("dan", "danpw")  # a _users user, admin of ``shared`` by name


def _user_doc(name, password, roles=()):
    doc = {"_id": f"org.couchdb.user:{name}", "name": name, "type": "user", "roles": list(roles)}
    doc.update(auth.hash_password(password, iterations=TEST_ITERATIONS))
    return doc


@pytest.fixture
def secured(make_client):
    """A server with one admin, users bob, eve and dan, and a database ``shared`` whose members are bob
    (by name) and the role ``team``, and whose admins are dan."""
    client = make_client(admins=admins(**dict([ADMIN])))
    assert client.put("/_users", auth=ADMIN).status == 201
    for name, password in (BOB, EVE, DAN):
        assert client.put(f"/_users/org.couchdb.user:{name}", json=_user_doc(name, password),
                          auth=ADMIN).status == 201
    assert client.put("/shared", auth=ADMIN).status == 201
    security = {"members": {"names": ["bob"], "roles": ["team"]}, "admins": {"names": ["dan"], "roles": []}}
    assert client.put("/shared/_security", json=security, auth=ADMIN).status == 200
    return client


# -- who may do what --------------------------------------------------------------------------------


def test_anonymous_may_read_the_welcome(secured):
    assert expect_json(secured.get("/"))["couchdb"] == "Welcome"
    assert secured.get("/_up").status == 200
    assert secured.get("/_uuids").status == 200


def test_anonymous_database_access_is_401(secured):
    # CouchDB 3.x: an anonymous user on an admin-only or members-only db gets 401 unauthorized.
    for target in ("/shared", "/shared/_all_docs", "/shared/doc", "/_users"):
        expect_error(secured.get(target), 401, "unauthorized")
    expect_error(secured.put("/newdb"), 401, "unauthorized")
    expect_error(secured.get("/_all_dbs"), 401, "unauthorized")


def test_missing_databases_are_404_for_anonymous_users_too(secured):
    # CouchDB 3.4.3 (chttpd_db:do_db_req/2 opens the database before it checks the reader).
    expect_error(secured.get("/nothere"), 404, "not_found", "Database does not exist.")
    expect_error(secured.get("/nothere", auth=ADMIN), 404, "not_found", "Database does not exist.")
    expect_error(secured.get("/shared"), 401, "unauthorized")


def test_basic_auth(secured):
    assert expect_json(secured.get("/_all_dbs", auth=ADMIN)) == ["_users", "shared"]
    expect_error(secured.get("/_all_dbs", auth=("admin", "wrong")), 401, "unauthorized",
                 "Name or password is incorrect.")
    expect_error(secured.get("/", auth=("nobody", "x")), 401, "unauthorized",
                 "Name or password is incorrect.")
    expect_error(secured.get("/", headers={"Authorization": "Basic !!!"}), 400, "bad_request")


def test_member_by_name(secured):
    assert expect_json(secured.get("/shared", auth=BOB))["db_name"] == "shared"
    assert secured.put("/shared/doc", json={"v": 1}, auth=BOB).status == 201
    assert secured.get("/shared/doc", auth=BOB).json()["v"] == 1
    assert secured.get("/shared/_changes", auth=BOB).status == 200


def test_member_by_role(secured):
    secured.put("/_users/org.couchdb.user:tim", json=_user_doc("tim", "timpw", roles=["team"]), auth=ADMIN)
    assert secured.get("/shared", auth=("tim", "timpw")).status == 200


def test_non_member_is_403(secured):
    # A named user who is not a member: 403 forbidden (couch_db:check_is_member/1).
    expect_error(secured.get("/shared", auth=EVE), 403, "forbidden", "You are not allowed to access this db.")
    expect_error(secured.put("/shared/doc", json={}, auth=EVE), 403, "forbidden")


def test_named_user_is_not_a_server_admin(secured):
    # chttpd:verify_is_server_admin/1 answers 401 unauthorized, for named users too.
    expect_error(secured.put("/bobs", auth=BOB), 401, "unauthorized", "You are not a server admin.")
    expect_error(secured.delete("/shared", auth=DAN), 401, "unauthorized")
    expect_error(secured.get("/_all_dbs", auth=BOB), 401, "unauthorized")


def test_security_and_design_docs_need_a_db_admin(secured):
    security = {"members": {"names": ["bob", "eve"]}, "admins": {"names": ["dan"]}}
    expect_error(secured.put("/shared/_security", json=security, auth=BOB), 403, "forbidden",
                 "You are not a db or server admin.")
    expect_error(secured.put("/shared/_design/app", json={}, auth=BOB), 403, "forbidden")
    expect_error(secured.post("/shared", json={"_id": "_design/app"}, auth=BOB), 403, "forbidden")
    # In _bulk_docs the refusal is the document's row, and the other documents are written.
    rows = secured.post("/shared/_bulk_docs", json={"docs": [{"_id": "_design/app"}, {"_id": "plain"}]},
                        auth=BOB).json()
    assert rows[0] == {"id": "_design/app", "error": "forbidden",
                       "reason": "You are not a db or server admin."}
    assert rows[1]["ok"] is True
    # A member may read the _security object, and the db admin may change it and write design docs.
    assert secured.get("/shared/_security", auth=BOB).status == 200
    assert secured.put("/shared/_security", json=security, auth=DAN).status == 200
    assert secured.put("/shared/_design/app", json={}, auth=DAN).status == 201
    assert secured.get("/shared", auth=EVE).status == 200


def test_design_doc_delete_and_attachments_need_a_db_admin(secured):
    rev = secured.put("/shared/_design/app", json={}, auth=DAN).json()["rev"]
    expect_error(secured.delete(f"/shared/_design/app?rev={rev}", auth=BOB), 403, "forbidden")
    expect_error(secured.put(f"/shared/_design/app/f.txt?rev={rev}", body=b"x", auth=BOB), 403, "forbidden")
    expect_error(secured.request("COPY", "/shared/_design/app", headers={"Destination": "_design/b"},
                                 auth=BOB), 403, "forbidden")
    assert secured.get("/shared/_design/app", auth=BOB).status == 200


def test_public_database(secured):
    secured.put("/open", auth=ADMIN)
    secured.put("/open/_security", json={}, auth=ADMIN)
    assert secured.get("/open").status == 200
    assert secured.put("/open/doc", json={}).status == 201
    # Still only server admins create and delete databases.
    expect_error(secured.delete("/open"), 401, "unauthorized")


def test_users_db_is_admin_only_by_default(secured):
    expect_error(secured.get("/_users/org.couchdb.user:bob", auth=BOB), 403, "forbidden")


# -- cookie sessions ------------------------------------------------------------------------------------


def _cookie(response):
    value = response.header("set-cookie")
    assert value and value.startswith("AuthSession="), value
    return value.split(";")[0]


def test_session_login_use_logout(secured):
    response = secured.post("/_session", json={"name": "bob", "password": "bobpw"})
    assert expect_json(response) == {"ok": True, "name": "bob", "roles": []}
    cookie = _cookie(response)
    assert "HttpOnly" in response.header("set-cookie")
    body = expect_json(secured.get("/_session", headers={"Cookie": cookie}))
    assert body["ok"] is True and body["userCtx"] == {"name": "bob", "roles": []}
    assert body["info"]["authenticated"] == "cookie"
    assert secured.get("/shared", headers={"Cookie": cookie}).status == 200
    response = secured.delete("/_session", headers={"Cookie": cookie})
    assert expect_json(response) == {"ok": True}
    assert response.header("set-cookie").startswith("AuthSession=;")


def test_session_form_login(secured):
    response = secured.post("/_session", body=b"name=admin&password=s3cret",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert expect_json(response)["roles"] == ["_admin"]
    assert secured.get("/_all_dbs", headers={"Cookie": _cookie(response)}).status == 200


@pytest.mark.parametrize("body", [{"name": "bob", "password": "nope"}, {"name": "ghost", "password": "x"},
                                  {"name": "bob"}, {"password": "x"}, {"name": 5, "password": []}])
def test_session_bad_login_is_401(secured, body):
    response = secured.post("/_session", json=body)
    expect_error(response, 401, "unauthorized", "Name or password is incorrect.")
    # CouchDB 3.4.3 clears the session cookie on a failed login.
    assert response.header("set-cookie").startswith("AuthSession=;")


def test_session_login_content_types(secured):
    # CouchDB 3.4.3 (couch_httpd_auth:handle_session_req/2) takes a form or JSON, nothing else.
    response = secured.post("/_session", body=b"name=bob&password=bobpw",
                            headers={"Content-Type": "text/plain"})
    expect_error(response, 415, "bad_content_type",
                 "Content-Type must be 'application/x-www-form-urlencoded' or 'application/json'")


def test_session_cookie_attributes(secured):
    # CouchDB 3.4.3 (mochiweb_cookies:cookie/3): Expires beside Max-Age, in this order.
    value = secured.post("/_session", json={"name": "bob", "password": "bobpw"}).header("set-cookie")
    assert re.fullmatch(r"AuthSession=[^;]+; Version=1; Expires=\w{3}, \d\d-\w{3}-\d{4} \d\d:\d\d:\d\d GMT; "
                        r"Max-Age=600; Path=/; HttpOnly", value), value


@pytest.mark.parametrize("body", [b"[]", b"{", b'"x"'])
def test_session_bad_body_is_400(secured, body):
    response = secured.post("/_session", body=body, headers={"Content-Type": "application/json"})
    expect_error(response, 400, "bad_request")


def test_session_anonymous(secured):
    body = expect_json(secured.get("/_session"))
    assert body["ok"] is True and body["userCtx"] == {"name": None, "roles": []}
    assert "authentication_handlers" in body["info"]


def test_session_with_basic(secured):
    body = expect_json(secured.get("/_session", auth=BOB))
    assert body["userCtx"]["name"] == "bob"
    assert body["info"]["authenticated"] == "default"


def test_forged_or_garbage_cookies(secured):
    good = _cookie(secured.post("/_session", json={"name": "bob", "password": "bobpw"}))
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    # A bad MAC is ignored (anonymous); a cookie that does not decode is 400 (couch_httpd_auth).
    expect_error(secured.get("/shared", headers={"Cookie": forged}), 401, "unauthorized")
    expect_error(secured.get("/shared", headers={"Cookie": "AuthSession=%%%"}), 400, "bad_request")


def test_password_change_ends_sessions(secured):
    cookie = _cookie(secured.post("/_session", json={"name": "bob", "password": "bobpw"}))
    doc = secured.get("/_users/org.couchdb.user:bob", auth=ADMIN).json()
    new = _user_doc("bob", "newpw")
    new["_rev"] = doc["_rev"]
    secured.put("/_users/org.couchdb.user:bob", json=new, auth=ADMIN)
    expect_error(secured.get("/shared", headers={"Cookie": cookie}), 401, "unauthorized")
    assert secured.get("/shared", auth=("bob", "newpw")).status == 200


# -- admin party -----------------------------------------------------------------------------------------


def test_admin_party_everyone_is_admin(client):
    body = expect_json(client.get("/_session"))
    assert "_admin" in body["userCtx"]["roles"]
    assert client.put("/anything").status == 201
    assert client.get("/_all_dbs").status == 200


def test_basic_header_is_harmless_in_admin_party(client):
    assert client.get("/", headers={"Authorization": basic("x", "y")}).status == 200


def test_session_anonymous_has_no_authenticated_handler(secured):
    # couch_httpd_auth:handle_session_req/2 adds ``authenticated`` only when a handler named the user.
    info = secured.get("/_session").json()["info"]
    # CouchDB 3.4.3 names no authentication_db unless one is configured.
    assert info == {"authentication_handlers": ["cookie", "default"]}
    expect_error(secured.get("/_session?basic=true"), 401, "unauthorized", "Please login.")
    assert secured.get("/_session?basic=true", auth=BOB).status == 200


def test_users_doc_password_is_hashed(make_client):
    # couch_users_db:before_doc_update/3: a clear ``password`` is stored as PBKDF2 fields, never as text.
    client = make_client(admins=admins(**dict([ADMIN])), password_iterations=TEST_ITERATIONS)
    client.put("/_users", auth=ADMIN)
    doc = {"name": "sue", "type": "user", "roles": [], "password": "suepw"}
    assert client.put("/_users/org.couchdb.user:sue", json=doc, auth=ADMIN).status == 201
    stored = client.get("/_users/org.couchdb.user:sue", auth=ADMIN).json()
    assert "password" not in stored
    assert stored["password_scheme"] == "pbkdf2" and stored["derived_key"] and stored["salt"]
    assert expect_json(client.post("/_session", json={"name": "sue", "password": "suepw"}))["name"] == "sue"
    rows = client.post("/_users/_bulk_docs", json={"docs": [
        {"_id": "org.couchdb.user:ann", "name": "ann", "type": "user", "roles": [], "password": "annpw"}]},
        auth=ADMIN).json()
    assert rows[0]["ok"] is True
    assert client.get("/_session", auth=("ann", "annpw")).json()["userCtx"]["name"] == "ann"


def test_users_validation_errors_are_per_document_in_bulk_docs(make_client):
    # _users' validate_doc_update fails one document, not the request: _bulk_docs answers 201 with a
    # {"id", "error": "forbidden", "reason"} row for it (chttpd_db:update_doc_result_to_json/2).
    client = make_client(admins=admins(**dict([ADMIN])), password_iterations=TEST_ITERATIONS)
    client.put("/_users", auth=ADMIN)
    docs = [{"_id": "org.couchdb.user:ok", "name": "ok", "type": "user", "roles": [], "password": "pw"},
            {"_id": "org.couchdb.user:bad", "name": "other", "type": "user", "roles": []}]
    rows = expect_json(client.post("/_users/_bulk_docs", json={"docs": docs}, auth=ADMIN), 201)
    assert rows[0]["ok"] is True
    assert rows[1]["id"] == "org.couchdb.user:bad" and rows[1]["error"] == "forbidden"
    expect_error(client.put("/_users/org.couchdb.user:x", json={"name": "x", "type": "admin", "roles": []},
                            auth=ADMIN), 403, "forbidden")


@pytest.mark.parametrize(("iterations", "derived"), [
    (1, "0c60c80f961f0e71f3a9b524af6012062fe037a6"),  # RFC 6070's test vectors (PBKDF2-HMAC-SHA1)
    (2, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"),
    (4096, "4b007901b765489abead49d926f721d065a429c1"),
])
def test_pure_python_pbkdf2_matches_rfc_6070(iterations, derived):
    """The fallback used where ``hashlib.pbkdf2_hmac`` is missing (Pyodide)."""
    assert auth.pbkdf2_hmac_python("sha1", b"password", b"salt", iterations).hex() == derived


def test_pure_python_pbkdf2_matches_hashlib():
    hashlib = pytest.importorskip("hashlib")
    if not hasattr(hashlib, "pbkdf2_hmac"):
        pytest.skip("this hashlib has no pbkdf2_hmac (Pyodide)")
    for name, password in (("sha256", b"p" * 100), ("sha512", b"secret"), ("sha1", b"")):
        assert auth.pbkdf2_hmac_python(name, password, b"NaCl", 3) == hashlib.pbkdf2_hmac(
            name, password, b"NaCl", 3)


def test_requests_from_the_hosting_page_are_server_admin_requests():
    """``tab.entry`` connects the page's own UI with the ``browsercouch.page`` scope extension; network
    peers (any other connection) must still log in."""
    from browsercouch.api import CouchApp
    from browsercouch.api.app import PAGE_EXTENSION
    from browsercouch.http import HTTPConnection, open_app
    from browsercouch.store import Couch

    app = CouchApp(Couch(), admins=admins(admin="pw"))

    async def status(extensions):
        conn = HTTPConnection(await open_app(app, extensions=extensions))
        response = await conn.request("PUT", "/made-here")
        await conn.close()
        return response.status

    assert asyncio.run(status(None)) == 401
    assert asyncio.run(status({PAGE_EXTENSION: {}})) == 201


def test_an_admin_added_with_its_password_needs_no_key_derivation():
    """The tab derives the admin's key with WebCrypto; the first login must not run PBKDF2 again."""
    creds = auth.hash_password("s3cret", iterations=TEST_ITERATIONS)
    authenticator = auth.Authenticator()
    authenticator.add_admin("admin", {**creds, "iterations": 10**9}, password="s3cret")
    assert asyncio.run(authenticator.check_password("admin", "s3cret")).is_admin
    with pytest.raises(Exception, match="incorrect"):
        asyncio.run(auth.Authenticator(admins={"admin": creds}).check_password("admin", "wrong"))
