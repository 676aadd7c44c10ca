"""densekit.limits: k and filter bounds with one-line errors, configurable like index.max_result_window."""

from __future__ import annotations

import math

import numpy as np
import pytest

from densekit.errors import InvalidInputError
from densekit.limits import DEFAULT_MAX_K, MAX_WHERE_KEYS, MAX_WHERE_VALUES, check_count, check_where_size, max_k


@pytest.mark.parametrize("k", [0, -1, DEFAULT_MAX_K + 1, 10**9, 99999999999999999999, 2.5, "5", None, True])
def test_out_of_range_or_non_integer_k_is_one_clear_error(k):
    with pytest.raises(InvalidInputError, match=r"^k (is \d+; at most 10000|must be a positive integer)") as raised:
        check_count(k)
    assert "\n" not in str(raised.value)


def test_k_bound_is_configurable(monkeypatch):
    assert check_count(DEFAULT_MAX_K) == DEFAULT_MAX_K and check_count(np.int64(3)) == 3
    monkeypatch.setenv("DENSEKIT_MAX_K", "50")
    assert max_k() == 50
    with pytest.raises(InvalidInputError, match="at most 50"):
        check_count(51)
    monkeypatch.setenv("DENSEKIT_MAX_K", "lots")
    with pytest.raises(InvalidInputError, match="DENSEKIT_MAX_K='lots'"):
        max_k()


@pytest.mark.parametrize(
    "where, message",
    [
        ({f"k{i}": i for i in range(MAX_WHERE_KEYS + 1)}, "keys; at most"),
        ({"k": {"$in": list(range(MAX_WHERE_VALUES + 1))}}, "values; at most"),
        ({"k": math.nan}, "finite number"),
        ({"k": {"$gt": -math.inf}}, "finite number"),
        ({"k": {"$in": [1, math.inf]}}, "finite number"),
        ({"k": 2**64}, "64 bits"),
        ({"k": "x" * 5000}, "characters; at most"),
        ({"x" * 300: 1}, "characters; at most"),
        ({"k": "\ud800"}, "lone surrogate"),
    ],
)
def test_where_beyond_the_bounds_is_refused(where, message):
    with pytest.raises(InvalidInputError, match=message):
        check_where_size(where)


def test_where_within_the_bounds_passes():
    check_where_size({f"k{i}": {"$in": list(range(MAX_WHERE_VALUES))} for i in range(MAX_WHERE_KEYS)})
