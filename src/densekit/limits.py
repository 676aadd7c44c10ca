"""The bounds every numeric and filter argument is held to, in one place, for both stores and every edge.

- ``k`` (hits per search) and search candidates: at most ``max_k()``, 10,000 by default, set by
  ``DENSEKIT_MAX_K`` (as Elasticsearch's ``index.max_result_window``). A k above the number of items
  simply returns them all; a k above the bound is an error, not a 7 GiB allocation.
- ``where`` filters: at most ``MAX_WHERE_KEYS`` keys, ``MAX_WHERE_VALUES`` values in one ``$in`` /
  ``$nin`` list, keys of ``MAX_KEY_CHARS`` characters, string values of ``MAX_VALUE_CHARS``, finite numbers
  only, and no nesting beyond ``{key: {operator: value}}``. SQLite's expression depth limit (1,000)
  and PostgreSQL's planner both grow with the clauses; these bounds keep every filter far below them.
"""

from __future__ import annotations

import math
import os
from typing import Any

from .errors import InvalidInputError

MAX_K_VARIABLE = "DENSEKIT_MAX_K"
DEFAULT_MAX_K = 10_000
MAX_WHERE_KEYS = 64
MAX_WHERE_VALUES = 1_024
MAX_KEY_CHARS = 256
MAX_VALUE_CHARS = 4_096


def max_k() -> int:
    """The largest k a search accepts: DENSEKIT_MAX_K, else 10,000."""
    raw = os.environ.get(MAX_K_VARIABLE)
    if not raw:
        return DEFAULT_MAX_K
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidInputError(f"{MAX_K_VARIABLE}={raw!r} is not a positive integer")
    return value


def check_count(value: Any, name: str = "k", *, most: int | None = None) -> int:
    """``value`` as an int if it is an integer in 1..``most`` (default ``max_k()``), else InvalidInputError.

    Example:
        >>> check_count(5)
        5
        >>> check_count(99999999999999999999)
        Traceback (most recent call last):
        densekit.errors.InvalidInputError: k is 99999999999999999999; at most 10000 (raise the bound with DENSEKIT_MAX_K)
    """
    import numpy as np

    most = max_k() if most is None else most
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r:.40}")
    if value > most:
        hint = f" (raise the bound with {MAX_K_VARIABLE})" if name in ("k", "candidates") else ""
        raise InvalidInputError(f"{name} is {value!r:.40}; at most {most}{hint}")
    return int(value)


def _check_value(key: str, value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(f"filter value for {key!r} is {value!r}; expected a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        raise InvalidInputError(f"filter value for {key!r} is {value!r:.40}; integers must fit in 64 bits")
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidInputError(
                f"filter value for {key!r} is {len(value)} characters; at most {MAX_VALUE_CHARS}"
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise InvalidInputError(f"filter value for {key!r} holds a lone surrogate; expected valid Unicode") from error


def check_where_size(where: Any) -> None:
    """Refuse a ``where`` beyond the bounds above, naming the first breach (the stores check the grammar)."""
    if not isinstance(where, dict):
        return
    if len(where) > MAX_WHERE_KEYS:
        raise InvalidInputError(f"where has {len(where)} keys; at most {MAX_WHERE_KEYS}")
    for key, condition in where.items():
        if isinstance(key, str) and len(key) > MAX_KEY_CHARS:
            raise InvalidInputError(f"where key {key[:40]!r}... is {len(key)} characters; at most {MAX_KEY_CHARS}")
        operations = condition.items() if isinstance(condition, dict) else [(None, condition)]
        for operator, value in operations:
            if isinstance(value, (list, tuple)) and operator in ("$in", "$nin"):
                if len(value) > MAX_WHERE_VALUES:
                    raise InvalidInputError(
                        f"{operator} for {key!r} has {len(value)} values; at most {MAX_WHERE_VALUES}"
                    )
                for item in value:
                    _check_value(key, item)
            else:
                _check_value(key, value)
