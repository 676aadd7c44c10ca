"""``where`` dicts as parameterised SQL over the JSONB ``metadata`` column.

Same operators, same checks and same error messages as the embedded store's filters
(``densekit.collection.filters``); values are bound as parameters, never pasted into SQL.
Differences, by design of JSONB: comparisons ($gt ...) hold only between values of the same JSON
type (a number is never "greater" than a string), and true never equals 1.
"""

from __future__ import annotations

import json
from typing import Any

from ...errors import InvalidInputError
from ...limits import check_where_size
from ..filters import _KEY, OPERATORS

_ORDER = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _scalar(key: str, value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise InvalidInputError(
        f"filter value for {key!r} is {type(value).__name__} ({value!r:.40}); expected a string, number, "
        f"boolean or null, or a dict with one of {', '.join(OPERATORS)}"
    )


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def _equal(key: str, value: Any, parameters: list[Any]) -> str:
    if value is None:  # as SQLite's json_extract: a missing key and a JSON null both read as NULL
        parameters.append(key)
        return "coalesce(metadata -> %s, 'null') = 'null'::jsonb"
    # Containment is equality for scalars, and the GIN (jsonb_path_ops) index serves it.
    parameters.append(json.dumps({key: value}))
    return "metadata @> %s::jsonb"


def where_to_sql(where: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """Return (condition, parameters) for the items table; ("TRUE", []) when there is no filter.

    Example:
        >>> where_to_sql({"lang": "en"})
        ('metadata @> %s::jsonb', ['{"lang": "en"}'])
    """
    if not where:
        return "TRUE", []
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
        if not isinstance(condition, dict):
            clauses.append(_equal(key, _scalar(key, condition), parameters))
            continue
        if not condition:
            raise InvalidInputError(f"filter for {key!r} is an empty dict; expected one of {', '.join(OPERATORS)}")
        for operator, value in condition.items():
            if operator == "$eq":
                clauses.append(_equal(key, _scalar(key, value), parameters))
            elif operator == "$ne":
                clauses.append(f"NOT ({_equal(key, _scalar(key, value), parameters)})")
            elif operator in _ORDER:
                value = _scalar(key, value)
                if value is None:  # SQLite: any comparison with NULL is never true
                    clauses.append("FALSE")
                    continue
                clauses.append(f"(jsonb_typeof(metadata -> %s) = %s AND metadata -> %s {_ORDER[operator]} %s::jsonb)")
                parameters += [key, _json_type(value), key, json.dumps(value)]
            elif operator in ("$in", "$nin"):
                if not isinstance(value, (list, tuple)) or not value:
                    raise InvalidInputError(f"{operator} for {key!r} needs a non-empty list, got {value!r:.60}")
                # As SQL's IN over SQLite's NULL for a missing key: neither $in nor $nin matches it.
                values = [json.dumps(_scalar(key, item)) for item in value if item is not None]
                negate = "NOT " if operator == "$nin" else ""
                clauses.append(
                    f"(coalesce(metadata -> %s, 'null') <> 'null'::jsonb AND {negate}(metadata -> %s = ANY(%s::jsonb[])))"
                )
                parameters += [key, key, values]
            else:
                raise InvalidInputError(f"unknown filter operator {operator!r} for {key!r}; valid: {', '.join(OPERATORS)}")
    return " AND ".join(clauses), parameters
