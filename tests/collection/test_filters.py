from __future__ import annotations

import pytest

from densekit.collection.embedded.filters import where_to_sql
from densekit.collection.where import parse_where_options
from densekit.errors import InvalidInputError


def test_sql_is_parameterised():
    condition, parameters = where_to_sql({"lang": "en", "year": {"$gte": 2000, "$in": [2001, 2002]}})
    assert "en" not in condition and "2000" not in condition
    assert parameters == ['$."lang"', "en", '$."year"', 2000, '$."year"', 2001, 2002]


@pytest.mark.parametrize(
    "where, message",
    [
        ({"a'; DROP TABLE items; --": 1}, "not allowed in a filter"),
        ({"a": {"$regex": "x"}}, r"unknown filter operator '\$regex'"),
        ({"a": {"$in": []}}, "needs a non-empty list"),
        ({"a": [1, 2]}, "expected a string, number, boolean or null"),
        ({"a": {}}, "empty dict"),
        ("a=1", "where must be a dict"),
    ],
)
def test_bad_filters(where, message):
    with pytest.raises(InvalidInputError, match=message):
        where_to_sql(where)


def test_cli_options():
    assert parse_where_options(["category=tech,sport", "year=2005", "flag=true", "name=Ann"]) == {
        "category": {"$in": ["tech", "sport"]},
        "year": 2005,
        "flag": True,
        "name": "Ann",
    }
    with pytest.raises(InvalidInputError, match="not key=value"):
        parse_where_options(["novalue"])
