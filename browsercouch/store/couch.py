"""The set of databases of one server, and the server's own settings.

A server keeps its databases in a data directory, one SQLite file each (``<name>.couch``, with ``/`` in
names written as ``%2F``), and its settings (uuid, hashed admins, the cookie secret) in
``_config.json`` beside them. ``data_dir=None`` keeps everything in memory.

Whoever reads those files can forge a session cookie or read every document, so they are the owner's
alone: the directory 0700, its files 0600 (SQLite gives a database's WAL and shared-memory files the
database file's mode), whatever the umask, and tightened when an older version left them open.
"""

import functools
import json
import os
import re
import secrets
import stat
import uuid

from ..errors import FileExists, IllegalDatabaseName, NotFound
from .database import DEFAULT_MAX_DOCUMENT_SIZE, Database
from .query_server import QueryServer
from .sqlite import Storage

__all__ = ["Couch", "validate_db_name"]

# couch_db:validate_dbname/1: a lowercase letter, then lowercase letters, digits and _$()+-/. Used with
# fullmatch(): with match(), "$" would also accept a name that ends in a newline.
DB_NAME_RE = re.compile(r"^[a-z][a-z0-9_$()+/-]*$")
SYSTEM_DBS = frozenset({"_users", "_replicator", "_global_changes"})
# CouchDB refuses names longer than this (the file name must fit 255 bytes with its suffix).
MAX_DB_NAME_LENGTH = 238
DB_SUFFIX = ".couch"
CONFIG_FILE = "_config.json"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# CouchDB 3.x gives every new database this _security ([couchdb] default_security = admin_only): only
# admins until someone grants access. Replication's create_target goes through here too.
ADMIN_ONLY_SECURITY = {"members": {"roles": ["_admin"]}, "admins": {"roles": ["_admin"]}}


def validate_db_name(name):
    """Raise ``illegal_database_name`` (400) unless ``name`` is a valid database name."""
    if name in SYSTEM_DBS:
        return
    if not isinstance(name, str) or len(name) > MAX_DB_NAME_LENGTH or not DB_NAME_RE.fullmatch(name):
        raise IllegalDatabaseName(
            f"Name: '{name}'. Only lowercase characters (a-z), digits (0-9), and any of the characters "
            "_, $, (, ), +, -, and / are allowed. Must begin with a letter.")


# The longest name of a database's files, its SQLite WAL's included, on file systems of 255-byte names.
MAX_FILE_NAME = 255 - len("-wal")


def _file_name(name):
    """The file of database ``name``: "/" as "%2F", or as "," where that would not fit (a 238-character
    name may hold many "/"). Neither "%" nor "," can be in a name, so each file has one name."""
    escaped = name.replace("/", "%2F") + DB_SUFFIX
    return escaped if len(escaped) <= MAX_FILE_NAME else name.replace("/", ",") + DB_SUFFIX


def _make_private(path, mode):
    """Give ``path`` ``mode`` if it grants more: a directory ``PRIVATE_DIR_MODE``, a file a file mode.
    Anything else at ``path`` (a directory where a file belongs), or nothing, is left alone."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(status.st_mode) == (mode == PRIVATE_DIR_MODE) and status.st_mode & 0o777 & ~mode:
        os.chmod(path, mode)


def _db_name(file_name):
    return file_name[: -len(DB_SUFFIX)].replace("%2F", "/").replace(",", "/")


class Couch:
    """All databases of a server. ``data_dir`` is a directory (created if missing) or ``None``.

    In the browser, ``snapshots=True`` says the directory is persisted by whole-file snapshots (see
    ``sqlite.Storage``) and ``on_change(path)`` is called after every change to one of its files (a write,
    or the file's removal); ``flush()`` (a coroutine function) returns once every change made before the
    call is persisted (``ensure_full_commit``).

    ``js_engine`` runs design functions (``query_server``: V8 natively, QuickJS in the browser); without
    one, views, ``validate_doc_update`` and filter functions answer that they need it.
    """

    def __init__(self, data_dir=None, *, max_document_size=DEFAULT_MAX_DOCUMENT_SIZE, snapshots=False,
                 on_change=None, flush=None, js_engine=None):
        self.data_dir = data_dir
        self._flush = flush
        self.query_server = QueryServer(js_engine) if js_engine is not None else None
        self.max_document_size = max_document_size
        self.snapshots = snapshots
        self.on_change = on_change
        self._open = {}
        self.closed = False
        if data_dir is None:
            self._names = set()
            self.config = {}
        else:
            os.makedirs(data_dir, mode=PRIVATE_DIR_MODE, exist_ok=True)
            _make_private(data_dir, PRIVATE_DIR_MODE)
            self._names = {_db_name(f) for f in os.listdir(data_dir) if f.endswith(DB_SUFFIX)}
            self.config = self._read_config()
        if "uuid" not in self.config or "secret" not in self.config:
            self.config.setdefault("uuid", uuid.uuid4().hex)
            self.config.setdefault("secret", secrets.token_hex(32))
            self.save_config()

    async def ensure_full_commit(self):
        """Return once every committed change is durable: at once natively (each commit is synced before
        it returns), after the page's next save in the browser, where a commit reaches the disk only
        then. A replicator calls it before recording a checkpoint, which must never get ahead of the
        documents it covers (a checkpoint kept while the documents were lost skips them for good)."""
        if self._flush is not None:
            await self._flush()

    @property
    def uuid(self):
        return self.config["uuid"]

    def _read_config(self):
        path = os.path.join(self.data_dir, CONFIG_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
        except FileNotFoundError:
            return {}
        _make_private(path, PRIVATE_FILE_MODE)
        return config

    def save_config(self):
        """Write the settings atomically (write, fsync, rename)."""
        if self.data_dir is None:
            return
        path = os.path.join(self.data_dir, CONFIG_FILE)
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
        _make_private(path + ".tmp", PRIVATE_FILE_MODE)
        with open(fd, "w", encoding="utf-8") as f:
            json.dump(self.config, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path)
        self._changed(path)

    def _changed(self, path):
        if self.on_change is not None:
            self.on_change(path)

    def all_dbs(self):
        return sorted(self._names)

    def exists(self, name):
        return name in self._names

    def create_db(self, name):
        """Create database ``name``; raises ``illegal_database_name`` or ``file_exists``."""
        validate_db_name(name)
        if name in self._names:
            raise FileExists()
        self._names.add(name)
        try:
            db = self.get_db(name)
        except BaseException:
            self._names.discard(name)  # no file: not a database
            raise
        db.set_security(ADMIN_ONLY_SECURITY)
        return db

    def get_db(self, name):
        """The open ``Database`` ``name``; raises ``NotFound("Database does not exist.")``."""
        if name not in self._names:
            raise NotFound("Database does not exist.")
        db = self._open.get(name)
        if db is None:
            path = ":memory:" if self.data_dir is None else self._private_file(name)
            changed = functools.partial(self._changed, path)
            storage = Storage(path, snapshots=self.snapshots, on_commit=changed)
            db = self._open[name] = Database(name, storage, max_document_size=self.max_document_size,
                                             query_server=self.query_server)
        return db

    def _private_file(self, name):
        """The path of database ``name``'s file, created 0600 if new (and its files tightened if not)."""
        path = os.path.join(self.data_dir, _file_name(name))
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
        except FileExistsError:
            for suffix in ("", "-wal", "-shm"):
                _make_private(path + suffix, PRIVATE_FILE_MODE)
        return path

    def delete_db(self, name):
        if name not in self._names:
            raise NotFound("Database does not exist.")
        self._names.discard(name)
        db = self._open.pop(name, None)
        if db is not None:
            db.close()
        if self.data_dir is not None:
            base = os.path.join(self.data_dir, _file_name(name))
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(base + suffix):
                    os.remove(base + suffix)
            self._changed(base)

    def close(self):
        self.closed = True
        for db in self._open.values():
            db.close()
        self._open.clear()
        if self.query_server is not None:
            self.query_server.close()
