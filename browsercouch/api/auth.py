"""Authentication and authorization, as Apache CouchDB 3.x does them, with no I/O.

Theory of operation
-------------------
A request is *authenticated* into a ``UserCtx`` (a name, or ``None`` for anonymous, and a tuple of roles),
and then *authorized* against the server (``check_server_admin``) or a database's ``_security`` object
(``check_db_reader``, ``check_db_admin``). Nothing here reads a socket, a file or a database: the caller
hands in header values, the time, the configured admins and a function that looks a user up in ``_users``.

Passwords (``couch_passwords.erl``, ``couch_httpd_auth.erl`` ``authenticate_int/3``)
    A user's credentials are the fields of their ``_users`` document. ``password_scheme`` is ``"pbkdf2"``
    (``derived_key`` = hex PBKDF2-HMAC(``pbkdf2_prf``, password, salt, ``iterations``), the key as long as the
    hash's digest) or the legacy ``"simple"`` (``password_sha`` = hex SHA-1(password + salt)). The salt is the
    hex *string*, used as its UTF-8 bytes, never hex-decoded. Absent fields default as CouchDB does: scheme
    ``"simple"``, PRF ``"sha"`` (SHA-1), 10000 iterations. Server admins live in the ``[admins]`` ini section
    as ``-pbkdf2:sha256-<derived_key>,<salt>,<iterations>`` (``-pbkdf2-`` for SHA-1, ``-hashed-<sha>,<salt>``
    for the simple scheme); ``parse_admin_hash`` turns that into the same credential dict.

Deriving keys off the loop (``Pbkdf2``)
    PBKDF2 at 600000 iterations costs about 0.3 s natively and seconds in pure Python by design. The API
    awaits an injected ``pbkdf2`` instead of deriving on the serving loop: the native server runs
    ``hashlib.pbkdf2_hmac`` on a worker thread, the browser WebCrypto; ``pbkdf2_inline`` (the default, for
    tests) derives in place.

The verification cache (``couch_passwords_cache.erl``)
    After one slow success ``Authenticator`` remembers a fast SHA-256 of (stored credentials, password)
    per user, in a bounded LRU whose entries lapse after ``CACHE_IDLE`` seconds unused, so Basic auth on
    every request costs no derivation. The stored credentials are part of the digest, so changing a
    password (new salt, new derived key) can never be answered from the cache. Failures are never cached.
    Requests presenting the same name and password while their check runs share it.

Throttling failed logins (``throttle.py``; CouchDB 3.4 has ``couch_auth_lockout``)
    Failures are counted per client address and per user name; past ``throttle.FREE_FAILURES`` the
    address or name is locked for a doubling time, and a locked attempt is answered 429 with
    ``Retry-After`` before any derivation (so a flood costs almost nothing), after ``REFUSAL_DELAY``.
    A password already remembered passes a lock on its name, not one on its address: whoever floods a
    name does not lock its owner's logged-in clients out.

Basic auth (``couch_httpd_auth.erl`` ``basic_name_pw/1``)
    ``Authorization: Basic base64(name:password)``, split at the first colon. A header of another scheme, a
    decoded value without a colon, or the logout pair ``_:_`` mean *no* credentials (anonymous), as in
    CouchDB. Base64 that does not decode is a 400, as in CouchDB ("Authorization header has invalid base64
    value"). Bytes that are not UTF-8 are carried through (``surrogateescape``) and hashed as the same bytes,
    so such a password fails exactly as it would in CouchDB: 401, never 400. We accept the scheme name in any
    case (RFC 7235), where CouchDB 3.4 wants ``Basic``.

Cookie sessions (``couch_httpd_auth.erl`` ``cookie_authentication_handler/2``, ``cookie_auth_cookie/3``)
    ``AuthSession`` = base64url without padding of ``name:TIMEHEX:MAC``, where TIMEHEX is the issue time in
    seconds as upper-case hex (Erlang's ``integer_to_list(T, 16)``) and MAC is the *raw* HMAC-SHA256 (SHA-1 is
    still accepted, CouchDB's ``hash_algorithms = sha256, sha``) keyed by server secret + the user's salt over
    ``name:TIMEHEX``. Keying with the salt means a password change ends every session of that user. A cookie
    is valid while ``now < issued + timeout``; once more than 10 % of the timeout has passed a fresh cookie is
    sent back. A cookie that does not decode, or has fewer than three parts, is a 400 ("Malformed AuthSession
    cookie..."); one with a bad MAC, an unknown user or an expired time is ignored (anonymous).

Handler order (``[chttpd] authentication_handlers``)
    CouchDB's default is the cookie handler first, then Basic, and the first handler that names a user wins:
    a valid cookie is used even when a Basic header is present, and an invalid cookie falls through to Basic.
    ``Authenticator.authenticate`` keeps that order.

Authorization (``couch_db.erl`` ``check_is_member/1``, ``check_is_admin/1``, ``is_authorized/2``)
    A db admin is a server admin (role ``_admin``) or anyone named in ``admins.names`` or holding a role in
    ``admins.roles``. A member is a db admin, or anyone when ``members`` has no names and no roles (a public
    database), or anyone named in or holding a role of ``members`` (``readers`` is the legacy spelling).
    Denial is 401 for an anonymous user and 403 for a named one. ``check_server_admin`` is 401 either way, as
    in ``chttpd:verify_is_server_admin/1``.
"""

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from browsercouch.errors import BadRequest, Forbidden, TooManyRequests, Unauthorized

from .throttle import LoginThrottle

__all__ = [
    "PASSWORD_SCHEME",
    "PBKDF2_PRF",
    "PBKDF2_ITERATIONS",
    "SESSION_TIMEOUT",
    "AUTH_CACHE_SIZE",
    "COOKIE_NAME",
    "UserCtx",
    "ANONYMOUS",
    "Pbkdf2",
    "pbkdf2_inline",
    "hash_password",
    "derive_credentials",
    "verify_password",
    "format_admin_hash",
    "parse_admin_hash",
    "hash_admin_password",
    "parse_basic",
    "make_session_cookie",
    "set_cookie_header",
    "clear_cookie_header",
    "check_server_admin",
    "is_db_admin",
    "check_db_admin",
    "check_db_reader",
    "validate_security",
    "Authenticator",
]

# CouchDB 3.x ``[chttpd_auth] password_scheme``: PBKDF2 for every new password.
PASSWORD_SCHEME = "pbkdf2"
# CouchDB 3.4 ``[chttpd_auth] pbkdf2_prf``; before 3.4 the PRF was SHA-1 (``"sha"``).
PBKDF2_PRF = "sha256"
# CouchDB 3.4 ``[chttpd_auth] iterations`` for SHA-256 (OWASP's 2023 advice); tests pass a small value.
PBKDF2_ITERATIONS = 600_000
# What CouchDB assumes for a pbkdf2 user document that has no ``iterations`` field.
LEGACY_PBKDF2_ITERATIONS = 10_000
# CouchDB ``[chttpd_auth] min_iterations`` / ``max_iterations``: stored credentials outside are refused (403).
MIN_ITERATIONS = 1
MAX_ITERATIONS = 1_000_000_000
# CouchDB ``[chttpd_auth] timeout``: seconds an AuthSession cookie lives.
SESSION_TIMEOUT = 600
# CouchDB re-issues the cookie once less than 90 % of the timeout is left.
SESSION_REFRESH_FRACTION = 0.1
# Successful verifications remembered, least recently used dropped first: plenty for one node's active users.
AUTH_CACHE_SIZE = 1000
# Seconds a remembered verification lives unused (CouchDB's ``[couch_passwords_cache] max_idle``, 10 min).
CACHE_IDLE = 600.0
# Seconds a throttled login waits for its 429: slows a client that keeps asking without costing anything.
REFUSAL_DELAY = 1.0
COOKIE_NAME = "AuthSession"
# ``[chttpd_auth] hash_algorithms``: the first signs new cookies, all are accepted.
COOKIE_HASH_ALGORITHMS = ("sha256", "sha1")
# CouchDB's PRF names (``verify_prf/1``) and hashlib's.
_PRFS = {"sha": "sha1", "sha224": "sha224", "sha256": "sha256", "sha384": "sha384", "sha512": "sha512"}
_INCORRECT = "Name or password is incorrect."
_HEX = re.compile(r"[0-9A-Fa-f]+")
# ``-pbkdf2-`` (SHA-1) or ``-pbkdf2:<prf>-``, then derived key, salt and iterations.
_ADMIN_PBKDF2 = re.compile(
    r"-pbkdf2(?::(?P<prf>[a-z0-9]+))?-(?P<key>[^,]+),(?P<salt>[^,]+),(?P<iterations>[0-9]+)"
)
_ADMIN_SIMPLE = re.compile(r"-hashed-(?P<sha>[^,]+),(?P<salt>[^,]+)")
# The credential fields a verification depends on: the cache digest covers all of them.
_CRED_FIELDS = ("password_scheme", "pbkdf2_prf", "iterations", "salt", "derived_key", "password_sha")


@dataclass(frozen=True)
class UserCtx:
    """Who is asking: ``name`` (``None`` when anonymous) and ``roles``. Server admins hold ``"_admin"``."""

    name: str | None = None
    roles: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return "_admin" in self.roles

    def to_json(self) -> dict:
        """The ``userCtx`` object of ``GET /_session``."""
        return {"name": self.name, "roles": list(self.roles)}


ANONYMOUS = UserCtx()


def _to_bytes(text: str) -> bytes:
    """UTF-8 bytes of ``text``; bytes carried in by ``surrogateescape`` come back as themselves."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------------------------------------------------
# Passwords


def pbkdf2_hmac_python(name: str, password: bytes, salt: bytes, iterations: int) -> bytes:
    """PBKDF2-HMAC (RFC 8018), the key as long as the digest: ``hashlib.pbkdf2_hmac`` in pure Python.

    Pyodide's ``hashlib`` has no ``pbkdf2_hmac`` (it comes from OpenSSL's ``_hashlib``, which Pyodide does
    not build), so there this one is used. About 1 µs per iteration in CPython.
    """
    inner, outer = hashlib.new(name), hashlib.new(name)
    key = password if len(password) <= inner.block_size else hashlib.new(name, password).digest()
    key = key.ljust(inner.block_size, b"\0")
    inner.update(bytes(byte ^ 0x36 for byte in key))
    outer.update(bytes(byte ^ 0x5C for byte in key))

    def prf(message):
        first, second = inner.copy(), outer.copy()
        first.update(message)
        second.update(first.digest())
        return second.digest()

    block = prf(salt + b"\0\0\0\1")
    result = int.from_bytes(block, "big")
    for _ in range(iterations - 1):
        block = prf(block)
        result ^= int.from_bytes(block, "big")
    return result.to_bytes(inner.digest_size, "big")


_pbkdf2_hmac = getattr(hashlib, "pbkdf2_hmac", pbkdf2_hmac_python)

# How the API derives PBKDF2 keys: ``await pbkdf2(prf, password, salt, iterations)`` gives the key as long as
# the PRF's digest. A derivation at 600k iterations takes 0.3 s natively and seconds in Pyodide, so the shells
# inject one that runs off the serving loop: a worker thread natively (``browsercouch.hashing``), WebCrypto
# in the browser (``tab.webcrypto``).
Pbkdf2 = Callable[[str, bytes, bytes, int], Awaitable[bytes]]


async def pbkdf2_inline(prf: str, password: bytes, salt: bytes, iterations: int) -> bytes:
    """A ``Pbkdf2`` that derives on the calling loop, blocking it: for tests and small iteration counts."""
    return _pbkdf2_hmac(prf, password, salt, iterations)


def _credentials(salt: str, iterations: int, key: bytes) -> dict:
    return {
        "password_scheme": PASSWORD_SCHEME,
        "pbkdf2_prf": PBKDF2_PRF,
        "iterations": iterations,
        "salt": salt,
        "derived_key": key.hex(),
    }


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: str | None = None) -> dict:
    """Hash ``password`` as CouchDB 3.4 stores it: PBKDF2-HMAC-SHA256, on the calling thread.

    Returns the credential fields of a ``_users`` document: ``password_scheme``, ``pbkdf2_prf``,
    ``iterations``, ``salt`` (32 random hex digits unless given) and ``derived_key`` (hex).
    """
    salt = secrets.token_hex(16) if salt is None else salt
    return _credentials(salt, iterations, _pbkdf2_hmac(PBKDF2_PRF, _to_bytes(password), _to_bytes(salt),
                                                       iterations))


async def derive_credentials(password: str, pbkdf2: Pbkdf2, *, iterations: int = PBKDF2_ITERATIONS,
                             salt: str | None = None) -> dict:
    """``hash_password`` with the key derived by ``pbkdf2`` (off the serving loop in the shells)."""
    salt = secrets.token_hex(16) if salt is None else salt
    return _credentials(salt, iterations, await pbkdf2(PBKDF2_PRF, _to_bytes(password), _to_bytes(salt),
                                                       iterations))


def _same(computed: str, stored) -> bool:
    return isinstance(stored, str) and hmac.compare_digest(computed.encode(), _to_bytes(stored))


def _verify_simple(password: str, creds: Mapping) -> bool:
    salt = creds.get("salt", "")
    if not isinstance(salt, str):
        return False
    return _same(hashlib.sha1(_to_bytes(password) + _to_bytes(salt)).hexdigest(), creds.get("password_sha"))


def _pbkdf2_parameters(creds: Mapping) -> tuple[str, str, int] | None:
    """``(prf, salt, iterations)`` of pbkdf2 credentials, ``None`` when mistyped; raises ``Forbidden`` as
    CouchDB does for an unknown PRF or an iteration count out of bounds."""
    prf = _PRFS.get(creds.get("pbkdf2_prf", "sha"))
    if prf is None:
        raise Forbidden("PRF is invalid")
    iterations = creds.get("iterations", LEGACY_PBKDF2_ITERATIONS)
    salt = creds.get("salt", "")
    if not isinstance(iterations, int) or isinstance(iterations, bool) or not isinstance(salt, str):
        return None
    if iterations < MIN_ITERATIONS:
        raise Forbidden("Iteration count is too low for this server")
    if iterations > MAX_ITERATIONS:
        raise Forbidden("Iteration count is too high for this server")
    return prf, salt, iterations


async def verify_password(password: str, creds: Mapping, pbkdf2: Pbkdf2 = pbkdf2_inline) -> bool:
    """Whether ``password`` matches stored credentials ``creds`` (a ``_users`` doc, ``parse_admin_hash``).

    Both schemes, every PRF CouchDB knows (``sha`` = SHA-1, ``sha224``, ``sha256``, ``sha384``, ``sha512``);
    PBKDF2 keys are derived by ``pbkdf2``; the final comparison takes constant time. Returns ``False`` for
    missing or mistyped fields or an unknown scheme. Raises ``Forbidden`` for an unknown PRF or an
    iteration count outside ``MIN_ITERATIONS..MAX_ITERATIONS``, as CouchDB does (403).
    """
    scheme = creds.get("password_scheme", "simple")
    if scheme == "simple":
        return _verify_simple(password, creds)
    if scheme != "pbkdf2":
        return False
    parameters = _pbkdf2_parameters(creds)
    if parameters is None:
        return False
    prf, salt, iterations = parameters
    key = await pbkdf2(prf, _to_bytes(password), _to_bytes(salt), iterations)
    return _same(key.hex(), creds.get("derived_key"))


def format_admin_hash(creds: Mapping) -> str:
    """The ``[admins]`` ini value for ``creds``: ``-pbkdf2:<prf>-<key>,<salt>,<iterations>``.

    SHA-1 credentials get the old ``-pbkdf2-...`` prefix and simple ones ``-hashed-<sha>,<salt>``, the forms
    ``couch_passwords:hash_admin_password/2`` writes. Raises ``ValueError`` for credentials of another scheme.
    """
    scheme = creds.get("password_scheme", "simple")
    if scheme == "simple":
        return f"-hashed-{creds['password_sha']},{creds['salt']}"
    if scheme != "pbkdf2":
        raise ValueError(f"unknown password scheme {scheme!r}")
    prf = creds.get("pbkdf2_prf", "sha")
    prefix = "-pbkdf2-" if prf == "sha" else f"-pbkdf2:{prf}-"
    return f"{prefix}{creds['derived_key']},{creds['salt']},{creds['iterations']}"


def parse_admin_hash(value: str) -> dict | None:
    """The credential dict of an ``[admins]`` ini value, or ``None`` when it is not hashed (a clear password).

    The inverse of ``format_admin_hash``. Raises ``ValueError`` for a value that starts like a hash but is
    malformed, rather than mistaking it for a clear-text password.
    """
    if not value.startswith(("-pbkdf2", "-hashed-")):
        return None
    match = _ADMIN_PBKDF2.fullmatch(value)
    if match is not None:
        return {
            "password_scheme": "pbkdf2",
            "pbkdf2_prf": match["prf"] or "sha",
            "iterations": int(match["iterations"]),
            "salt": match["salt"],
            "derived_key": match["key"],
        }
    match = _ADMIN_SIMPLE.fullmatch(value)
    if match is not None:
        return {"password_scheme": "simple", "salt": match["salt"], "password_sha": match["sha"]}
    raise ValueError("malformed admin password hash")


def hash_admin_password(password: str, *, iterations: int = PBKDF2_ITERATIONS,
                        salt: str | None = None) -> str:
    """A clear admin password in its ``[admins]`` ini form (``couch_passwords:hash_admin_password/1``)."""
    return format_admin_hash(hash_password(password, iterations=iterations, salt=salt))


# ---------------------------------------------------------------------------------------------------------
# HTTP Basic


def parse_basic(header: str) -> tuple[str, str] | None:
    """The ``(name, password)`` of an ``Authorization`` header value, or ``None`` for no credentials.

    ``None`` for another scheme, a decoded value without ``:``, or the logout pair ``_:_``. The password is
    everything after the first colon. Raises ``BadRequest`` (400) when the Basic parameter is not base64.
    """
    scheme, _, param = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(param.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("Authorization header has invalid base64 value") from None
    name, colon, password = decoded.decode("utf-8", "surrogateescape").partition(":")
    if not colon or (name, password) == ("_", "_"):
        return None
    return name, password


# ---------------------------------------------------------------------------------------------------------
# Cookie sessions


def _session_mac(algorithm: str, secret: str, salt: str, data: bytes) -> bytes:
    return hmac.new(_to_bytes(secret) + _to_bytes(salt), data, algorithm).digest()


def make_session_cookie(user: str, salt: str, secret: str, now: float) -> str:
    """The ``AuthSession`` cookie value for ``user`` issued at ``now`` (seconds since the epoch).

    ``salt`` is the user's password salt and ``secret`` the server's cookie secret.
    """
    data = _to_bytes(f"{user}:{int(now):X}")
    mac = _session_mac(COOKIE_HASH_ALGORITHMS[0], secret, salt, data)
    return base64.urlsafe_b64encode(data + b":" + mac).rstrip(b"=").decode("ascii")


def _split_session_cookie(cookie: str) -> tuple[str, bytes, bytes]:
    """``(user, time_hex, mac)`` of a cookie value. Raises ``BadRequest`` when it is malformed."""
    try:
        raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    parts = raw.split(b":", 2)
    if len(parts) != 3:
        raise BadRequest("Malformed AuthSession cookie. Please clear your cookies.")
    user, time_hex, mac = parts
    return user.decode("utf-8", "surrogateescape"), time_hex, mac


def _verify_session(cookie: str, lookup_user_salt: Callable[[str], str | None], secret: str, now: float,
                    timeout: int) -> tuple[str, int] | None:
    """``(user, issued)`` for a valid cookie, else ``None``; ``BadRequest`` when it is malformed."""
    user, time_hex, mac = _split_session_cookie(cookie)
    salt = lookup_user_salt(user)
    if salt is None or not _HEX.fullmatch(time_hex.decode("latin-1")):
        return None
    issued = int(time_hex, 16)
    if not now < issued + timeout:
        return None
    data = _to_bytes(user) + b":" + time_hex
    if any(hmac.compare_digest(_session_mac(alg, secret, salt, data), mac) for alg in COOKIE_HASH_ALGORITHMS):
        return user, issued
    return None


def _cookie_expires(when: float) -> str:
    """A cookie's ``Expires`` date as mochiweb writes it (``Mon, 07-Dec-2026 01:05:35 GMT``)."""
    return time.strftime("%a, %d-%b-%Y %H:%M:%S GMT", time.gmtime(when))


def _cookie_attributes(expires: float, max_age: int, secure: bool, same_site: str | None) -> str:
    """The attributes in CouchDB's order (``mochiweb_cookies:cookie/3``); ``Expires`` is for clients
    older than ``Max-Age``."""
    attributes = f"; Version=1; Expires={_cookie_expires(expires)}; Max-Age={max_age}; Path=/; HttpOnly"
    if secure:
        attributes += "; Secure"
    if same_site:
        attributes += f"; SameSite={same_site.capitalize()}"
    return attributes


def set_cookie_header(cookie: str, now: float, *, max_age: int = SESSION_TIMEOUT, secure: bool = False,
                      same_site: str | None = None) -> str:
    """The ``Set-Cookie`` header value carrying the ``AuthSession`` value ``cookie``, issued at ``now``.

    ``secure`` adds ``Secure`` (CouchDB does for https); ``same_site`` is ``"none"``, ``"lax"`` or
    ``"strict"``.
    """
    return f"{COOKIE_NAME}={cookie}{_cookie_attributes(now + max_age, max_age, secure, same_site)}"


def clear_cookie_header(*, secure: bool = False, same_site: str | None = None) -> str:
    """The ``Set-Cookie`` header value that ends a session (``DELETE /_session``, a failed login).

    CouchDB sends an empty ``AuthSession`` and ignores empty ones; we also expire it at once.
    """
    return f"{COOKIE_NAME}={_cookie_attributes(0, 0, secure, same_site)}"


def _request_cookie(header: str | None) -> str | None:
    """The first ``AuthSession`` in a ``Cookie`` header value, unquoted; ``None`` if absent or empty."""
    for pair in (header or "").split(";"):
        name, _, value = pair.partition("=")
        if name.strip() == COOKIE_NAME:
            return value.strip().strip('"') or None
    return None


# ---------------------------------------------------------------------------------------------------------
# Authorization


def _names_roles(security: Mapping, section: str) -> tuple[list, list]:
    entry = security.get(section)
    if section == "members" and entry is None:
        entry = security.get("readers")
    if not isinstance(entry, Mapping):
        return [], []
    names, roles = entry.get("names", []), entry.get("roles", [])
    return (names if isinstance(names, list) else []), (roles if isinstance(roles, list) else [])


def _is_authorized(ctx: UserCtx, names: list, roles: list) -> bool:
    """``couch_db:is_authorized/2``: a shared role (``_admin`` always counts) or the user's name listed."""
    if not set(ctx.roles).isdisjoint(["_admin", *roles]):
        return True
    return ctx.name is not None and ctx.name in names


def is_db_admin(ctx: UserCtx, security: Mapping) -> bool:
    """Whether ``ctx`` administers a database with this ``_security``: a server admin, or named in
    ``admins.names``, or holding a role of ``admins.roles`` (``couch_db:check_is_admin/1``)."""
    return _is_authorized(ctx, *_names_roles(security, "admins"))


def _denied(ctx: UserCtx, reason: str | None = None) -> Exception:
    if ctx.name is None:
        return Unauthorized(reason)
    return Forbidden(reason)


def check_server_admin(ctx: UserCtx) -> None:
    """Raise ``Unauthorized`` (401, for named users too, as CouchDB does) unless ``ctx`` is a server admin."""
    if not ctx.is_admin:
        raise Unauthorized("You are not a server admin.")


def check_db_admin(ctx: UserCtx, security: Mapping) -> None:
    """Raise unless ``ctx`` may administer a database with this ``_security`` object.

    Allowed: server admins and the names and roles in ``admins``. Raises ``Unauthorized`` for an anonymous
    user, ``Forbidden`` for a named one.
    """
    if not is_db_admin(ctx, security):
        raise _denied(ctx, "You are not a db or server admin.")


def check_db_reader(ctx: UserCtx, security: Mapping) -> None:
    """Raise unless ``ctx`` may read a database with this ``_security`` object.

    Allowed: db admins (see ``check_db_admin``), everyone when ``members`` lists no names and no roles, and
    the names and roles in ``members``. Raises ``Unauthorized`` for an anonymous user, ``Forbidden`` for a
    named one.
    """
    if is_db_admin(ctx, security):
        return
    names, roles = _names_roles(security, "members")
    if not names and not roles:
        return
    if not _is_authorized(ctx, names, roles):
        raise _denied(ctx)


def _validate_names_roles(entry) -> None:
    if not isinstance(entry, Mapping):
        raise BadRequest("admins or members must be a JSON list of strings")
    for field in ("names", "roles"):
        values = entry.get(field, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BadRequest(f"{field} must be a JSON list of strings")


def validate_security(body) -> dict:
    """Check a ``PUT /{db}/_security`` body (``couch_db:validate_security_object/1``) and return it unchanged.

    It must be an object whose ``admins`` and ``members`` (or legacy ``readers``), when present, are objects
    with optional ``names`` and ``roles`` lists of strings. Raises ``BadRequest`` otherwise.
    """
    if not isinstance(body, dict):
        raise BadRequest("Security object must be a JSON object")
    _validate_names_roles(body.get("admins", {}))
    _validate_names_roles(body.get("members", body.get("readers", {})))
    return body


# ---------------------------------------------------------------------------------------------------------
# The authenticator


class Authenticator:
    """Turns request headers into a ``UserCtx``, and a name and password into a session, as CouchDB does.

    ``admins`` maps server-admin names to credential dicts (``parse_admin_hash`` or ``hash_password`` output);
    the attribute may be changed at any time. ``lookup_user(name)`` returns the winning, non-deleted
    ``_users`` document for ``name`` (``name``, ``roles`` and the credential fields) or ``None``. A name that
    is both gets the admin's password and the roles ``("_admin", *doc_roles)``
    (``couch_auth_cache:add_roles/2``). ``secret`` signs session cookies; without one a random secret is made,
    so sessions end with the process. ``timeout`` is the session lifetime in seconds, ``secure_cookies`` and
    ``same_site`` go on every cookie, and ``cache_size`` bounds the cache of successful password
    verifications. ``pbkdf2`` derives keys (see ``Pbkdf2``); ``throttle`` (a ``LoginThrottle``) slows down
    failing clients; ``clock`` is its monotonic time.

    Checking a password (``_verify``): a password verified before and remembered (``CACHE_IDLE``) costs one
    SHA-256 and passes a lock on the name, not one on the address. Otherwise the throttle may answer 429
    (``TooManyRequests``) at once; else one derivation runs, shared by every request that presents the same
    name and password meanwhile (a client opening several connections with Basic credentials hashes once).
    """

    def __init__(self, *, admins: Mapping[str, dict] | None = None,
                 lookup_user: Callable[[str], dict | None] | None = None, secret: str | None = None,
                 timeout: int = SESSION_TIMEOUT, secure_cookies: bool = False, same_site: str | None = None,
                 cache_size: int = AUTH_CACHE_SIZE, pbkdf2: Pbkdf2 = pbkdf2_inline,
                 throttle: LoginThrottle | None = None, clock: Callable[[], float] = time.monotonic):
        self.admins = dict(admins or {})
        self._lookup_user = lookup_user or (lambda name: None)
        self.secret = secret if secret is not None else secrets.token_hex(16)
        self.timeout = timeout
        self._cookie_options = {"secure": secure_cookies, "same_site": same_site}
        self._cache_size = cache_size
        self._pbkdf2 = pbkdf2
        self.throttle = throttle if throttle is not None else LoginThrottle()
        self._clock = clock
        self._verified: OrderedDict[tuple[str, bytes], float] = OrderedDict()
        self._flights: dict[tuple[str, bytes], asyncio.Future] = {}

    def add_admin(self, name: str, creds: Mapping, *, password: str | None = None) -> None:
        """Make ``name`` a server admin with the credential fields ``creds``. ``password``, given when the
        caller has just derived ``creds`` from it, counts as verified: in Pyodide a PBKDF2 of 600k
        iterations takes seconds in pure Python, and the browser derived the key with WebCrypto."""
        self.admins[name] = dict(creds)
        if password is not None:
            self._remember(self._cache_key(name, password, creds))

    def clear_admins(self) -> None:
        """No server admins from now on: an admin party until ``add_admin`` (the tab, when it starts
        serving with other settings)."""
        self.admins.clear()

    def _user_creds(self, name: str) -> tuple[Mapping, tuple[str, ...]] | None:
        """``(credentials, roles)`` for ``name`` (``couch_auth_cache:get_user_creds/2``), or ``None``."""
        doc = self._lookup_user(name)
        doc_roles = doc.get("roles", []) if isinstance(doc, Mapping) else []
        roles = tuple(r for r in doc_roles if isinstance(r, str)) if isinstance(doc_roles, list) else ()
        admin = self.admins.get(name)
        if admin is not None:
            return admin, ("_admin", *roles)
        if not isinstance(doc, Mapping):
            return None
        return doc, roles

    def _cache_key(self, name: str, password: str, creds: Mapping) -> tuple[str, bytes]:
        stored = json.dumps([creds.get(field) for field in _CRED_FIELDS]).encode()
        return name, hashlib.sha256(stored + b"\0" + _to_bytes(password)).digest()

    def _remember(self, key: tuple[str, bytes]) -> None:
        self._verified[key] = self._clock()
        self._verified.move_to_end(key)
        while len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)

    def _remembered(self, key: tuple[str, bytes]) -> bool:
        """Whether ``key`` was verified and used within ``CACHE_IDLE`` seconds (then it is used again)."""
        used = self._verified.get(key)
        if used is None or self._clock() - used > CACHE_IDLE:
            self._verified.pop(key, None)
            return False
        self._remember(key)
        return True

    async def _refuse(self, wait: int, client: str | None, now: float) -> TooManyRequests:
        """The 429 of a throttled attempt, held ``REFUSAL_DELAY`` seconds at most (a client that ignores
        ``Retry-After`` gets an answer a second, not hundreds); the guess it carried counts against its
        address."""
        self.throttle.failed(client, None, now)
        await asyncio.sleep(min(wait, REFUSAL_DELAY))
        return TooManyRequests("Too many failed logins; try again later.", retry_after=wait)

    def _start_check(self, key, name: str, password: str, creds: Mapping,
                     client: str | None) -> asyncio.Future:
        """Derive and compare once for ``key``; the outcome goes to the throttle and the cache."""
        self.throttle.started(client, name, self._clock())
        flight = asyncio.ensure_future(verify_password(password, creds, self._pbkdf2))
        self._flights[key] = flight

        def done(task):
            del self._flights[key]
            ok = not task.cancelled() and task.exception() is None and task.result()
            self.throttle.ended(client, name, self._clock(), ok=ok)
            if ok:
                self._remember(key)

        flight.add_done_callback(done)
        return flight

    async def _verify(self, name: str, password: str, client: str | None) -> tuple[UserCtx, Mapping]:
        """``(ctx, credentials)`` when ``password`` is ``name``'s; raises as ``check_password`` does."""
        now = self._clock()
        found = self._user_creds(name)
        key = None if found is None else self._cache_key(name, password, found[0])
        if key is not None and self._remembered(key):
            wait = self.throttle.wait(client, name, now, name_too=False)
            if wait:
                raise await self._refuse(wait, client, now)
            return UserCtx(name, found[1]), found[0]
        flight = self._flights.get(key) if key is not None else None
        if flight is None:
            wait = self.throttle.wait(client, name, now)
            if wait:
                raise await self._refuse(wait, client, now)
            if found is None:
                self.throttle.failed(client, name, now)
                raise Unauthorized(_INCORRECT)
            flight = self._start_check(key, name, password, found[0], client)
        if not await asyncio.shield(flight):
            raise Unauthorized(_INCORRECT)
        return UserCtx(name, found[1]), found[0]

    async def check_password(self, name: str, password: str, client: str | None = None) -> UserCtx:
        """The ``UserCtx`` of ``name`` if ``password`` is theirs; ``client`` is the peer's address.

        Raises ``Unauthorized("Name or password is incorrect.")`` otherwise, ``TooManyRequests`` (429 with
        ``Retry-After``) while the address or the name is throttled, and ``Forbidden`` for unusable stored
        credentials (see ``verify_password``).
        """
        return (await self._verify(name, password, client))[0]

    def _session(self, cookie: str, now: float) -> tuple[UserCtx, str | None] | None:
        """The session a cookie value proves, with a refreshed ``Set-Cookie`` value when due, or ``None``."""
        found = self._user_creds(_split_session_cookie(cookie)[0])
        if found is None:
            return None
        creds, roles = found
        salt = creds.get("salt", "")
        if not isinstance(salt, str):
            return None
        verified = _verify_session(cookie, lambda name: salt, self.secret, now, self.timeout)
        if verified is None:
            return None
        name, issued = verified
        refresh = None
        if now - issued > self.timeout * SESSION_REFRESH_FRACTION:
            refresh = self.session_cookie(name, salt, now)
        return UserCtx(name, roles), refresh

    def session_cookie(self, name: str, salt: str, now: float) -> str:
        """The ``Set-Cookie`` header value of a new session for ``name`` (whose password salt is ``salt``)."""
        cookie = make_session_cookie(name, salt, self.secret, now)
        return set_cookie_header(cookie, now, max_age=self.timeout, **self._cookie_options)

    def logout_cookie(self) -> str:
        """The ``Set-Cookie`` header value that ends the session (``DELETE /_session``, failed login)."""
        return clear_cookie_header(**self._cookie_options)

    async def authenticate(self, headers: Mapping[str, str], now: float,
                           client: str | None = None) -> tuple[UserCtx, str | None]:
        """The user a request is from, and a ``Set-Cookie`` header value to send back (or ``None``).

        ``headers`` has lower-cased names; ``now`` is seconds since the epoch; ``client`` is the peer's
        address. A valid ``AuthSession`` cookie wins (with a refreshed cookie once 10 % of its lifetime has
        passed); otherwise Basic credentials are checked; otherwise the user is ``ANONYMOUS``. Raises as
        ``check_password`` for wrong Basic credentials, and ``BadRequest`` for a malformed Basic header or
        cookie.
        """
        cookie = _request_cookie(headers.get("cookie"))
        session = self._session(cookie, now) if cookie else None
        if session is not None:
            return session
        credentials = parse_basic(headers["authorization"]) if "authorization" in headers else None
        if credentials is not None:
            return await self.check_password(*credentials, client), None
        return ANONYMOUS, None

    async def login(self, name: str, password: str, now: float,
                    client: str | None = None) -> tuple[UserCtx, str]:
        """``POST /_session``: the user's ``UserCtx`` and the ``Set-Cookie`` header value of a new session.

        Raises as ``check_password``; for ``Unauthorized`` CouchDB also sends ``logout_cookie()``.
        """
        ctx, creds = await self._verify(name, password, client)
        salt = creds.get("salt", "")
        return ctx, self.session_cookie(name, salt if isinstance(salt, str) else "", now)
