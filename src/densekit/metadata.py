"""Checking one item's metadata before any store sees it: JSON objects only, as SQLite and PostgreSQL keep them.

Refused, naming the item and the key: numbers that JSON cannot hold (NaN, Infinity, -Infinity,
which Python's json writes as invalid JSON that SQLite's json_extract and PostgreSQL's jsonb then
reject at every filtered search), strings that are not valid Unicode (a lone surrogate cannot be
stored as UTF-8), values that are not JSON at all, and nesting deeper than ``MAX_DEPTH``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import InvalidInputError

#: Deepest nesting of dicts and lists inside one metadata dict (the dict itself is level 1).
MAX_DEPTH = 32


#: ``json.dumps(metadata, ensure_ascii=False, sort_keys=True)``, the form stores and document hashes keep,
#: without making an encoder per call (an index run made two per chunk).
metadata_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def _describe(path: list[str | int]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else (f".{part}" if position else part)
                   for position, part in enumerate(path)) or "(top level)"


def _problem(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"is {value!r}; metadata numbers must be finite (JSON has no NaN or Infinity)"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            return f"holds a lone surrogate at character {error.start}; expected valid Unicode text"
    return None


def _plain(metadata: dict) -> bool:
    """True for a flat dict of string keys and string, whole-number, boolean, None or finite float values,
    all valid Unicode: storable as it is, nothing to walk. False says only "check it in full"."""
    for key, value in metadata.items():
        if type(key) is not str or not (key.isascii() or _problem(key) is None):
            return False
        kind = type(value)
        if kind is str:
            if not (value.isascii() or _problem(value) is None):
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif kind is not int and kind is not bool and value is not None:
            return False
    return True


def is_plain(metadata: Any) -> bool:
    """True for a dict ``check_metadata`` accepts at a glance (flat, plain values): a caller checking many
    items calls it first and builds the item's name for ``check_metadata`` only when it is False."""
    return type(metadata) is dict and _plain(metadata)


def check_metadata(metadata: Any, item: str = "metadata") -> dict[str, Any]:
    """Return ``metadata`` if it is a JSON-storable dict, else raise InvalidInputError naming ``item`` and the key.

    Args:
        metadata: one item's metadata.
        item: how the error names the item, e.g. ``"metadata 3 (id 'd1')"``.
    Example:
        >>> check_metadata({"year": 2005, "tags": ["a"]})
        {'year': 2005, 'tags': ['a']}
        >>> check_metadata({"score": float("nan")}, "item 'd1'")
        Traceback (most recent call last):
        densekit.errors.InvalidInputError: item 'd1': key score is nan; metadata numbers must be finite ...
    """
    if not isinstance(metadata, dict):
        raise InvalidInputError(f"{item} is {type(metadata).__name__}; expected a dict")
    if _plain(metadata):  # the common case (ingest checks every chunk's copy of its document's metadata)
        return metadata
    # Iterative walk: a hostile value nested 100,000 deep must not exhaust the interpreter's stack.
    stack: list[tuple[Any, list[str | int], int]] = [(metadata, [], 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, (dict, list, tuple)):
            if depth > MAX_DEPTH:
                raise InvalidInputError(f"{item}: key {_describe(path)} is nested more than {MAX_DEPTH} levels deep")
            if isinstance(value, dict):
                for key, child in value.items():
                    if isinstance(key, str) and (problem := _problem(key)):
                        raise InvalidInputError(f"{item}: key {key!r} {problem}")
                    stack.append((child, [*path, str(key)], depth + 1))
            else:
                stack += [(child, [*path, position], depth + 1) for position, child in enumerate(value)]
            continue
        problem = _problem(value)
        if problem:
            raise InvalidInputError(f"{item}: key {_describe(path)} {problem}")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"{item} is not JSON-serialisable: {error}") from error
    return metadata


def check_unicode(value: str, what: str) -> str:
    """Return ``value`` if it can be stored as UTF-8, else InvalidInputError naming ``what``.

    A JSON string may carry an escaped lone surrogate ("\\ud800"); Python keeps it, SQLite and
    PostgreSQL cannot store it.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise InvalidInputError(
                f"{what} holds a lone surrogate at character {error.start}; expected valid Unicode text"
            ) from error
    return value
