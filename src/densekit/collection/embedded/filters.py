"""Parsed ``where`` conditions as a parameterised SQLite condition over the JSON metadata column."""

from __future__ import annotations

from typing import Any

from ...errors import InvalidInputError
from ..where import KEY_PATTERN, Condition, parse_where

_SQL = {"$eq": "IS", "$ne": "IS NOT", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _bound(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value  # json_extract gives 0/1 for JSON booleans


def key_expression(key: str) -> str:
    """The SQL expression of one metadata key. Its path is written into the SQL, not bound, so that an
    expression index on the key (``ContentStore.index_key``) serves the filter; keys passed
    ``where.KEY_PATTERN`` (letters, digits, '_', '.', '-', spaces: no quote can appear)."""
    if not KEY_PATTERN.match(key):
        raise InvalidInputError(f"metadata key {key!r} is not allowed; use letters, digits, '_', '.', '-' or spaces")
    return f"json_extract(metadata, '$.\"{key}\"')"


def conditions_to_sql(conditions: list[Condition]) -> tuple[str, list[Any]]:
    """Return (condition, parameters) for the items table; ("1", []) when there are no conditions."""
    if not conditions:
        return "1", []
    clauses: list[str] = []
    parameters: list[Any] = []
    for condition in conditions:
        extract = key_expression(condition.key)
        if condition.operator in _SQL:
            clauses.append(f"{extract} {_SQL[condition.operator]} ?")
            parameters.append(_bound(condition.value))
        else:
            marks = ", ".join("?" for _ in condition.value)
            negate = "NOT " if condition.operator == "$nin" else ""
            clauses.append(f"{extract} {negate}IN ({marks})")
            parameters += [_bound(value) for value in condition.value]
    return " AND ".join(clauses), parameters


def where_to_sql(where: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """``conditions_to_sql`` of a ``where`` dict.

    Example:
        >>> where_to_sql({"lang": "en"})
        ('json_extract(metadata, \'$."lang"\') IS ?', ['en'])
    """
    return conditions_to_sql(parse_where(where))
