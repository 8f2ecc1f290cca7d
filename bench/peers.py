"""Apache CouchDB 3.4.3 as a benchmark column: started from ``../shared/couchdb`` by ``tests/helpers.py``,
with one shard per database (``q=1``) or CouchDB 3's default two.

browsercouch on loopback without ``--admin`` is an admin party and checks no credentials; CouchDB 3 has no
admin party. So the benchmarks create CouchDB's databases as its admin and then open them to anonymous
clients (an empty ``_security``): neither server checks a password per request, and the PouchDB scripts
in ``tests/node``, which take plain loopback URLs only, reach both the same way.
"""

import time

import helpers

# CouchDB's own words for "no admins, no members": anyone may read and write documents.
PUBLIC_SECURITY = {"admins": {"names": [], "roles": []}, "members": {"names": [], "roles": []}}
# A replication through CouchDB's POST /_replicate answers when it is done; a bound on how long that is.
REPLICATE_TIMEOUT = 900
# (column name, shard count) of the CouchDB columns.
COUCHDB_COLUMNS = (("CouchDB q=1", 1), ("CouchDB q=2", 2))


def is_couchdb(server):
    return isinstance(server, helpers.CouchDBProcess)


def new_db(server, prefix):
    """A fresh database on ``server`` (a ``ServerProcess`` or a ``CouchDBProcess``); its URL without
    credentials, which anonymous clients may read and write."""
    url = helpers.new_db(server.url, prefix)
    if not is_couchdb(server):
        return url
    status, _, body = helpers.http("PUT", url + "/_security", PUBLIC_SECURITY)
    if status != 200:
        raise AssertionError(f"PUT {url}/_security answered {status}: {body!r}")
    return server.plain_url + url.rsplit("/", 1)[1]


def admin_url(server, db_url):
    """``db_url`` (on ``server``) with the admin's credentials in it where the server needs them."""
    return server.url + db_url.rsplit("/", 1)[1] if is_couchdb(server) else db_url


def start_couchdb(workdir, q):
    """CouchDB with ``q`` shards per new database, its state in a fresh folder under ``workdir``."""
    return helpers.start_couchdb(workdir / f"couchdb-q{q}-{time.monotonic_ns()}", q=q)


def couchdb_replicate(couch, source, target):
    """Replicate with CouchDB's own replicator (``POST /_replicate`` on ``couch``, which answers when it is
    done); ``source`` and ``target`` are URLs (CouchDB 3 takes no local names), the target an existing
    database (``create_target`` would need credentials in its URL, which anonymous peers do not have).
    Returns ``(docs_written, seconds)``; raises ``RuntimeError`` with CouchDB's answer when it fails."""
    body = {"source": source, "target": target}
    started = time.perf_counter()
    status, _, answer = helpers.http("POST", couch.url + "_replicate", body, timeout=REPLICATE_TIMEOUT)
    seconds = time.perf_counter() - started
    if status != 200 or not isinstance(answer, dict) or not answer.get("ok"):
        raise RuntimeError(f"CouchDB's POST /_replicate answered {status}: {str(answer)[:3000]}")
    return answer["history"][0]["docs_written"], seconds
