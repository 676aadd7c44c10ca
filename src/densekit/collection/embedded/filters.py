"""Parsed ``where`` conditions as a parameterised SQLite condition over the JSON metadata column."""

from __future__ import annotations

from typing import Any

from ..where import Condition, parse_where

_SQL = {"$eq": "IS", "$ne": "IS NOT", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _bound(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value  # json_extract gives 0/1 for JSON booleans


def conditions_to_sql(conditions: list[Condition]) -> tuple[str, list[Any]]:
    """Return (condition, parameters) for the items table; ("1", []) when there are no conditions."""
    if not conditions:
        return "1", []
    clauses: list[str] = []
    parameters: list[Any] = []
    for condition in conditions:
        path = f'$."{condition.key}"'
        if condition.operator in _SQL:
            clauses.append(f"json_extract(metadata, ?) {_SQL[condition.operator]} ?")
            parameters += [path, _bound(condition.value)]
        else:
            marks = ", ".join("?" for _ in condition.value)
            negate = "NOT " if condition.operator == "$nin" else ""
            clauses.append(f"json_extract(metadata, ?) {negate}IN ({marks})")
            parameters += [path, *(_bound(value) for value in condition.value)]
    return " AND ".join(clauses), parameters


def where_to_sql(where: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """``conditions_to_sql`` of a ``where`` dict.

    Example:
        >>> where_to_sql({"lang": "en"})
        ('json_extract(metadata, ?) IS ?', ['$."lang"', 'en'])
    """
    return conditions_to_sql(parse_where(where))
