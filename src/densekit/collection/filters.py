"""Metadata filters: a ``where`` dict becomes a parameterised SQL condition over the JSON metadata.

    {"category": "tech"}                      equality
    {"category": {"$in": ["tech", "sport"]}}  membership (also $nin)
    {"year": {"$gte": 2004, "$lt": 2006}}     comparisons ($ne, $gt, $gte, $lt, $lte)
Several keys must all hold. Values are bound as parameters, never pasted into SQL.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import InvalidInputError
from ..limits import check_where_size

_KEY = re.compile(r"^[\w.\- ]+$")
_COMPARISONS = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
OPERATORS = sorted([*_COMPARISONS, "$in", "$nin"])


def _scalar(key: str, value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)  # SQLite's json_extract gives 0/1 for JSON booleans
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise InvalidInputError(
        f"filter value for {key!r} is {type(value).__name__} ({value!r:.40}); expected a string, number, "
        f"boolean or null, or a dict with one of {', '.join(OPERATORS)}"
    )


def where_to_sql(where: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """Return (condition, parameters) for the items table; ("1", []) when there is no filter.

    Example:
        >>> where_to_sql({"lang": "en"})
        ('json_extract(metadata, ?) IS ?', ['$."lang"', 'en'])
    """
    if not where:
        return "1", []
    if not isinstance(where, dict):
        raise InvalidInputError(f"where must be a dict of metadata key -> value, got {type(where).__name__}")
    check_where_size(where)  # bounded keys, values and lengths (densekit.limits)
    clauses: list[str] = []
    parameters: list[Any] = []
    for key, condition in where.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise InvalidInputError(
                f"metadata key {key!r} is not allowed in a filter; use letters, digits, '_', '.', '-' or spaces"
            )
        path = f'$."{key}"'
        if not isinstance(condition, dict):
            clauses.append("json_extract(metadata, ?) IS ?")
            parameters += [path, _scalar(key, condition)]
            continue
        if not condition:
            raise InvalidInputError(f"filter for {key!r} is an empty dict; expected one of {', '.join(OPERATORS)}")
        for operator, value in condition.items():
            if operator in _COMPARISONS:
                sql_operator = {"=": "IS", "!=": "IS NOT"}.get(_COMPARISONS[operator], _COMPARISONS[operator])
                clauses.append(f"json_extract(metadata, ?) {sql_operator} ?")
                parameters += [path, _scalar(key, value)]
            elif operator in ("$in", "$nin"):
                if not isinstance(value, (list, tuple)) or not value:
                    raise InvalidInputError(
                        f"{operator} for {key!r} needs a non-empty list, got {value!r:.60}"
                    )
                marks = ", ".join("?" for _ in value)
                negate = "NOT " if operator == "$nin" else ""
                clauses.append(f"json_extract(metadata, ?) {negate}IN ({marks})")
                parameters += [path, *(_scalar(key, item) for item in value)]
            else:
                raise InvalidInputError(
                    f"unknown filter operator {operator!r} for {key!r}; valid: {', '.join(OPERATORS)}"
                )
    return " AND ".join(clauses), parameters


def parse_where_options(options: list[str] | None) -> dict[str, Any]:
    """Turn CLI ``--where key=value`` options into a where dict (``key=a,b`` means $in; values may be JSON).

    Example:
        >>> parse_where_options(["category=tech,sport", "year=2005"])
        {'category': {'$in': ['tech', 'sport']}, 'year': 2005}
    """
    where: dict[str, Any] = {}
    for option in options or []:
        key, separator, raw = option.partition("=")
        if not separator or not key:
            raise InvalidInputError(f"--where {option!r} is not key=value")
        values = [_parse_value(part) for part in raw.split(",")] if "," in raw else [_parse_value(raw)]
        where[key.strip()] = {"$in": values} if len(values) > 1 else values[0]
    return where


def _parse_value(raw: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, (int, float, bool)) or value is None else raw
