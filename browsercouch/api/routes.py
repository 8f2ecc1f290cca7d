"""Every route of the API in one table: ``(methods, path pattern, access, handler)``.

A pattern is a tuple of path segments: a literal, ``"{name}"`` for one segment, or ``"{name*}"`` for the
rest of the path joined by ``/`` (attachment names may contain slashes). Segments are percent-decoded
after splitting, so ``/a%2Fb/doc`` is database ``a/b``. Among the patterns that fit a path, the most
specific (literals before parameters, segment by segment) decide: the first of them that allows the
method wins, and if none does the answer is 405, as CouchDB's.

Access levels say who may call the route, checked before the handler runs (``app.py``):
``PUBLIC`` anyone, ``SERVER_ADMIN`` server admins, ``MEMBER`` readers of the database ``{db}``,
``DB_ADMIN`` its admins, ``CREATE`` server admins creating ``{db}``.

CouchDB endpoints browsercouch does not have are routed too (``UNSUPPORTED``, after the ones it has),
with CouchDB's methods and access levels, to ``missing(feature)``: 501 ``not_implemented`` naming the
feature, as CouchDB answers for one it lacks, rather than a document or database that is not there.
"""

import functools

from ..errors import NotImplementedFeature
from . import attachments, changes, databases, documents, find, replication, server, views

__all__ = ["ROUTES", "match", "PUBLIC", "SERVER_ADMIN", "MEMBER", "DB_ADMIN", "CREATE"]

PUBLIC, SERVER_ADMIN, MEMBER, DB_ADMIN, CREATE = "public", "server_admin", "member", "db_admin", "create"

GET = ("GET", "HEAD")
ANY = ("GET", "HEAD", "PUT", "POST", "DELETE", "COPY")


def missing(feature, note=""):
    """The handler of an endpoint of a feature browsercouch does not have: 501 naming ``feature``. A
    design document's function is looked for in it first, as CouchDB does: 404 if the document is not
    there."""

    async def not_implemented(request):
        doc_id = request.params.get("doc", "")
        if doc_id.startswith("_design/"):
            request.db.get(doc_id)
        raise NotImplementedFeature(f"{feature} is not implemented in browsercouch yet{note}")

    return not_implemented


SEARCH = missing("Full-text search (_search, _nouveau)")
PURGE = missing("Purging (_purge, _purged_infos)")
MULTI_QUERY = missing("Several queries in one request (queries)")
NODE = missing("The node API (/_node/{node}/...: _config, _stats, _system, _versions, ...)")
FAUXTON = missing("Fauxton (/_utils)", "; its own web app is served by `browsercouch web`")

UNSUPPORTED = [
    ((*GET, "POST"), ("{db}", "_design", "{ddoc}", "_show", "{show*}"), MEMBER,
     missing("Show functions (_show)")),
    ((*GET, "POST"), ("{db}", "_design", "{ddoc}", "_list", "{list*}"), MEMBER,
     missing("List functions (_list)")),
    (("PUT", "POST"), ("{db}", "_design", "{ddoc}", "_update", "{update*}"), MEMBER,
     missing("Update functions (_update)")),
    (ANY, ("{db}", "_design", "{ddoc}", "_rewrite", "{path*}"), MEMBER, missing("Rewrites (_rewrite)")),
    ((*GET, "POST"), ("{db}", "_design", "{ddoc}", "_search", "{index*}"), MEMBER, SEARCH),
    (GET, ("{db}", "_design", "{ddoc}", "_search_info", "{index*}"), MEMBER, SEARCH),
    ((*GET, "POST"), ("{db}", "_design", "{ddoc}", "_nouveau", "{index*}"), MEMBER, SEARCH),
    (GET, ("{db}", "_design", "{ddoc}", "_nouveau_info", "{index*}"), MEMBER, SEARCH),
    (("POST",), ("{db}", "_purge"), DB_ADMIN, PURGE),
    (GET, ("{db}", "_purged_infos"), MEMBER, PURGE),
    ((*GET, "PUT"), ("{db}", "_purged_infos_limit"), MEMBER, PURGE),
    (ANY, ("{db}", "_partition", "{partition*}"), MEMBER, missing("Partitioned databases (_partition)")),
    (GET, ("{db}", "_shards"), MEMBER, missing("Database shards (_shards)")),
    (GET, ("{db}", "_shards", "{doc}"), MEMBER, missing("Database shards (_shards)")),
    (("POST",), ("{db}", "_sync_shards"), DB_ADMIN, missing("Database shards (_sync_shards)")),
    (("POST",), ("{db}", "_all_docs", "queries"), MEMBER, MULTI_QUERY),
    (("POST",), ("{db}", "_design_docs", "queries"), MEMBER, MULTI_QUERY),
    (("POST",), ("{db}", "_local_docs", "queries"), MEMBER, MULTI_QUERY),
    (GET, ("_utils",), PUBLIC, FAUXTON),
    (GET, ("_utils", "{path*}"), PUBLIC, FAUXTON),
    (ANY, ("_node", "{node}"), SERVER_ADMIN, NODE),
    (ANY, ("_node", "{node}", "{path*}"), SERVER_ADMIN, NODE),
    (GET, ("_membership",), SERVER_ADMIN, missing("Cluster membership (_membership)")),
    ((*GET, "POST"), ("_cluster_setup",), SERVER_ADMIN, missing("Cluster set-up (_cluster_setup)")),
    ((*GET, "POST"), ("_db_updates",), SERVER_ADMIN, missing("The database updates feed (_db_updates)")),
    (ANY, ("_reshard",), SERVER_ADMIN, missing("Resharding (_reshard)")),
    (ANY, ("_reshard", "{path*}"), SERVER_ADMIN, missing("Resharding (_reshard)")),
    (("POST",), ("_search_analyze",), PUBLIC, SEARCH),
    (("POST",), ("_nouveau_analyze",), PUBLIC, SEARCH),
]
ROUTES = [
    (GET, (), PUBLIC, server.welcome),
    (GET, ("_up",), PUBLIC, server.up),
    (GET, ("_uuids",), PUBLIC, server.uuids),
    (GET, ("_all_dbs",), SERVER_ADMIN, server.all_dbs),
    ((*GET, "POST"), ("_dbs_info",), SERVER_ADMIN, server.dbs_info),
    (GET, ("_active_tasks",), SERVER_ADMIN, replication.active_tasks),
    (("POST",), ("_replicate",), SERVER_ADMIN, replication.replicate),
    (GET, ("_scheduler", "jobs"), SERVER_ADMIN, replication.scheduler_jobs),
    (GET, ("_scheduler", "docs"), SERVER_ADMIN, replication.scheduler_docs),
    (GET, ("_scheduler", "docs", "_replicator", "{doc}"), SERVER_ADMIN, replication.scheduler_doc),
    (GET, ("_session",), PUBLIC, server.get_session),
    (("POST",), ("_session",), PUBLIC, server.post_session),
    (("DELETE",), ("_session",), PUBLIC, server.delete_session),
    (GET, ("{db}",), MEMBER, databases.info),
    (("PUT",), ("{db}",), CREATE, databases.create),
    (("DELETE",), ("{db}",), SERVER_ADMIN, databases.delete),
    (("POST",), ("{db}",), MEMBER, documents.post),
    (GET, ("{db}", "_all_docs"), MEMBER, databases.all_docs),
    (("POST",), ("{db}", "_all_docs"), MEMBER, databases.all_docs),
    (GET, ("{db}", "_design_docs"), MEMBER, databases.design_docs),
    (("POST",), ("{db}", "_design_docs"), MEMBER, databases.design_docs),
    (GET, ("{db}", "_local_docs"), MEMBER, databases.local_docs),
    (GET, ("{db}", "_changes"), MEMBER, changes.changes),
    (("POST",), ("{db}", "_changes"), MEMBER, changes.changes),
    (("POST",), ("{db}", "_bulk_docs"), MEMBER, documents.bulk_docs),
    (("POST",), ("{db}", "_bulk_get"), MEMBER, documents.bulk_get),
    (("POST",), ("{db}", "_revs_diff"), MEMBER, documents.revs_diff),
    (("POST",), ("{db}", "_find"), MEMBER, find.find),
    (("POST",), ("{db}", "_explain"), MEMBER, find.explain),
    (GET, ("{db}", "_index"), MEMBER, find.list_indexes),
    (("POST",), ("{db}", "_index"), DB_ADMIN, find.create_index),
    (("POST",), ("{db}", "_index", "_bulk_delete"), DB_ADMIN, find.bulk_delete),
    (("DELETE",), ("{db}", "_index", "{index*}"), DB_ADMIN, find.delete_index),
    (("POST",), ("{db}", "_missing_revs"), MEMBER, documents.missing_revs),
    (GET, ("{db}", "_revs_limit"), MEMBER, databases.get_revs_limit),
    (("PUT",), ("{db}", "_revs_limit"), DB_ADMIN, databases.put_revs_limit),
    (GET, ("{db}", "_security"), MEMBER, databases.get_security),
    (("PUT",), ("{db}", "_security"), DB_ADMIN, databases.put_security),
    (("POST",), ("{db}", "_compact"), DB_ADMIN, databases.compact),
    (("POST",), ("{db}", "_view_cleanup"), DB_ADMIN, views.view_cleanup),
    (("POST",), ("{db}", "_ensure_full_commit"), MEMBER, databases.ensure_full_commit),
    (GET, ("{db}", "_local", "{doc}"), MEMBER, documents.get_local),
    (ANY, ("{db}", "_local", "{doc}", "{att*}"), MEMBER, databases.refuse_local_attachment),
    (("PUT",), ("{db}", "_local", "{doc}"), MEMBER, documents.put_local),
    (("DELETE",), ("{db}", "_local", "{doc}"), MEMBER, documents.delete_local),
    (("COPY",), ("{db}", "_local", "{doc}"), MEMBER, documents.copy_local),
    (GET, ("{db}", "_design", "{ddoc}"), MEMBER, documents.get),
    (("PUT",), ("{db}", "_design", "{ddoc}"), DB_ADMIN, documents.put),
    (("DELETE",), ("{db}", "_design", "{ddoc}"), DB_ADMIN, documents.delete),
    (("COPY",), ("{db}", "_design", "{ddoc}"), DB_ADMIN, documents.copy),
    ((*GET, "POST"), ("{db}", "_design", "{ddoc}", "_view", "{view}"), MEMBER, views.view),
    (("POST",), ("{db}", "_design", "{ddoc}", "_view", "{view}", "queries"), MEMBER, views.view_queries),
    (GET, ("{db}", "_design", "{ddoc}", "_info"), MEMBER, views.design_info),
    (GET, ("{db}", "_design", "{ddoc}", "{att*}"), MEMBER, attachments.get),
    (("PUT",), ("{db}", "_design", "{ddoc}", "{att*}"), DB_ADMIN, attachments.put),
    (("DELETE",), ("{db}", "_design", "{ddoc}", "{att*}"), DB_ADMIN, attachments.delete),
    (GET, ("{db}", "{doc}"), MEMBER, documents.get),
    (("PUT",), ("{db}", "{doc}"), MEMBER, documents.put),
    (("DELETE",), ("{db}", "{doc}"), MEMBER, documents.delete),
    (("COPY",), ("{db}", "{doc}"), MEMBER, documents.copy),
    (GET, ("{db}", "{doc}", "{att*}"), MEMBER, attachments.get),
    (("PUT",), ("{db}", "{doc}", "{att*}"), MEMBER, attachments.put),
    (("DELETE",), ("{db}", "{doc}", "{att*}"), MEMBER, attachments.delete),
    *UNSUPPORTED,
]



def _match_pattern(pattern, segments):
    """The parameters if ``segments`` fit ``pattern``, else ``None``."""
    params = {}
    for i, part in enumerate(pattern):
        if part.endswith("*}"):
            rest = segments[i:]
            if not rest:
                return None
            params[part[1:-2]] = "/".join(rest)
            return params
        if i >= len(segments):
            return None
        if part.startswith("{"):
            params[part[1:-1]] = segments[i]
        elif part != segments[i]:
            return None
    return params if len(segments) == len(pattern) else None


def _specificity(pattern):
    """Literal segments outrank parameters, position by position: ``("_up",)`` beats ``("{db}",)``."""
    return tuple(not part.startswith("{") for part in pattern)


def match(method, segments):
    """``(access, handler, params)`` for a request, or ``(None, allowed_methods, None)`` when the path
    exists only for other methods, or ``(None, None, None)`` when no route has this path.

    Only the most specific patterns that fit the path count, so ``DELETE /_up`` is 405 rather than
    deleting a database ``_up``, and ``PUT /db/_all_docs`` is 405 rather than a document write; chttpd
    also picks the handler by path first and answers 405 from there.
    """
    allowed = []
    for index in _candidates(_shape(segments)):
        methods, pattern, access, handler = ROUTES[index]
        if method in methods:
            params = _match_pattern(pattern, segments)
            if "ddoc" in params:
                params["doc"] = "_design/" + params.pop("ddoc")
            return access, handler, params
        allowed.extend(m for m in methods if m not in allowed)
    return None, (allowed or None), None


# The literal segments any pattern has at each position: a path's other segments can only fill
# parameters, so paths that agree on these literals match the same routes (see ``_shape``).
_LITERALS = {}
for _route in ROUTES:
    for _position, _part in enumerate(_route[1]):
        if not _part.startswith("{"):
            _LITERALS.setdefault(_position, set()).add(_part)
# Stands for a segment that is no pattern's literal at its position: it fits parameters only.
_ANY = "\0"


def _shape(segments):
    return tuple(part if part in _LITERALS.get(i, ()) else _ANY for i, part in enumerate(segments))


@functools.lru_cache(maxsize=4096)
def _candidates(shape):
    """The positions in ``ROUTES`` of the most specific routes that fit paths of this shape, in table
    order. Every request used to try all ~50 patterns; a handful of shapes cover real traffic."""
    best, candidates = None, []
    for index, (_, pattern, _, _) in enumerate(ROUTES):
        if _match_pattern(pattern, shape) is None:
            continue
        rank = _specificity(pattern)
        if best is None or rank > best:
            best, candidates = rank, []
        if rank == best:
            candidates.append(index)
    return tuple(candidates)
