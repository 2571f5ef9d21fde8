"""JSON in and out with the values that break other parsers or our own storage refused.

Python's json module accepts ``NaN``, ``Infinity`` and ``1e400`` (which becomes inf), lone
UTF-16 surrogates (``"\\ud800"``, which SQLite and file names cannot encode) and integers of any
length (the 4,300-digit guard then raises a ValueError), and it writes ``Infinity``, which a
browser's JSON.parse rejects. A request body is checked once, here, so no such value reaches
the queue, the history or a node; what we write is always standard JSON.
"""
from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64
"""Far deeper than any workflow (a node's ``ui`` is two or three levels), far below the
recursion limit of the code that later walks the value."""
MAX_INT_DIGITS = 40
"""Enough for any 128-bit value; seeds are 64-bit."""


class UnsafeJson(ValueError):
    """A value that parses but must not be accepted; the message names where it is."""


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses non-finite numbers, huge integers, lone surrogates and deep
    nesting. Raises :class:`json.JSONDecodeError` or :class:`UnsafeJson`."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                           parse_int=_bounded_int)
    except RecursionError:
        raise UnsafeJson(f"the JSON is nested more than {MAX_DEPTH} levels deep") from None
    check_value(value)
    return value


def check_value(value: Any, where: str = "body") -> None:
    """Raise :class:`UnsafeJson` for a lone surrogate, a non-finite float or nesting deeper
    than MAX_DEPTH anywhere in ``value`` (iteratively: depth is what is being checked)."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UnsafeJson(f"{path} is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, float) and not math.isfinite(item):
            raise UnsafeJson(f"{path} is not a finite number")
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(str(key), f"{path} (a key)")
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))


def dumps(value: Any) -> str:
    """Standard JSON: non-finite floats become null, unknown objects their ``str``."""
    try:
        return json.dumps(value, allow_nan=False, default=str)
    except ValueError:  # a NaN or infinity somewhere in a node's result
        return json.dumps(_finite(value), allow_nan=False, default=str)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeJson(f"{_short(path)} contains a lone UTF-16 surrogate (not a "
                         "character)") from None


def _short(path: str) -> str:
    """A path for a message: keys that are themselves bad are cut, not echoed."""
    return path.encode("utf-8", "replace").decode("utf-8")[:300]


def _refuse_constant(name: str) -> Any:
    raise UnsafeJson(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsafeJson(f"the number {text[:40]} is too large")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise UnsafeJson(f"an integer of {len(text)} digits is too long (the limit is "
                         f"{MAX_INT_DIGITS})")
    return int(text)
