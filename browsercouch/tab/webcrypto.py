"""PBKDF2 with the browser's WebCrypto, the ``auth.Pbkdf2`` the tab gives its ``CouchApp``.

Pyodide's ``hashlib`` has no ``pbkdf2_hmac``: in pure Python one check of a password stored with 600k
iterations kept the worker, and so every connection it serves, busy for 3.3 s. ``crypto.subtle.deriveBits``
runs in the browser's own code, off the thread the interpreter runs on; the worker only awaits its promise.
"""

import hashlib

import js
from pyodide.ffi import to_js

from ..api import pbkdf2_inline

__all__ = ["webcrypto_pbkdf2"]

# WebCrypto's names of the PRFs it has; SHA-224 (a legacy CouchDB choice) it lacks.
WEBCRYPTO_HASHES = {"sha1": "SHA-1", "sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}


def _bytes_to_js(data):
    array = js.Uint8Array.new(len(data))
    array.assign(data)
    return array


async def webcrypto_pbkdf2(prf, password, salt, iterations):
    """``auth.Pbkdf2``: the key of ``password`` (bytes) with ``salt``, as long as the PRF's digest."""
    name = WEBCRYPTO_HASHES.get(prf)
    if name is None:
        return await pbkdf2_inline(prf, password, salt, iterations)
    subtle = js.crypto.subtle
    key = await subtle.importKey("raw", _bytes_to_js(password), "PBKDF2", False, to_js(["deriveBits"]))
    params = to_js({"name": "PBKDF2", "hash": name, "salt": _bytes_to_js(salt), "iterations": iterations},
                   dict_converter=js.Object.fromEntries)
    bits = await subtle.deriveBits(params, key, hashlib.new(prf).digest_size * 8)
    return js.Uint8Array.new(bits).to_bytes()
