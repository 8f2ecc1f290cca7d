"""The storage layer: databases, revision trees, attachments, changes and ``_local`` documents.

No network and no threads here: SQLite through the stdlib ``sqlite3`` module (a file, or ``:memory:``),
so the same code runs on CPython and in Pyodide. ``Couch`` is the set of databases of one server;
``Database`` holds the document rules; ``revtree`` is the pure revision-tree algebra; ``encodings``
says how attachments are stored compressed, as CouchDB stores them; ``views`` keeps map/reduce indexes
and ``reduce`` computes their reductions.
"""

from . import encodings, reduce, revtree, views
from .changes import FeedEnd
from .couch import Couch, validate_db_name
from .database import ChangeRow, Database
from .documents import canonical_json, compact_json

__all__ = ["Couch", "Database", "ChangeRow", "FeedEnd", "revtree", "encodings", "validate_db_name",
           "canonical_json", "compact_json", "views", "reduce"]
