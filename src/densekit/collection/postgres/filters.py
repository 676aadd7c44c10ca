"""Parsed ``where`` conditions as parameterised SQL over the JSONB ``metadata`` column.

Parsing and validation are shared with every store (``densekit.collection.where``). Differences, by
design of JSONB: comparisons ($gt ...) hold only between values of the same JSON type (a number is
never "greater" than a string), and true never equals 1.
"""

from __future__ import annotations

import json
from typing import Any

from ..where import Condition, parse_where

_ORDER = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


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


def conditions_to_sql(conditions: list[Condition]) -> tuple[str, list[Any]]:
    """Return (condition, parameters) for the items table; ("TRUE", []) when there are no conditions."""
    if not conditions:
        return "TRUE", []
    clauses: list[str] = []
    parameters: list[Any] = []
    for condition in conditions:
        key, operator, value = condition.key, condition.operator, condition.value
        if operator == "$eq":
            clauses.append(_equal(key, value, parameters))
        elif operator == "$ne":
            clauses.append(f"NOT ({_equal(key, value, parameters)})")
        elif operator in _ORDER:
            if value is None:  # SQLite: any comparison with NULL is never true
                clauses.append("FALSE")
                continue
            clauses.append(f"(jsonb_typeof(metadata -> %s) = %s AND metadata -> %s {_ORDER[operator]} %s::jsonb)")
            parameters += [key, _json_type(value), key, json.dumps(value)]
        else:
            # As SQL's IN over SQLite's NULL for a missing key: neither $in nor $nin matches it.
            values = [json.dumps(item) for item in value if item is not None]
            negate = "NOT " if operator == "$nin" else ""
            clauses.append(
                f"(coalesce(metadata -> %s, 'null') <> 'null'::jsonb AND {negate}(metadata -> %s = ANY(%s::jsonb[])))"
            )
            parameters += [key, key, values]
    return " AND ".join(clauses), parameters


def where_to_sql(where: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """``conditions_to_sql`` of a ``where`` dict.

    Example:
        >>> where_to_sql({"lang": "en"})
        ('metadata @> %s::jsonb', ['{"lang": "en"}'])
    """
    return conditions_to_sql(parse_where(where))
