"""Hostile input through the Python API, on both stores: refused with InvalidInputError, nothing else changes.

Non-finite metadata (NaN, Infinity, anywhere, nested too) on add / upsert / add_items; ``where``
beyond its bounds; k beyond DENSEKIT_MAX_K. Then a seeded fuzz over metadata values, ids and search
arguments: every call either succeeds or raises a densekit error, and a refused write changes no
other document.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest

from densekit.collection import Collection, Item
from densekit.errors import DensekitError, InvalidInputError

_names = itertools.count()
SEED_ITEMS = [
    ("a", "The cat sat on the warm mat.", {"animal": "cat", "year": 2001}),
    ("b", "Dogs love long walks in the park.", {"animal": "dog", "year": 2010}),
    ("c", "The central bank kept interest rates unchanged.", {"topic": "finance", "year": 2012}),
]


@pytest.fixture(params=["embedded", "postgres"])
def collection(request, tmp_path, hashing_encoder):
    if request.param == "embedded":
        target = Collection.create(tmp_path / "hostile", encoder=hashing_encoder)
    else:
        target = Collection.create(request.getfixturevalue("postgres_url"), encoder=hashing_encoder,
                                   name=f"hostile_{next(_names)}")
    target.add([t for _, t, _ in SEED_ITEMS], ids=[i for i, _, _ in SEED_ITEMS], metadata=[m for _, _, m in SEED_ITEMS])
    target.commit()
    yield target
    target.close()


def snapshot(collection) -> dict:
    return {id_: (item.text, item.metadata) for id_ in ("a", "b", "c", "new") if (item := collection.get(id_))}


NON_FINITE = [{"v": math.nan}, {"v": math.inf}, {"v": -math.inf}, {"deep": {"er": [1, {"x": math.nan}]}}]


@pytest.mark.parametrize("metadata", NON_FINITE)
def test_non_finite_metadata_is_refused_on_every_write(collection, metadata):
    before = snapshot(collection)
    with pytest.raises(InvalidInputError, match="must be finite"):
        collection.add(["a new text"], ids=["new"], metadata=[metadata])
    with pytest.raises(InvalidInputError, match="must be finite"):
        collection.upsert(["a replaced text"], ids=["a"], metadata=[metadata])
    with pytest.raises(InvalidInputError, match=r"item 'new': key .* must be finite"):
        collection.add_items([Item("new", "a new text", metadata)])
    collection.commit()
    assert snapshot(collection) == before and collection.count() == 3
    # Filtered search still works for everyone (the NaN used to poison every where search).
    assert [hit.id for hit in collection.search("cat", k=5, where={"animal": "cat"})] == ["a"]
    assert {hit.id for hit in collection.search("cat", k=5, where={"year": {"$gte": 2005}})} == {"b", "c"}


def test_k_is_bounded_and_a_large_k_returns_everything(collection, monkeypatch):
    assert len(collection.search("cat", k=10_000)) == 3
    for k in (10_001, 10**9, 99999999999999999999):
        with pytest.raises(InvalidInputError, match=r"^k is \d+; at most 10000 \(raise the bound with DENSEKIT_MAX_K\)$"):
            collection.search("cat", k=k)
    monkeypatch.setenv("DENSEKIT_MAX_K", "2")
    with pytest.raises(InvalidInputError, match="at most 2"):
        collection.search("cat", k=3)


@pytest.mark.parametrize(
    "where",
    [
        {f"k{i}": i for i in range(1000)},
        {"year": {"$in": list(range(5000))}},
        {"year": math.nan},
        {"year": {"$gt": math.inf}},
        {"year": 2**70},
    ],
)
def test_where_beyond_the_bounds_is_one_clear_error(collection, where):
    with pytest.raises(InvalidInputError):
        collection.search("cat", k=3, where=where)


# --- fuzz ------------------------------------------------------------------------------------------

def fuzz_value(rng: random.Random, depth: int = 0):
    choices = [
        lambda: rng.choice([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324]),
        lambda: rng.randint(-(2**70), 2**70),
        lambda: rng.choice(["", "\ud800", "é🙂", "x" * rng.randint(0, 5000), "\x00", "'; DROP TABLE items; --"]),
        lambda: rng.choice([None, True, False]),
        lambda: [fuzz_value(rng, depth + 1) for _ in range(rng.randint(0, 3))],
        lambda: {rng.choice(["k", "\ud800", "a.b", "$in", ""]): fuzz_value(rng, depth + 1)},
    ]
    return rng.choice(choices[:4] if depth > 3 else choices)()


def fuzz_id(rng: random.Random):
    return rng.choice(["new", "a", "", "\ud800", "x/y/../z", "#0", "%2F", " ", "a" * 3000, 7, None, "new"])


def test_fuzz_writes_and_searches_never_crash_or_touch_other_documents(collection):
    rng = random.Random(18)
    outcomes = {"accepted": 0, "refused": 0}
    for case in range(150):
        before = snapshot(collection)
        key = rng.choice(["v", "year", "chunk", "\ud800", "source"])
        metadata = {key: fuzz_value(rng)}
        identifier = fuzz_id(rng)
        try:
            collection.upsert(["fuzzed text number %d" % case], ids=[identifier], metadata=[metadata])
            collection.commit()
            outcomes["accepted"] += 1
            changed = {"new"} if identifier == "new" else ({"a"} if identifier == "a" else set())
        except DensekitError:
            outcomes["refused"] += 1
            changed = set()
        after = snapshot(collection)
        for id_ in before.keys() - changed:
            assert after.get(id_) == before[id_], (case, identifier, metadata)
        where = {rng.choice(["v", "year", "animal"]): rng.choice([fuzz_value(rng), {"$in": [fuzz_value(rng)]},
                                                                  {"$gte": fuzz_value(rng)}])}
        k = rng.choice([1, 3, 10_000, 10_001, 0, -5, 2**64, 2.5])
        try:
            hits = collection.search(rng.choice(["cat", "bank", "\ud800", "x"]), k=k,
                                     mode=rng.choice(["dense", "sparse", "hybrid"]), where=where)
            assert len(hits) <= max(k, 0)
        except DensekitError:
            pass
    assert outcomes["accepted"] > 10 and outcomes["refused"] > 10, outcomes
