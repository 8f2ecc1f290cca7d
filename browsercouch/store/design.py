"""Design documents: their shape, checked on every write, and their views read as one index.

``validate`` is ``couch_mrview:validate/2``: the type of each member CouchDB knows (its messages, word
for word), a map function in every view, and, when a JavaScript engine is there, every map and reduce
function compiled once (``couch_query_servers:try_compile/4``). ``ViewGroup`` is
``couch_mrview_util:ddoc_to_mrst/2``: views that share a map function share its rows, and the index's
signature is CouchDB's (``couchdb_signature``), so it changes exactly when the functions, the language,
the ``options`` or ``views.lib`` change.
"""

import hashlib
import json

from ..errors import InvalidDesignDoc
from .erlang_terms import Atom, term_to_binary
from .mango import raw_key

__all__ = ["validate", "ViewGroup", "BUILTIN_REDUCES"]

BUILTIN_REDUCES = ("_sum", "_count", "_stats", "_approx_count_distinct")

# couch_mrview:validate_ddoc_fields/1: a path of (member, type) pairs; "*" is any member.
_FIELDS = (
    (("filters", "object"), ("*", ("object", "string"))),
    (("language", "string"),),
    (("lists", "object"), ("*", ("object", "string"))),
    (("options", "object"),),
    (("options", "object"), ("include_design", "boolean")),
    (("options", "object"), ("local_seq", "boolean")),
    (("options", "object"), ("partitioned", "boolean")),
    (("rewrites", ("string", "array")),),
    (("shows", "object"), ("*", ("object", "string"))),
    (("updates", "object"), ("*", ("object", "string"))),
    (("validate_doc_update", "string"),),
    (("views", "object"), ("lib", "object")),
    (("views", "object"), ("*", "object"), ("map", "MAP")),
    (("views", "object"), ("*", "object"), ("reduce", "string")),
)
_CHECKS = {
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
}


def _fits(value, types):
    return any(_CHECKS[t](value) for t in (types if isinstance(types, tuple) else (types,)))


def _check_path(node, path, trail):
    """Raise ``invalid_design_doc`` where ``node`` breaks ``path`` (``validate_ddoc_fields/3``)."""
    if not path or not isinstance(node, dict):
        return
    (key, types), rest = path[0], path[1:]
    for name in (node if key == "*" else (key,)):
        if name not in node:
            continue
        if not _fits(node[name], types):
            # couch_mrview:join/3 lists the types last first.
            shown = " or ".join(reversed(types)) if isinstance(types, tuple) else types
            raise InvalidDesignDoc(f"`{'.'.join(trail + [name])}` field must have {shown} type")
        _check_path(node[name], rest, trail + [name])


def _check_shape(body):
    map_type = "object" if body.get("language") == "query" else "string"
    for path in _FIELDS:
        _check_path(body, tuple((k, map_type if t == "MAP" else t) for k, t in path), [])
    views = body.get("views") or {}
    for name, view in views.items():
        if name != "lib" and "map" not in view:
            raise InvalidDesignDoc(f"View `{name}` must contain map function")


def validate(body, query_server=None):
    """Raise ``InvalidDesignDoc`` or ``CompilationError`` for a design document CouchDB would refuse."""
    _check_shape(body)
    group = ViewGroup("", body)
    for view in group.views:
        for reduce in view.reduces:
            if reduce and reduce.startswith("_") and not reduce.startswith(BUILTIN_REDUCES):
                raise InvalidDesignDoc(f"`{reduce}` is not a supported reduce function.")
    if query_server is None or group.language != "javascript":
        return
    for view in group.views:
        query_server.try_compile("map", view.names[0], view.map)
        for name, reduce in zip(view.names, view.reduces, strict=True):
            if reduce and not reduce.startswith("_"):
                query_server.try_compile("reduce", name, reduce)


class View:
    """The views of one design document that share a map function: one set of rows."""

    def __init__(self, number, map_source):
        self.number, self.map = number, map_source
        self.names, self.reduces = [], []


class ViewGroup:
    """The index of one design document's views (``#mrst{}``)."""

    def __init__(self, ddoc_id, body):
        self.ddoc_id = ddoc_id
        self.language = body.get("language", "javascript")
        options = body.get("options")
        self.options = options if isinstance(options, dict) else {}
        views = body.get("views")
        views = views if isinstance(views, dict) else {}
        lib = views.get("lib")
        self.lib = lib if isinstance(lib, dict) else None
        self.views, self._by_name, by_map = [], {}, {}
        for name in sorted(views):
            spec = views[name]
            if name == "lib" or not isinstance(spec, dict) or "map" not in spec:
                continue
            # A query view's map is an object whose ``fields`` order is the key's order: kept as text.
            key = spec["map"] if isinstance(spec["map"], str) else json.dumps(spec["map"], ensure_ascii=False)
            view = by_map.get(key)
            if view is None:
                view = by_map[key] = View(len(self.views), spec["map"])
                self.views.append(view)
            view.names.append(name)
            reduce = spec.get("reduce")
            view.reduces.append(reduce if isinstance(reduce, str) else None)
            self._by_name[name] = (view, reduce if isinstance(reduce, str) else None)
        self.signature = couchdb_signature(body)

    def view(self, name):
        """``(View, reduce_source_or_None)`` of the view ``name``, or ``None``."""
        return self._by_name.get(name)


def couchdb_signature(body):
    """The signature CouchDB gives a design document's index (``couch_mrview_util:ddoc_to_mrst/2``): the
    MD5 of the Erlang term ``{Views, Language, DesignOpts, sort_lib(Lib)}``, where ``Views`` are
    ``#mrview{}`` records, one per distinct map function and view options, in Erlang term order of
    those, each naming its map-only views and its reduces (both in reverse document order)."""
    views = body.get("views") if isinstance(body.get("views"), dict) else {}
    by_source = {}
    for name, spec in views.items():
        if not isinstance(spec, dict) or "map" not in spec:
            continue
        options = spec.get("options") if isinstance(spec.get("options"), dict) else {}
        source = by_source.setdefault(json.dumps([spec["map"], options], ensure_ascii=False),
                                      (spec["map"], options, [], []))
        if spec.get("reduce") is None:
            source[2].insert(0, name)
        else:
            source[3].insert(0, (name, spec["reduce"]))
    ordered = sorted(by_source.values(), key=lambda source: (raw_key(source[0]), raw_key(source[1])))
    records = [(Atom("mrview"), number, 0, 0, map_names, reduces, map_source, Atom("nil"),
                list(view_options.items()))
               for number, (map_source, view_options, map_names, reduces) in enumerate(ordered)]
    options = body.get("options") if isinstance(body.get("options"), dict) else {}
    lib = views.get("lib") if isinstance(views.get("lib"), dict) else {}
    term = (records, body.get("language", "javascript"), list(options.items()), _sorted_lib(lib))
    return hashlib.md5(b"\x83" + term_to_binary(term)).hexdigest()


def _sorted_lib(lib):
    """``couch_index_util:sort_lib/1``: members by name, objects within made plain lists."""
    members = [(name, _sorted_lib(code) if isinstance(code, dict) else code) for name, code in lib.items()]
    return sorted(members, key=lambda member: member[0])
