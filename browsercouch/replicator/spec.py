"""Turning a CouchDB-style source or target description into an endpoint.

``open_endpoint`` accepts what ``POST /_replicate`` bodies, ``_replicator`` documents and the command line
carry: a URL, a local database name, or a ``{"url", "headers", "auth"}`` object.
"""

from urllib.parse import urlsplit

from ..errors import BadRequest
from .local import LocalEndpoint
from .remote import RemoteEndpoint

__all__ = ["open_endpoint"]


def open_endpoint(spec, *, couch=None, client=None, timeout=None, access=None):
    """The endpoint a CouchDB-style source or target names.

    ``spec`` is a URL string (``http(s)://[user:pass@]host:port/db``), a local database name (needs
    ``couch``), or a ``_replicate`` object ``{"url", "headers"?, "auth"?: {"basic": {"username",
    "password"}}}``. Remote endpoints share ``client`` (an ``HttpClient``; required for them) and use
    ``timeout`` seconds of silence (the client's default if ``None``); a local one checks every use with
    ``access`` (``LocalEndpoint``: the rights of the job's user). Raises ``BadRequest`` for anything else.
    """
    if isinstance(spec, dict):
        return _from_object(spec, client, timeout)
    if not isinstance(spec, str) or not spec:
        raise BadRequest("source and target must be database names, URLs or endpoint objects")
    if urlsplit(spec).scheme in ("http", "https"):
        return RemoteEndpoint(spec, _need_client(client), timeout=timeout)
    if couch is None:
        shown = "an endpoint" if "@" in spec else repr(spec)  # never echo what may hold a password
        raise BadRequest(f"{shown} is not an http(s) URL, and there are no local databases here")
    return LocalEndpoint(couch, spec, access=access)


def _need_client(client):
    if client is None:
        raise BadRequest("a remote endpoint needs an HTTP client")
    return client


def _from_object(spec, client, timeout):
    url, headers, auth = spec.get("url"), spec.get("headers") or {}, spec.get("auth") or {}
    if not isinstance(url, str) or not isinstance(headers, dict) or not isinstance(auth, dict):
        raise BadRequest("An endpoint object needs a `url` string, and `headers` and `auth` objects")
    basic = auth.get("basic") if isinstance(auth.get("basic"), dict) else {}
    return RemoteEndpoint(url, _need_client(client), headers=headers, username=basic.get("username"),
                          password=basic.get("password"), timeout=timeout)
