"""``_security``, ``_session`` and who may do what: a user of ``_users`` as a member, cookies, Basic.

These need a server with admins, so they run against the native server only (the tab on loopback is
an admin party). The user is ``u-{db}``, unique per run; the scenario deletes it at the end."""

from ..steps import ANONYMOUS, Scenario, step

get, put, post, delete = map(step, ("GET", "PUT", "POST", "DELETE"))

USER = "u-{db}"
USER_AUTH = USER + ":secret"
USER_DOC = "/_users/org.couchdb.user:" + USER
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

SCENARIOS = [
    Scenario("security", needs_admins=True, setup=[put("users-db", "/_users")], steps=[
        get("default", "/{db}/_security"),
        get("anonymous-db", "/{db}", auth=ANONYMOUS),
        get("anonymous-doc", "/{db}/doc", auth=ANONYMOUS),
        put("create-user", USER_DOC,
            {"name": USER, "type": "user", "roles": ["reader"], "password": "secret"}, save={"u1": "rev"}),
        get("read-user", USER_DOC),
        get("user-denied", "/{db}", auth=USER_AUTH),
        get("wrong-password", "/{db}", auth=USER + ":wrong"),
        put("grant", "/{db}/_security", {"members": {"names": [USER], "roles": []},
                                         "admins": {"names": [], "roles": []}}),
        get("granted", "/{db}/_security"),
        get("member-db", "/{db}", auth=USER_AUTH),
        get("member-security", "/{db}/_security", auth=USER_AUTH),
        put("member-security-write", "/{db}/_security", {}, auth=USER_AUTH),
        put("member-doc", "/{db}/doc", {"by": "member"}, auth=USER_AUTH),
        put("member-design-doc", "/{db}/_design/d", {}, auth=USER_AUTH),
        get("member-all-dbs", "/_all_dbs", auth=USER_AUTH),
        put("member-create-db", "/{db}-other", auth=USER_AUTH),
        get("anonymous-still-denied", "/{db}", auth=ANONYMOUS),
        put("grant-role", "/{db}/_security", {"members": {"roles": ["reader"]}}),
        get("role-member-db", "/{db}", auth=USER_AUTH),
        put("public", "/{db}/_security", {}),
        get("public-read", "/{db}", auth=ANONYMOUS),
        put("public-write", "/{db}/doc2", {"by": "anyone"}, auth=ANONYMOUS),
        put("public-design-write", "/{db}/_design/d", {}, auth=ANONYMOUS),
        put("bad-admins-list", "/{db}/_security", {"admins": []}),
        put("bad-names", "/{db}/_security", {"members": {"names": "x"}}),
        put("bad-role", "/{db}/_security", {"members": {"roles": [1]}}),
        put("bad-body", "/{db}/_security", [1]),
        put("bad-json", "/{db}/_security", b"{", headers={"Content-Type": "application/json"}),
        post("post-security", "/{db}/_security", {}),
        get("anonymous-session", "/_session", auth=ANONYMOUS),
        get("anonymous-session-basic", "/_session", query={"basic": "true"}, auth=ANONYMOUS),
        get("admin-session", "/_session"),
        get("user-session-basic", "/_session", auth=USER_AUTH),
        post("login", "/_session", {"name": USER, "password": "secret"}, auth=ANONYMOUS,
             save={"cookie": "cookie:AuthSession"}),
        get("cookie-session", "/_session", headers={"Cookie": "AuthSession={cookie}"}, auth=ANONYMOUS),
        get("cookie-db", "/{db}", headers={"Cookie": "AuthSession={cookie}"}, auth=ANONYMOUS),
        post("login-form", "/_session", "name=" + USER + "&password=secret", headers=FORM, auth=ANONYMOUS),
        post("login-wrong", "/_session", {"name": USER, "password": "nope"}, auth=ANONYMOUS),
        post("login-unknown", "/_session", {"name": "nobody-{db}", "password": "x"}, auth=ANONYMOUS),
        post("login-missing-fields", "/_session", {"name": USER}, auth=ANONYMOUS),
        post("login-not-object", "/_session", [1], auth=ANONYMOUS),
        post("login-text-plain", "/_session", "name=x", headers={"Content-Type": "text/plain"},
             auth=ANONYMOUS),
        delete("logout", "/_session", headers={"Cookie": "AuthSession={cookie}"}, auth=ANONYMOUS),
        get("malformed-cookie", "/_session", headers={"Cookie": "AuthSession=garbage"}, auth=ANONYMOUS),
        get("bad-base64", "/_session", headers={"Authorization": "Basic !!!"}, auth=ANONYMOUS),
        get("other-scheme", "/_session", headers={"Authorization": "Bearer abc"}, auth=ANONYMOUS),
        get("anonymous-uuids", "/_uuids", auth=ANONYMOUS),
        get("anonymous-all-dbs", "/_all_dbs", auth=ANONYMOUS),
        get("anonymous-missing-db", "/nope-{db}", auth=ANONYMOUS),
        put("anonymous-create-db", "/{db}-anon", auth=ANONYMOUS),
        delete("delete-user", USER_DOC, query={"rev": "{u1}"}),
    ]),
]
