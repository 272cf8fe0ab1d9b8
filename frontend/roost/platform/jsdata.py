"""Plain data between Python and JS (IndexedDB values, config.json, render.js).

Brython does not convert Python values deeply, and converts `None` to a
Python object rather than `null`; these helpers do both directions for the
JSON-like subset: None, bool, int, float, str, list/tuple, dict with str keys.
"""

from __future__ import annotations

import javascript  # type: ignore[import-not-found]
from browser import window  # type: ignore[import-not-found]

_NULL = javascript.NULL
_UNDEFINED = javascript.UNDEFINED


def _prepare(value: object) -> object:
    if value is None:
        return _NULL
    if isinstance(value, dict):
        return {str(k): _prepare(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_prepare(v) for v in value]
    return value


def to_js(value: object) -> object:
    """A JS value (objects/arrays/primitives) for JSON-like Python data."""
    return javascript.pyobj2jsobj(_prepare(value))


def to_py(value: object) -> object:
    """Python data (dict/list/str/int/float/bool/None) for a JSON-like JS value."""
    if value is None or value is _NULL or value is _UNDEFINED:
        return None
    if isinstance(value, (str, bool, int, float)):
        return value
    if window.Array.isArray(value):
        return [to_py(v) for v in value]  # type: ignore[attr-defined]
    return {k: to_py(value[k]) for k in window.Object.keys(value)}  # type: ignore[index]


def present(value: object) -> bool:
    """Not None, JS null or undefined."""
    return value is not None and value is not _NULL and value is not _UNDEFINED


def js_property(obj: object, name: str) -> object:
    """`obj[name]`, or None when it is missing, null or undefined (an API a
    browser doesn't have, or doesn't expose outside a secure context)."""
    try:
        value = getattr(obj, name)
    except AttributeError:
        return None
    return value if present(value) else None
