"""The routing table (``api/routes.py``), without HTTP: which handler a method and path reach."""

import pytest

from browsercouch.api import attachments, databases, documents, routes, server


@pytest.mark.parametrize("method, path, handler, params", [
    ("GET", [], server.welcome, {}),
    ("HEAD", ["_up"], server.up, {}),
    ("GET", ["db"], databases.info, {"db": "db"}),
    ("PUT", ["a/b"], databases.create, {"db": "a/b"}),
    ("GET", ["db", "_all_docs"], databases.all_docs, {"db": "db"}),
    ("GET", ["db", "doc"], documents.get, {"db": "db", "doc": "doc"}),
    ("GET", ["db", "_design", "dd"], documents.get, {"db": "db", "doc": "_design/dd"}),
    ("PUT", ["db", "_design", "dd"], documents.put, {"db": "db", "doc": "_design/dd"}),
    ("GET", ["db", "_local", "x"], documents.get_local, {"db": "db", "doc": "x"}),
    ("GET", ["db", "doc", "a", "b.txt"], attachments.get, {"db": "db", "doc": "doc", "att": "a/b.txt"}),
    ("GET", ["db", "_design", "dd", "f"], attachments.get, {"db": "db", "doc": "_design/dd", "att": "f"}),
])
def test_match(method, path, handler, params):
    access, found, got = routes.match(method, path)
    assert access is not None
    assert found is handler
    assert got == params


@pytest.mark.parametrize("method, path, allowed", [
    ("POST", [], ["GET", "HEAD"]),
    ("DELETE", ["_up"], ["GET", "HEAD"]),
    ("PUT", ["_all_dbs"], ["GET", "HEAD"]),
    ("PUT", ["_session"], ["GET", "HEAD", "POST", "DELETE"]),
    ("PUT", ["db", "_all_docs"], ["GET", "HEAD", "POST"]),
    ("DELETE", ["db", "_changes"], ["GET", "HEAD", "POST"]),
    ("GET", ["db", "_bulk_docs"], ["POST"]),
    ("PATCH", ["db", "doc"], ["GET", "HEAD", "PUT", "DELETE", "COPY"]),
])
def test_a_path_of_other_methods_is_405(method, path, allowed):
    # A literal route (``_up``, ``_all_docs``) shadows the ``{db}``/``{doc}`` patterns for every method, as
    # chttpd dispatches on the path first and answers 405 from the handler it found.
    access, found, params = routes.match(method, path)
    assert access is None and params is None
    assert sorted(found) == sorted(allowed)


def test_every_route_is_reachable():
    for methods, pattern, access, handler in routes.ROUTES:
        path = [part.strip("{}*") if part.startswith("{") else part for part in pattern]
        for method in methods:
            found = routes.match(method, path)
            assert found[1] is handler, (method, pattern)
            assert found[0] == access
