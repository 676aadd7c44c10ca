"""check_metadata: every non-finite number, invalid string or over-deep value is refused, naming the key."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from densekit.errors import InvalidInputError
from densekit.metadata import MAX_DEPTH, check_metadata, is_plain, metadata_json

NON_FINITE = [math.nan, math.inf, -math.inf, float("nan"), json.loads("1e999"), json.loads("-1e999")]


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize(
    "place, key",
    [
        (lambda v: {"v": v}, "v"),
        (lambda v: {"a": {"b": v}}, "a.b"),
        (lambda v: {"list": [1, 2, v]}, "list[2]"),
        (lambda v: {"a": [{"b": [v]}]}, "a[0].b[0]"),
        (lambda v: {"t": (1, v)}, "t[1]"),
    ],
)
def test_non_finite_numbers_anywhere_are_refused_naming_the_key(value, place, key):
    with pytest.raises(InvalidInputError, match=rf"item 'd1': key {re.escape(key)} is -?(nan|inf)"):
        check_metadata(place(value), "item 'd1'")


def test_finite_values_and_unicode_pass_unchanged():
    metadata = {"year": 2005, "score": 1e308, "tiny": -5e-324, "tags": ["a", "é", "🙂"], "nested": {"x": None, "y": True}}
    assert check_metadata(metadata) is metadata


@pytest.mark.parametrize("metadata", [{"s": "\ud800"}, {"\udfff": 1}, {"l": ["ok", "a\udc00b"]}])
def test_lone_surrogates_are_refused(metadata):
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        check_metadata(metadata)


def test_nesting_is_bounded_without_recursion():
    deep: dict = {}
    cursor = deep
    for _ in range(100_000):  # far past Python's recursion limit
        cursor["a"] = {}
        cursor = cursor["a"]
    with pytest.raises(InvalidInputError, match=f"more than {MAX_DEPTH} levels"):
        check_metadata(deep)
    ok: dict = {}
    cursor = ok
    for _ in range(MAX_DEPTH - 1):
        cursor["a"] = {}
        cursor = cursor["a"]
    assert check_metadata(ok) is ok


@pytest.mark.parametrize("metadata, expected", [([1], "is list; expected a dict"), ({"s": {1, 2}}, "not JSON-serialisable")])
def test_non_json_values_are_refused(metadata, expected):
    with pytest.raises(InvalidInputError, match=expected):
        check_metadata(metadata)


@pytest.mark.parametrize("metadata", [
    {}, {"title": "Dune", "year": 1965, "score": 4.5, "read": True, "series": None, "chunk": 3},
    {"naïve": "café ☕", "n": -0.0}, {"s": "\ud800"}, {"\udfff": 1}, {"x": math.nan}, {"x": -math.inf},
    {1: "a whole-number key"}, {None: 1}, {"b": b"bytes"}, {"o": object()}, {"f": np.float64(1.5)},
    {"i": np.int64(3)}, {"nested": {"a": 1}}, {"tags": ["a", "b"]},
])
def test_flat_metadata_is_judged_as_the_full_walk_judges_it(metadata, monkeypatch):
    """Flat dicts of plain values skip the walk: the answer (accepted, or refused with which message)
    is the one the full walk gives."""
    import densekit.metadata as module

    def outcome():
        try:
            return ("accepted", check_metadata(metadata, "item 'd1'") is metadata)
        except InvalidInputError as error:
            return ("refused", str(error))

    quick = outcome()
    if is_plain(metadata):  # what a caller checking many items skips check_metadata for
        assert quick == ("accepted", True)
    monkeypatch.setattr(module, "_plain", lambda metadata: False)
    assert quick == outcome()


@pytest.mark.parametrize("metadata", [{}, {"b": 1, "a": "é ☕", "c": [1, {"z": None, "y": 2.5}]}, {"q": 'say "hi"\n'}])
def test_metadata_json_is_json_dumps_sorted_and_unescaped(metadata):
    assert metadata_json(metadata) == json.dumps(metadata, ensure_ascii=False, sort_keys=True)


def test_is_plain_only_for_flat_dicts_of_valid_plain_values():
    assert is_plain({}) and is_plain({"title": "Dune", "chunk": 3, "score": 4.5, "read": True, "series": None})
    for metadata in ({"s": "\ud800"}, {"x": math.nan}, {"nested": {"a": 1}}, {"tags": ["a"]}, {1: "a"}, [("a", 1)]):
        assert not is_plain(metadata)
