"""The query server of ``"language": "query"`` views: CouchDB's ``mango_native_proc``, in Python.

A Mango JSON index is a view of a ``"language": "query"`` design document whose ``map`` is
``{"fields": {...}, "partial_filter_selector": {...}}``. ``_find`` reads such indexes through their own
tables (``mango_index``); a ``_view`` query of the same view is answered as CouchDB answers it, by a view
index (``views.ViewIndex``) whose rows this module makes instead of a JavaScript engine, so it needs none
(the tab answers it too). Per ``mango_native_proc:get_index_entries/2``: a document that matches the
partial filter selector, is no design document and has every field emits one row, the array of the
fields' values as key and ``null`` as value; ``mango_native_proc`` answers any non-built-in reduce with
``null``. A map definition that is no valid index (``fields`` not an object) emits nothing, as CouchDB
drops it (``validate_index_info/1``); where CouchDB 3.4.3 crashes instead (``fields`` missing), so does
nothing here.
"""

import json

from ..errors import BadRequest
from .mango import compile_node, normalize, parse_field
from .mango_index import index_values

__all__ = ["MangoQueryServer"]


class MangoQueryServer:
    """What ``views.ViewIndex`` calls on its query server, for ``"language": "query"`` views."""

    async def map_docs(self, key, lib, sources, doc_texts):
        """Per document (JSON texts), the ``[key, value]`` pairs each map definition in ``sources``
        emits; ``key`` and ``lib`` (a JavaScript index's) mean nothing here. Async as
        ``QueryServer.map_docs`` is, though nothing here waits."""
        maps = [_compiled(source) for source in sources]
        results = []
        for text in doc_texts:
            doc = json.loads(text)
            design = str(doc.get("_id", "")).startswith("_design/")
            results.append([[] if design else _entries(doc, compiled) for compiled in maps])
        return results

    async def reduce(self, sources, kvs):
        return [None for _ in sources]

    async def rereduce(self, sources, values):
        return [None for _ in sources]


def _compiled(source):
    """``(field paths, partial filter matcher)`` of one map definition, or ``None`` if it is none."""
    fields = source.get("fields") if isinstance(source, dict) else None
    partial = source.get("partial_filter_selector") or {} if isinstance(source, dict) else None
    if not isinstance(fields, dict) or not isinstance(partial, dict):
        return None
    try:
        return [parse_field(name) for name in fields], compile_node(normalize(partial) if partial else None)
    except BadRequest:
        return None


def _entries(doc, compiled):
    if compiled is None or not compiled[1](doc):
        return []
    values = index_values(compiled[0], doc)
    return [] if values is None else [[values, None]]
