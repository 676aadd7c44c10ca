"""Metadata filters (``where``), parsed and validated once for every store.

    {"category": "tech"}                      equality
    {"category": {"$in": ["tech", "sport"]}}  membership (also $nin)
    {"year": {"$gte": 2004, "$lt": 2006}}     comparisons ($ne, $gt, $gte, $lt, $lte)
Several keys must all hold. A store compiles the parsed conditions into its own query language
(``Collection._compile_filter``), binding values as parameters, never pasting them into a query.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputError

KEY_PATTERN = re.compile(r"^[\w.\- ]+$")


def check_index_key(key: Any) -> str:
    """``key`` if the stores can index it (letters, digits, '_', '.', '-' or spaces), else InvalidInputError."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InvalidInputError(f"metadata key {key!r} cannot be indexed; use letters, digits, '_', '.', '-' or spaces")
    return key


COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
MEMBERSHIP = ("$in", "$nin")
OPERATORS = sorted([*COMPARISONS, *MEMBERSHIP])


@dataclass(frozen=True)
class Condition:
    """One test on one metadata key: ``operator`` is one of OPERATORS; ``value`` a scalar (None
    included), or a tuple of scalars for $in / $nin."""

    key: str
    operator: str
    value: Any


def parse_where(where: Any) -> list[Condition]:
    """The conditions of a ``where`` dict (all must hold); [] when there is no filter.

    Example:
        >>> parse_where({"year": {"$gte": 2004}, "lang": "en"})
        [Condition(key='year', operator='$gte', value=2004), Condition(key='lang', operator='$eq', value='en')]
    """
    if not where:
        return []
    if not isinstance(where, dict):
        raise InvalidInputError(f"where must be a dict of metadata key -> value, got {type(where).__name__}")
    from ..limits import check_where_size

    check_where_size(where)  # bounded keys, values and lengths
    conditions: list[Condition] = []
    for key, test in where.items():
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            raise InvalidInputError(
                f"metadata key {key!r} is not allowed in a filter; use letters, digits, '_', '.', '-' or spaces"
            )
        if not isinstance(test, dict):
            conditions.append(Condition(key, "$eq", _scalar(key, test)))
            continue
        if not test:
            raise InvalidInputError(f"filter for {key!r} is an empty dict; expected one of {', '.join(OPERATORS)}")
        for operator, value in test.items():
            if operator in COMPARISONS:
                conditions.append(Condition(key, operator, _scalar(key, value)))
            elif operator in MEMBERSHIP:
                if not isinstance(value, (list, tuple)) or not value:
                    raise InvalidInputError(f"{operator} for {key!r} needs a non-empty list, got {value!r:.60}")
                conditions.append(Condition(key, operator, tuple(_scalar(key, item) for item in value)))
            else:
                raise InvalidInputError(f"unknown filter operator {operator!r} for {key!r}; valid: {', '.join(OPERATORS)}")
    return conditions


def _scalar(key: str, value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise InvalidInputError(
        f"filter value for {key!r} is {type(value).__name__} ({value!r:.40}); expected a string, number, "
        f"boolean or null, or a dict with one of {', '.join(OPERATORS)}"
    )


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
