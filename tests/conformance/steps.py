"""The corpus language: a ``Step`` is one request, written once and sent to every server.

A request may need what an earlier answer said (the rev a ``PUT`` returned, a sequence, a cookie),
which differs from server to server. So a step names what to ``save`` from its answer, and later steps
write ``{name}`` where the value goes. Each server's replay keeps its own context of saved values, and
``render`` fills a step in from it; ``{db}`` is always the scenario's database.

- In a path, a query value, a header or a ``str`` body, ``{name}`` is replaced by the value as text.
- In a JSON body, a string that is exactly ``"{name}"`` becomes the saved value itself (a sequence stays
  an integer on a server whose sequences are integers); ``{name}`` inside a longer string is text.
- ``bytes`` bodies are sent untouched: that is how malformed JSON gets in.
- Query values that are ``str`` go as they are (``feed=continuous``, ``rev=1-x``); any other value is
  JSON-encoded (``limit=2``, ``descending=true``, ``keys=["a"]``). A JSON string key is written with its
  quotes: ``{"startkey": '"b"'}``.

``save`` maps a name to where the value is in the answer: ``"rev"`` or ``"rows.0.value.rev"`` (a dotted
path into the JSON body, integers indexing lists), ``"header:ETag"``, or ``"cookie:AuthSession"``.
"""

import json
import re
from dataclasses import dataclass, field

__all__ = ["Step", "Scenario", "Request", "step", "render", "render_query", "extract", "ADMIN", "ANONYMOUS"]

PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Who a step authenticates as: the servers' admin (the default), anonymous, or "name:password" (a template).
ADMIN, ANONYMOUS = "admin", None


@dataclass(frozen=True)
class Step:
    """One request of the corpus; ``name`` is unique within its scenario and names it in reports."""

    name: str
    method: str
    path: str
    body: object = None
    query: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    auth: str | None = ADMIN
    save: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """A step filled in for one server: the query as ``(name, text)`` pairs, the body as bytes."""

    method: str
    path: str
    query: list
    headers: dict
    body: bytes | None
    auth: str | None


@dataclass(frozen=True)
class Scenario:
    """Steps replayed in order on a fresh database ``{db}`` of each server.

    ``setup`` steps run first and are not compared (state the scenario needs, e.g. a user to log in as).
    ``needs_admins`` says the steps depend on the server having admins: the tab served on loopback is an
    admin party, so such scenarios run against the native server only.
    """

    name: str
    steps: list
    setup: list = field(default_factory=list)
    needs_admins: bool = False


def step(method):
    """A constructor for steps of one method: ``get("name", "/{db}/doc", query={...})``."""

    def make(name, path, body=None, **options):
        return Step(name, method, path, body, **options)

    make.__name__ = method.lower()
    return make


def _fill(text, context):
    def value(match):
        name = match.group(1)
        if name not in context:
            raise KeyError(f"{{{name}}} is used before any step saved it")
        return str(context[name])

    return PLACEHOLDER.sub(value, text)


def _fill_json(value, context):
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole and whole.group(1) in context:
            return context[whole.group(1)]
        return _fill(value, context)
    if isinstance(value, list):
        return [_fill_json(item, context) for item in value]
    if isinstance(value, dict):
        return {_fill(key, context): _fill_json(item, context) for key, item in value.items()}
    return value


def render_query(query, context):
    """The ``(name, text)`` pairs of a step's query, filled in from ``context``."""
    return [(name, _fill(value, context) if isinstance(value, str)
             else json.dumps(_fill_json(value, context), separators=(",", ":")))
            for name, value in query.items()]


def render(step, context):
    """The ``Request`` of ``step`` for the server whose saved values are ``context``.

    A JSON body gets ``Content-Type: application/json`` unless the step sets a content type itself.
    Raises ``KeyError`` for a ``{name}`` no earlier step saved (a mistake in the corpus).
    """
    headers = {name: _fill(value, context) for name, value in step.headers.items()}
    body = step.body
    if isinstance(body, str):
        body = _fill(body, context).encode()
    elif body is not None and not isinstance(body, bytes):
        body = json.dumps(_fill_json(body, context)).encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    auth = step.auth if step.auth in (ADMIN, ANONYMOUS) else _fill(step.auth, context)
    return Request(step.method, _fill(step.path, context), render_query(step.query, context), headers, body,
                   auth)


def extract(source, headers, payload):
    """The value at ``source`` in an answer (see the module docstring); ``None`` when it is absent."""
    kind, _, where = source.partition(":")
    if where and kind == "header":
        return headers.get(where)
    if where and kind == "cookie":
        cookie = headers.get("Set-Cookie") or ""
        match = re.search(rf"(?:^|;\s*){re.escape(where)}=([^;]*)", cookie)
        return match.group(1) if match else None
    value = payload
    for part in source.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value
