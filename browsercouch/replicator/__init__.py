"""browsercouch.replicator: the CouchDB replication protocol, as a client that drives replications.

A replication copies every revision the target lacks from a source database to a target database,
conflicts and deletions included, and records checkpoints so that the next run resumes where this one
ended. Either side is an *endpoint*: ``LocalEndpoint`` (a database of a ``store.Couch`` here) or
``RemoteEndpoint`` (a CouchDB-compatible URL: Apache CouchDB, PouchDB Server, another browsercouch).
Remote endpoints talk through a ``browsercouch.http.HttpClient``: ``tcp_client()`` natively (asyncio,
keep-alive pool), ``app_client(app)`` with an ASGI app in-process (tests), and the browser's over
``fetch()``. Everything is asyncio, with no threads and nothing that
blocks, so the same code runs on CPython and in Pyodide.

``replicate(source, target, options)`` runs one session; ``Replication`` is the job that retries with
back-off, reports progress as CouchDB's ``_active_tasks`` and ``_scheduler/jobs`` do, and can be
cancelled. ``open_endpoint`` turns a ``_replicate`` source or target into an endpoint.
"""

from ..errors import BadPeerResponse, PeerUnavailable, ReplicationError
from .backoff import Backoff
from .checkpoint import compare_replication_logs
from .endpoint import Endpoint
from .job import Replication
from .local import LocalEndpoint
from .remote import RemoteEndpoint
from .replicate import ReplicationOptions, Stats, replicate
from .replication_id import replication_id
from .spec import open_endpoint

__all__ = [
    "replicate",
    "Replication",
    "ReplicationError",
    "ReplicationOptions",
    "Stats",
    "Backoff",
    "Endpoint",
    "LocalEndpoint",
    "RemoteEndpoint",
    "PeerUnavailable",
    "BadPeerResponse",
    "open_endpoint",
    "replication_id",
    "compare_replication_logs",
]
