"""Erlang's external term format, as far as CouchDB hashes terms to name things: Mango's automatic index
names (``mango_idx:gen_name/2``) and view signatures (``couch_mrview_util:ddoc_to_mrst/2``).
"""

import struct

__all__ = ["Atom", "term_to_binary"]


class Atom(str):
    """An Erlang atom."""


def term_to_binary(term):
    """Erlang's external term format (``term_to_binary/1``, OTP 25, without the version byte) of EJSON
    (a JSON object is ``{[{Key, Value}, ...]}``, a string a binary), tuples, lists and atoms."""
    if isinstance(term, Atom):
        name = term.encode("latin-1")
        return b"d" + struct.pack(">H", len(name)) + name
    if isinstance(term, bool) or term is None:
        return term_to_binary(Atom("null" if term is None else str(term).lower()))
    if isinstance(term, tuple):
        return b"h" + bytes([len(term)]) + b"".join(map(term_to_binary, term))
    if isinstance(term, str):
        data = term.encode("utf-8", "surrogatepass")
        return b"m" + struct.pack(">I", len(data)) + data
    if isinstance(term, float):
        return b"F" + struct.pack(">d", term)
    if isinstance(term, int):
        return _integer_term(term)
    if isinstance(term, dict):
        return term_to_binary(([(key, value) for key, value in term.items()],))
    return _list_term(term)


def _integer_term(value):
    if 0 <= value <= 255:
        return b"a" + bytes([value])
    if -2**31 <= value < 2**31:
        return b"b" + struct.pack(">i", value)
    digits = abs(value).to_bytes((abs(value).bit_length() + 7) // 8, "little")
    return b"n" + bytes([len(digits), value < 0]) + digits


def _list_term(items):
    if not items:
        return b"j"
    if len(items) < 65536 and all(type(item) is int and 0 <= item <= 255 for item in items):
        return b"k" + struct.pack(">H", len(items)) + bytes(items)
    return b"l" + struct.pack(">I", len(items)) + b"".join(map(term_to_binary, items)) + b"j"
