"""CORS (``api/cors.py``): off by default; for configured origins, preflights and response headers as
CouchDB's ``[cors]`` section with ``credentials = true``."""

import pytest

ORIGIN = "http://app.example"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "PUT",
             "Access-Control-Request-Headers": "Content-Type, X-Custom"}


def test_off_by_default(client):
    response = client.get("/", headers={"Origin": ORIGIN})
    assert response.status == 200
    assert response.header("access-control-allow-origin") is None
    response = client.request("OPTIONS", "/", headers=PREFLIGHT)
    assert response.header("access-control-allow-origin") is None


@pytest.fixture
def cors_client(make_client):
    return make_client(cors_origins=[ORIGIN])


def test_preflight(cors_client):
    response = cors_client.request("OPTIONS", "/somedb/doc", headers=PREFLIGHT)
    assert response.status == 200
    assert response.header("access-control-allow-origin") == ORIGIN
    assert response.header("access-control-allow-credentials") == "true"
    assert "PUT" in response.header("access-control-allow-methods")
    allowed = response.header("access-control-allow-headers").lower()
    assert "content-type" in allowed and "x-custom" in allowed and "authorization" in allowed
    assert response.header("access-control-max-age")


def test_simple_request_gets_cors_headers(cors_client):
    response = cors_client.get("/", headers={"Origin": ORIGIN})
    assert response.header("access-control-allow-origin") == ORIGIN
    assert response.header("access-control-allow-credentials") == "true"
    assert "etag" in response.header("access-control-expose-headers").lower()


def test_errors_get_cors_headers_too(cors_client):
    # A browser script must be able to read a 404's JSON, so error answers carry the headers as well.
    response = cors_client.get("/nope", headers={"Origin": ORIGIN})
    assert response.status == 404
    assert response.header("access-control-allow-origin") == ORIGIN


def test_other_origin_is_not_allowed(cors_client):
    response = cors_client.get("/", headers={"Origin": "http://evil.example"})
    assert response.header("access-control-allow-origin") is None
    response = cors_client.request("OPTIONS", "/", headers={**PREFLIGHT, "Origin": "http://evil.example"})
    assert response.header("access-control-allow-origin") is None


def test_wildcard_echoes_the_origin(make_client):
    # With credentials a literal "*" is not allowed by browsers; CouchDB echoes the request's origin.
    client = make_client(cors_origins=["*"])
    for origin in ("http://a.example", "null"):
        response = client.request("OPTIONS", "/", headers={**PREFLIGHT, "Origin": origin})
        assert response.header("access-control-allow-origin") == origin
        assert client.get("/", headers={"Origin": origin}).header("access-control-allow-origin") == origin


def test_preflight_needs_no_credentials(make_client):
    from .util import admins
    client = make_client(admins=admins(admin="pw"), cors_origins=[ORIGIN])
    response = client.request("OPTIONS", "/private/_all_docs", headers=PREFLIGHT)
    assert response.status == 200
    assert response.header("access-control-allow-origin") == ORIGIN


def test_options_without_preflight_headers(cors_client):
    response = cors_client.request("OPTIONS", "/", headers={"Origin": ORIGIN})
    assert response.status == 405
    assert response.json()["error"] == "method_not_allowed"
