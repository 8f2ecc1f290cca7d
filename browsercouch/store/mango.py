"""Mango selectors and CouchDB's collation of JSON values, as pure functions.

A port of ``mango_selector.erl`` (with ``mango_doc:get_field/2``, ``mango_util:parse_field/1`` and
``mango_json.erl``) and of the ordering of ``couch_ejson_compare.erl``. Spec:
https://docs.couchdb.org/en/stable/api/database/find.html#selector-syntax and
https://docs.couchdb.org/en/stable/ddocs/views/collation.html .

Theory of operation
-------------------
``compile_selector`` runs CouchDB's three normalisation passes once, then compiles the result into nested
closures, so matching a document does no parsing, validation or dispatch. Inside, a selector node is a pair
``(key, arg)``: one operator (``"$gt"``, ``"$and"``, ...) or one field name with its condition.

1. ``_norm_ops`` validates every operator and its argument (``BadRequest`` with CouchDB's ``error`` names:
   ``bad_arg``, ``invalid_operator``, ``not_supported``) and makes the implicit explicit: an object of several
   keys is an ``$and`` of one-key objects, and a bare value is ``{"$eq": value}``.
2. ``_norm_fields`` pushes field names down through ``$and``/``$or``/``$not``/``$nor`` to the operators,
   joining nested names with dots: ``{"a": {"b": {"$gt": 1}}}`` becomes ``{"a.b": {"$gt": 1}}``.
   ``$elemMatch``, ``$allMatch`` and ``$keyMapMatch`` start a fresh path for their argument; a condition
   with no field name there has the field ``""``, the value itself.
3. ``_norm_negations`` pushes ``$not`` and ``$nor`` down to the leaves by De Morgan's laws and by flipping
   operators (``$lt`` to ``$gte``, ``$in`` to ``$nin``, ``$exists: true`` to ``false``...); what cannot be
   flipped keeps a ``$not``. Like CouchDB it does not descend into ``$elemMatch`` under a field.

Rules of matching (``mango_selector:match/3``), which the normalisation makes visible:

- A field that is missing matches only ``{"$exists": false}``. So ``$ne``, ``$nin`` and a negated condition
  never match a missing field: ``{"$not": {"x": 5}}`` becomes ``{"x": {"$ne": 5}}`` and needs ``x``.
- A path that runs into a scalar, or into an array with a name that is not an index, matches nothing, not
  even ``$exists: false``. Arrays are entered only by explicit index (``"tags.0"``), never implicitly.
- ``$eq``, ``$ne``, ``$gt``... compare by view collation (``collate``); only the top-level ``_id`` field uses
  raw (code point, Erlang term) order, as CouchDB does.
- ``$in``/``$nin`` against an array value test its elements; ``{"$and": []}``, ``{"$or": []}``,
  ``{"$nor": []}`` and ``{"$nin": []}`` match everything; ``{"$in": []}`` and ``{"$all": []}`` match
  nothing; ``$allMatch`` and ``$elemMatch`` need a non-empty array, ``$keyMapMatch`` a non-empty object.
- ``$all: [X]`` where X is an array also matches a value equal to X.

Deliberate differences from CouchDB: ``$regex`` is Python's ``re.search``, not PCRE (``(?P<name>...)``, not
``(?<name>...)``); ``$text`` is refused as unsupported (it needs a text index); ``$mod`` with divisor 0 is a
``bad_arg`` (CouchDB crashes); field names with empty parts (``"a..b"``) are refused up front rather than at
match time; a ``$nor`` left inside ``$elemMatch`` is evaluated rather than refused; the member tests of
``$all`` treat ``1`` and ``1.0`` as equal.

Collation (``couch_ejson_compare.erl``)
---------------------------------------
``null < false < true < numbers < strings < arrays < objects``. Numbers compare by value (``1 == 1.0``);
arrays element by element, a prefix first; objects member by member in their order, key then value, a prefix
first. CouchDB compares strings with ICU's root collation (the Unicode Collation Algorithm); we approximate it
in three levels plus a tie-break, which is exact for the documented ASCII order and close elsewhere:

1. primary: characters decomposed (NFD) and case-folded, weighted by class: whitespace and controls, then
   punctuation and symbols (ASCII ones in the order the CouchDB docs list), then digits by value, then
   everything else (letters) by code point of the folded character; U+FFFF last of all, as in ICU;
2. secondary: the accents (combining marks) of each character;
3. tertiary: lower case before upper case;
4. finally code points, so that only identical strings are equal and ``collate`` is a total order.

``sort_key(value)`` is a plain tuple with the same order as ``collate``, for ``sorted`` and views.
"""

import functools
import operator
import re
import unicodedata
from collections.abc import Callable

from browsercouch.errors import BadRequest

__all__ = ["compile_selector", "normalize", "compile_node", "node_to_json", "parse_field", "get_field",
           "collate", "sort_key", "erlang_term", "NOT_FOUND", "BAD_PATH"]

# ---------------------------------------------------------------------------------------------------------
# Collation

# The ASCII punctuation and symbols in the order ICU sorts them, from the CouchDB docs' collation page.
ASCII_SYMBOL_ORDER = "`^_-,;:!?.'\"()[]{}@*/\\&#%+<=>|~$"
_SYMBOL_RANK = {ch: rank for rank, ch in enumerate(ASCII_SYMBOL_ORDER)}
# Primary weights are ``class << _CLASS_SHIFT | weight``; every weight (a code point at most) fits below it.
_CLASS_SHIFT = 22
_SPACE, _SYMBOL, _DIGIT, _LETTER = (n << _CLASS_SHIFT for n in range(4))
# Non-ASCII symbols sort after the ASCII ones, digits without a decimal value after 0-9.
_AFTER_ASCII = 0x80
# U+FFFF has the highest primary weight in ICU's root collation (CouchDB's $beginsWith range ends with it).
_LAST, _HIGHEST = "\uffff", _LETTER | ((1 << _CLASS_SHIFT) - 1)
# String sort keys are kept for this many distinct strings (view keys and selector values repeat a lot).
STRING_KEY_CACHE_SIZE = 4096


def _symbol(ch: str) -> int:
    return _SYMBOL | (_AFTER_ASCII + ord(ch))


def _digit(ch: str) -> int:
    value = unicodedata.digit(ch, None)
    return _DIGIT | (value if value is not None else _AFTER_ASCII + ord(ch))


_PRIMARY_BY_CATEGORY = {
    "Z": lambda ch: _SPACE | ord(ch),
    "C": lambda ch: _SPACE | ord(ch),
    "P": _symbol,
    "S": _symbol,
    "N": _digit,
}


def _primary(ch: str) -> int:
    if ch == _LAST:
        return _HIGHEST
    rank = _SYMBOL_RANK.get(ch)
    if rank is not None:
        return _SYMBOL | rank
    weigh = _PRIMARY_BY_CATEGORY.get(unicodedata.category(ch)[0])
    return weigh(ch) if weigh is not None else _LETTER | ord(ch)


@functools.lru_cache(maxsize=STRING_KEY_CACHE_SIZE)
def _string_key(text: str) -> tuple:
    """The four-level UCA-like key of a string (see the module docstring)."""
    primary: list[int] = []
    secondary: list[tuple[int, ...]] = []
    tertiary: list[int] = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch) and secondary:
            secondary[-1] += (ord(ch),)
            continue
        folded = ch.casefold()
        primary.extend(_primary(c) for c in folded)
        secondary.append(())
        tertiary.append(0 if folded == ch else 1)
    return tuple(primary), tuple(secondary), tuple(tertiary), text


def _object_key(value: dict) -> tuple:
    return 6, tuple((_string_key(k), sort_key(v)) for k, v in value.items())


_SORT_KEYS = {
    type(None): lambda value: (0,),
    bool: lambda value: (2,) if value else (1,),
    int: lambda value: (3, value),
    float: lambda value: (3, value),
    str: lambda value: (4, _string_key(value)),
    list: lambda value: (5, tuple(map(sort_key, value))),
    dict: _object_key,
}


def _for_type(value, table: dict):
    """The entry of ``table`` for ``value``'s JSON type (subclasses too); ``TypeError`` if it has none."""
    entry = table.get(type(value))
    if entry is not None:
        return entry
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return table[kind]
    raise TypeError(f"not a JSON value: {value!r}")


def sort_key(value) -> tuple:
    """A key ordering decoded JSON values as CouchDB views collate them: ``a < b`` iff ``collate(a, b) < 0``.

    Raises ``TypeError`` for anything that is not None, bool, int, float, str, list or dict.
    """
    return _for_type(value, _SORT_KEYS)(value)


def collate(a, b) -> int:
    """-1, 0 or 1 as ``a`` sorts before, with or after ``b`` in CouchDB's view collation."""
    ka, kb = sort_key(a), sort_key(b)
    return (ka > kb) - (ka < kb)


# Erlang term order, which CouchDB's "raw" collation and Mango's ``_id`` comparisons use:
# number < atom (false < null < true, by name) < tuple (our objects) < list < binary (strings, by code point).
_RAW_KEYS = {
    type(None): lambda value: (1, "null"),
    bool: lambda value: (1, "true" if value else "false"),
    int: lambda value: (0, value),
    float: lambda value: (0, value),
    dict: lambda value: (2, tuple((k, raw_key(v)) for k, v in value.items())),
    list: lambda value: (3, tuple(map(raw_key, value))),
    str: lambda value: (4, value),
}


def raw_key(value) -> tuple:
    return _for_type(value, _RAW_KEYS)(value)


# ---------------------------------------------------------------------------------------------------------
# Errors, as ``mango_error:info/2`` words them


def _erlang_float(value: float) -> str:
    """A float as Erlang's ``~w`` writes it: always a ``.`` in the mantissa, ``e-5`` not ``e-05``."""
    mantissa, _, exponent = repr(value).partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa


def erlang_term(value) -> str:
    """Decoded JSON as CouchDB's error reasons show it (``io_lib:format("~w")`` of its EJSON): strings are
    binaries of UTF-8 bytes (``<<97,98>>``), objects ``{[{Key,Value}]}``."""
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _erlang_float(value)
    if isinstance(value, str):
        return "<<" + ",".join(map(str, value.encode("utf-8", "surrogatepass"))) + ">>"
    if isinstance(value, list):
        return "[" + ",".join(map(erlang_term, value)) + "]"
    members = (f"{{{erlang_term(k)},{erlang_term(v)}}}" for k, v in value.items())
    return "{[" + ",".join(members) + "]}"


def _show(value) -> str:
    return erlang_term(value)


def _bad_arg(op: str, arg) -> BadRequest:
    return BadRequest(f"Bad argument for operator {op}: {_show(arg)}", error="bad_arg")


# ---------------------------------------------------------------------------------------------------------
# Pass 1: operators (``norm_ops/1``)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _selector_list(op, arg):
    if not isinstance(arg, list):
        raise _bad_arg(op, arg)
    return [_norm_ops(a) for a in arg]


def _sub_selector(op, arg):
    if not isinstance(arg, dict):
        raise _bad_arg(op, arg)
    return _norm_ops(arg)


def _checked(accept: Callable[[object], bool]) -> Callable:
    """A normaliser that passes ``arg`` through when ``accept(arg)``, else raises ``bad_arg``."""

    def normalise(op, arg):
        if not accept(arg):
            raise _bad_arg(op, arg)
        return arg

    return normalise


def _prefix(op, arg):
    """``$beginsWith``: a non-string is an unknown operator to CouchDB, a lone surrogate a bad argument."""
    if not isinstance(arg, str):
        raise BadRequest(f"Invalid operator: {op}", error="invalid_operator")
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad_arg(op, arg) from None
    return arg


def _compiles(arg) -> bool:
    try:
        re.compile(arg)
    except re.error:
        return False
    return True


_NORMALISERS = {
    "$and": _selector_list,
    "$or": _selector_list,
    "$nor": _selector_list,
    "$not": _sub_selector,
    "$elemMatch": _sub_selector,
    "$allMatch": _sub_selector,
    "$keyMapMatch": _sub_selector,
    "$in": _checked(lambda arg: isinstance(arg, list)),
    "$nin": _checked(lambda arg: isinstance(arg, list)),
    "$all": _checked(lambda arg: isinstance(arg, list)),
    "$exists": _checked(lambda arg: isinstance(arg, bool)),
    "$type": _checked(lambda arg: isinstance(arg, str)),
    "$size": _checked(lambda arg: _is_int(arg) and arg >= 0),
    "$mod": _checked(lambda arg: isinstance(arg, list) and len(arg) == 2 and all(map(_is_int, arg))
                     and arg[0] != 0),
    "$regex": _checked(lambda arg: isinstance(arg, str) and _compiles(arg)),
    "$beginsWith": _prefix,
    **{op: _checked(lambda arg: True) for op in ("$lt", "$lte", "$eq", "$ne", "$gte", "$gt")},
}
# Known to CouchDB but refused: geo and ``$where`` there too, ``$text`` here because it needs a text index.
_UNSUPPORTED = frozenset(["$where", "$geoWithin", "$geoIntersects", "$near", "$nearSphere", "$text"])


def _norm_operator(op: str, arg) -> tuple:
    normalise = _NORMALISERS.get(op)
    if normalise is not None:
        return op, normalise(op, arg)
    if op in _UNSUPPORTED:
        raise BadRequest(f"Unsupported operator: {op}", error="not_supported")
    raise BadRequest(f"Invalid operator: {op}", error="invalid_operator")


def _norm_ops(selector) -> tuple:
    """Validate and make explicit: one ``(key, arg)`` node per operator or field."""
    if not isinstance(selector, dict) or not selector:
        return "$eq", selector
    if len(selector) > 1:
        return "$and", [_norm_ops({key: value}) for key, value in selector.items()]
    ((key, arg),) = selector.items()
    if key.startswith("$"):
        return _norm_operator(key, arg)
    return key, _norm_ops(arg)


# ---------------------------------------------------------------------------------------------------------
# Pass 2: field names (``norm_fields/2``)

_COMBINATORS = frozenset(["$and", "$or", "$nor"])
_ELEMENT_MATCHERS = frozenset(["$elemMatch", "$allMatch", "$keyMapMatch"])


def _norm_fields(node: tuple, path: str = "") -> tuple:
    """Push field names down to the operators they apply to, joined with dots."""
    key, arg = node
    if key in _COMBINATORS:
        return key, [_norm_fields(a, path) for a in arg]
    if key == "$not":
        return key, _norm_fields(arg, path)
    if key in _ELEMENT_MATCHERS:
        return path, (key, _norm_fields(arg))
    if key.startswith("$"):
        return path, node
    return _norm_fields(arg, f"{path}.{key}" if path else key)


# ---------------------------------------------------------------------------------------------------------
# Pass 3: negations (``norm_negations/1``, ``negate/1``)

_FLIPPED = {
    "$lt": "$gte", "$lte": "$gt", "$eq": "$ne", "$ne": "$eq", "$gte": "$lt", "$gt": "$lte",
    "$in": "$nin", "$nin": "$in",
}


def _norm_negations(node: tuple) -> tuple:
    """Remove ``$not`` and ``$nor`` where De Morgan and operator flips can."""
    key, arg = node
    if key == "$not":
        return _negate(arg)
    if key == "$nor":
        return "$and", [_negate(a) for a in arg]
    if key in ("$and", "$or"):
        return key, [_norm_negations(a) for a in arg]
    return node


_NEGATORS = {
    "$not": _norm_negations,
    "$nor": lambda args: ("$or", [_norm_negations(a) for a in args]),
    "$and": lambda args: ("$or", [_negate(a) for a in args]),
    "$or": lambda args: ("$and", [_negate(a) for a in args]),
    "$exists": lambda arg: ("$exists", not arg),
}


def _negate(node: tuple) -> tuple:
    """The node matching where ``node`` does not (except on missing fields, which match neither)."""
    key, arg = node
    negator = _NEGATORS.get(key)
    if negator is not None:
        return negator(arg)
    if key in _FLIPPED:
        return _FLIPPED[key], arg
    if key.startswith("$"):
        return "$not", node
    return key, _negate(arg)


# ---------------------------------------------------------------------------------------------------------
# Fields (``mango_util:parse_field/1``, ``mango_doc:get_field/2``)

_UNESCAPED_DOT = re.compile(r"(?<!\\)\.")
_ARRAY_INDEX = re.compile(r"[+-]?[0-9]+")
NOT_FOUND = object()
BAD_PATH = object()


def parse_field(field: str) -> tuple[str, ...]:
    """A dotted field name as path parts; ``\\.`` is a literal dot and other backslashes are dropped."""
    if field == "":
        return ()
    parts = field.split(".") if "\\" not in field else _UNESCAPED_DOT.split(field)
    if "" in parts:
        raise BadRequest(f"Invalid field name: {field}", error="invalid_field_name")
    return tuple(part.replace("\\", "") for part in parts)


def get_field(value, path: tuple[str, ...]):
    """The value at ``path``, ``NOT_FOUND`` for a missing member, ``BAD_PATH`` for an impossible step."""
    for part in path:
        if isinstance(value, dict):
            if part not in value:
                return NOT_FOUND
            value = value[part]
        elif isinstance(value, list) and _ARRAY_INDEX.fullmatch(part) and 0 <= int(part) < len(value):
            value = value[int(part)]
        else:
            return BAD_PATH
    return value


# ---------------------------------------------------------------------------------------------------------
# Compilation into matchers (``match/3``). ``raw`` selects Erlang term order instead of collation.

Matcher = Callable[[object], bool]


def _compile_field(field: str, cond: tuple, raw: bool) -> Matcher:
    path = parse_field(field)
    inner = _compile(cond, raw or field == "_id")
    missing = cond == ("$exists", False)

    def match(value) -> bool:
        found = get_field(value, path)
        if found is NOT_FOUND:
            return missing
        return found is not BAD_PATH and inner(found)

    return match


def _compile_and(args, raw) -> Matcher:
    matchers = [_compile(a, raw) for a in args]
    return lambda value: all(m(value) for m in matchers)


def _compile_or(args, raw) -> Matcher:
    matchers = [_compile(a, raw) for a in args]
    return lambda value: not matchers or any(m(value) for m in matchers)


def _compile_nor(args, raw) -> Matcher:
    matchers = [_compile(a, raw) for a in args]
    return lambda value: not any(m(value) for m in matchers)


def _compile_not(arg, raw) -> Matcher:
    inner = _compile(arg, raw)
    return lambda value: not inner(value)


def _compile_elem_match(arg, raw) -> Matcher:
    inner = _compile(arg, raw)
    return lambda value: isinstance(value, list) and any(map(inner, value))


def _compile_all_match(arg, raw) -> Matcher:
    inner = _compile(arg, raw)
    return lambda value: isinstance(value, list) and bool(value) and all(map(inner, value))


def _compile_key_map_match(arg, raw) -> Matcher:
    inner = _compile(arg, raw)
    return lambda value: isinstance(value, dict) and any(map(inner, value))


def _json_eq(a, b) -> bool:
    """JSON equality: like ``==`` but booleans are not numbers (``True != 1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_json_eq, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_json_eq(v, b[k]) for k, v in a.items())
    return not isinstance(b, (list, dict)) and a == b


def _compile_all(args, raw) -> Matcher:
    whole = args[0] if len(args) == 1 and isinstance(args[0], list) else None

    def match(value) -> bool:
        if not args:
            return False
        if whole is not None and _json_eq(whole, value):
            return True
        return isinstance(value, list) and all(any(_json_eq(a, v) for v in value) for a in args)

    return match


def _comparison(compare: Callable[[tuple, tuple], bool]) -> Callable[[object, bool], Matcher]:
    def compile_(arg, raw) -> Matcher:
        key = raw_key if raw else sort_key
        target = key(arg)
        return lambda value: compare(key(value), target)

    return compile_


def _membership(wanted: bool) -> Callable[[object, bool], Matcher]:
    """``$in`` (``wanted``) or ``$nin``: is the value, or any element of an array value, one of ``args``?"""

    def compile_(args, raw) -> Matcher:
        key = raw_key if raw else sort_key
        targets = frozenset(map(key, args))

        def match(value) -> bool:
            values = value if isinstance(value, list) else [value]
            return any(key(v) in targets for v in values) is wanted

        return match

    return compile_


_TYPE_NAMES = {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string",
               list: "array", dict: "object"}


def _type_name(value) -> str:
    return _for_type(value, _TYPE_NAMES)


def _erlang_rem(value: int, divisor: int) -> int:
    """Erlang's ``rem``: the remainder takes the sign of the dividend (Python's ``%`` takes the divisor's)."""
    remainder = abs(value) % abs(divisor)
    return remainder if value >= 0 else -remainder


def _compile_mod(arg, raw) -> Matcher:
    divisor, remainder = arg
    return lambda value: _is_int(value) and _erlang_rem(value, divisor) == remainder


def _compile_regex(arg, raw) -> Matcher:
    search = re.compile(arg).search
    return lambda value: isinstance(value, str) and search(value) is not None


_COMPILERS: dict[str, Callable[[object, bool], Matcher]] = {
    "$and": _compile_and,
    "$or": _compile_or,
    "$nor": _compile_nor,
    "$not": _compile_not,
    "$elemMatch": _compile_elem_match,
    "$allMatch": _compile_all_match,
    "$keyMapMatch": _compile_key_map_match,
    "$all": _compile_all,
    "$lt": _comparison(operator.lt),
    "$lte": _comparison(operator.le),
    "$eq": _comparison(operator.eq),
    "$ne": _comparison(operator.ne),
    "$gte": _comparison(operator.ge),
    "$gt": _comparison(operator.gt),
    "$in": _membership(True),
    "$nin": _membership(False),
    # A value reaching an operator exists: a missing field stops at the field (``_compile_field``).
    "$exists": lambda arg, raw: lambda value: arg,
    "$type": lambda arg, raw: lambda value: _type_name(value) == arg,
    "$size": lambda arg, raw: lambda value: isinstance(value, list) and len(value) == arg,
    "$mod": _compile_mod,
    "$regex": _compile_regex,
    "$beginsWith": lambda arg, raw: lambda value: isinstance(value, str) and value.startswith(arg),
}


def _compile(node: tuple, raw: bool) -> Matcher:
    key, arg = node
    compiler = _COMPILERS.get(key)
    if compiler is None:
        return _compile_field(key, arg, raw)
    return compiler(arg, raw)


def normalize(selector: dict) -> tuple:
    """Validate a non-empty Mango selector and return its normalised node ``(key, arg)`` (see the module
    docstring), as ``mango_selector:normalize/1`` does; raises as ``compile_selector`` says."""
    if not isinstance(selector, dict):
        reason = f"Selector must be a JSON object, not: {_show(selector)}"
        raise BadRequest(reason, error="invalid_selector_json")
    node = _norm_negations(_norm_fields(_norm_ops(selector)))
    if node[0] == "":
        raise BadRequest("One or more conditions is missing a field name.", error="invalid_selector")
    _check_fields(node)
    return node


def _check_fields(node: tuple) -> None:
    """Refuse bad field names at normalisation, where ``compile_node`` would only meet them later."""
    key, arg = node
    if key in _COMBINATORS:
        for child in arg:
            _check_fields(child)
    elif key == "$not":
        _check_fields(arg)
    elif not key.startswith("$"):
        parse_field(key)
        if isinstance(arg, tuple) and arg[0] in _ELEMENT_MATCHERS:
            _check_fields(arg[1])


def compile_node(node: tuple | None) -> Callable[[dict], bool]:
    """A matcher for a node of ``normalize`` (``None``, the empty selector, matches everything)."""
    if node is None:
        return lambda doc: True
    return _compile(node, False)


def node_to_json(node: tuple | None):
    """A normalised node back as JSON, as CouchDB shows a normalised selector (``_explain``, indexes)."""
    if node is None:
        return {}
    key, arg = node
    if key in _COMBINATORS:
        return {key: [node_to_json(child) for child in arg]}
    if key == "$not" or not key.startswith("$"):
        return {key: node_to_json(arg)}
    if key in _ELEMENT_MATCHERS:
        return {key: node_to_json(arg)}
    return {key: arg}


def compile_selector(selector: dict) -> Callable[[dict], bool]:
    """Validate a Mango selector and return a function telling whether a document matches it.

    ``selector`` is decoded JSON; ``{}`` matches every document. The returned function takes a decoded
    document (a dict) and returns a bool; it does not mutate it. Raises ``BadRequest`` (400) for a selector
    that is not an object, an unknown or unsupported operator, an operator argument of the wrong type, a
    condition without a field name, or an invalid field name; ``error`` is CouchDB's name for the problem.
    """
    if isinstance(selector, dict) and not selector:
        return lambda doc: True
    return compile_node(normalize(selector))
