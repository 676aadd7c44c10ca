from __future__ import annotations

import json

import numpy as np
import pytest

from densekit.collection import Collection
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import (
    CollectionError,
    CollectionLockedError,
    InvalidInputError,
    ModelMismatchError,
)


def ids_of(hits):
    return [hit.id for hit in hits]


def test_add_get_count_and_search(collection):
    assert collection.count() == 6
    item = collection.get("dog-1")
    assert item.text.startswith("The dog barked") and item.metadata == {"animal": "dog", "year": 2003}
    assert collection.get("missing") is None
    hits = collection.search("the dog barked at the postman", k=2)
    assert hits[0].id == "dog-1"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5) or hits[0].score > hits[1].score
    assert hits[0].metadata["animal"] == "dog"


def test_add_generates_ids_and_refuses_duplicates(collection):
    new_ids = collection.add(["fresh text about rabbits"])
    assert len(new_ids) == 1 and collection.get(new_ids[0]).text == "fresh text about rabbits"
    with pytest.raises(InvalidInputError, match="cat-1"):
        collection.add(["again"], ids=["cat-1"])
    with pytest.raises(InvalidInputError, match="'x' appears more than once"):
        collection.add(["a", "b"], ids=["x", "x"])
    with pytest.raises(InvalidInputError, match="item 1 is an empty string"):
        collection.add(["ok", ""])
    with pytest.raises(InvalidInputError, match="item 0 is int"):
        collection.add([5])
    with pytest.raises(InvalidInputError, match="2 ids for 1 texts"):
        collection.add(["one"], ids=["a", "b"])
    with pytest.raises(InvalidInputError, match="metadata 0 is str"):
        collection.add(["one"], metadata=["nope"])


def test_upsert_replaces_and_delete_removes(collection):
    collection.upsert(["A parrot repeated every word."], ids=["cat-1"], metadata=[{"animal": "bird"}])
    assert collection.count() == 6
    assert collection.get("cat-1").metadata == {"animal": "bird"}
    assert ids_of(collection.search("parrot repeated every word", k=1)) == ["cat-1"]
    assert collection.delete(["dog-1", "nothing-here"]) == 1
    assert collection.count() == 5
    assert "dog-1" not in ids_of(collection.search("dog barked postman", k=6))
    assert "dog-1" not in ids_of(collection.search("dog barked postman", k=6, mode="sparse"))


def test_filters_return_k_matching_hits(collection):
    hits = collection.search("interest rates", k=2, where={"animal": "cat"})
    assert sorted(ids_of(hits)) == ["cat-1", "cat-2"]
    hits = collection.search("anything at all", k=10, where={"animal": {"$in": ["dog", "cat"]}})
    assert sorted(ids_of(hits)) == ["cat-1", "cat-2", "dog-1", "dog-2"]
    hits = collection.search("bank", k=10, where={"year": {"$gte": 2005, "$lt": 2012}})
    assert sorted(ids_of(hits)) == ["cat-2", "dog-2", "fin-1"]
    for mode in ("sparse", "hybrid"):
        hits = collection.search("dog walks", k=10, mode=mode, where={"animal": "dog"})
        assert set(ids_of(hits)) <= {"dog-1", "dog-2"} and "dog-2" in ids_of(hits)
        assert collection.search("the cat", k=10, mode=mode, where={"topic": "finance"}) == [] or mode == "hybrid"
    assert collection.search("cat", k=3, where={"animal": "fish"}) == []
    with pytest.raises(InvalidInputError, match=r"unknown filter operator '\$like'"):
        collection.search("cat", where={"animal": {"$like": "c%"}})


def test_sparse_and_hybrid_modes(collection):
    assert ids_of(collection.search("postman", k=3, mode="sparse")) == ["dog-1"]
    assert collection.search("the and of", k=3, mode="sparse") == []  # only stop words
    hybrid = collection.search("interest rates bank", k=3, mode="hybrid")
    assert set(ids_of(hybrid)[:2]) == {"fin-1", "fin-2"}
    weighted = collection.search("interest rates bank", k=3, mode="hybrid", alpha=0.5)
    assert set(ids_of(weighted)[:2]) == {"fin-1", "fin-2"}


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"query": ""}, "query must be a non-empty string"),
        ({"query": "   "}, "query must be a non-empty string"),
        ({"query": "cat", "k": 0}, "k must be a positive integer, got 0"),
        ({"query": "cat", "k": -1}, "got -1"),
        ({"query": "cat", "k": "3"}, "got '3'"),
        ({"query": "cat", "mode": "semantic"}, "unknown search mode 'semantic'; valid: dense, sparse, hybrid"),
        ({"query": "cat", "mode": "hybrid", "alpha": 1.5}, "alpha must be a number between 0 and 1"),
        ({"query": "cat", "space": "images"}, "no space 'images'"),
    ],
)
def test_bad_search_input(collection, arguments, message):
    with pytest.raises(InvalidInputError, match=message):
        collection.search(**arguments)


def test_k_larger_than_collection_returns_everything(collection):
    assert len(collection.search("cat", k=100)) == 6


def test_reopen_returns_same_results(collection, tmp_path, hashing_encoder):
    before = [(h.id, round(h.score, 5)) for h in collection.search("a cat in the garden", k=4)]
    collection.close()
    reopened = Collection.open(tmp_path / "pets", readonly=True, encoder=hashing_encoder)
    assert [(h.id, round(h.score, 5)) for h in reopened.search("a cat in the garden", k=4)] == before
    assert reopened.count() == 6
    reopened.close()


def test_model_recorded_and_mismatch_refused(collection, tmp_path):
    manifest = json.loads((tmp_path / "pets" / "manifest.json").read_text())
    assert manifest["spaces"]["text"]["encoder"]["model"] == "hashing:64"
    assert manifest["spaces"]["text"]["encoder"]["dimension"] == 64
    collection.close()
    with pytest.raises(ModelMismatchError, match="hashing:64"):
        Collection.open(tmp_path / "pets", readonly=True, encoder=HashingEncoder(32))
    with pytest.raises(ModelMismatchError, match="all-MiniLM"):
        Collection.open(tmp_path / "pets", readonly=True, model="sentence-transformers/all-MiniLM-L6-v2")
    reader = Collection.open(tmp_path / "pets", readonly=True)  # rebuilds the recorded encoder itself
    with pytest.raises(ModelMismatchError, match="64-d"):
        reader.search_vector(np.ones(32, dtype=np.float32))
    assert ids_of(reader.search("postman", k=1)) == ["dog-1"]
    reader.close()


def test_one_writer_at_a_time_and_readonly(collection, tmp_path):
    with pytest.raises(CollectionLockedError, match="one writer at a time"):
        Collection.open(tmp_path / "pets")
    reader = Collection.open(tmp_path / "pets", readonly=True)
    with pytest.raises(CollectionError, match="read-only"):
        reader.add(["nope"])
    reader.close()
    collection.close()
    Collection.open(tmp_path / "pets").close()  # the lock went with the first writer


def test_readers_see_only_committed_state(collection, tmp_path):
    reader = Collection.open(tmp_path / "pets", readonly=True)
    collection.add(["An owl hooted in the night."], ids=["owl"])
    collection.delete(["fin-2"])
    assert collection.count() == 6 and collection.get("owl") is not None  # the writer sees its own writes
    assert reader.count() == 6 and reader.get("owl") is None and reader.get("fin-2") is not None
    collection.commit()
    assert reader.count() == 6 and reader.get("owl") is not None and reader.get("fin-2") is None
    assert "owl" in ids_of(reader.search("owl hooted night", k=1))
    reader.close()


def test_uncommitted_changes_vanish_on_reopen(collection, tmp_path, hashing_encoder):
    collection.add(["never committed"], ids=["ghost"])
    collection.delete(["cat-1"])
    collection.close()  # close without commit: staged rows are dropped on the next writer open
    again = Collection.open(tmp_path / "pets", encoder=hashing_encoder)
    assert again.get("ghost") is None and again.get("cat-1") is not None and again.count() == 6
    again.add(["now committed"], ids=["ghost"])
    again.commit()
    again.close()
    assert Collection.open(tmp_path / "pets", readonly=True).get("ghost").text == "now committed"


def test_create_refuses_existing_and_bad_index(tmp_path, hashing_encoder, collection):
    with pytest.raises(CollectionError, match="already exists"):
        Collection.create(tmp_path / "pets", encoder=hashing_encoder)
    with pytest.raises(InvalidInputError, match="unknown index kind 'ivf'"):
        Collection.create(tmp_path / "other", encoder=hashing_encoder, index="ivf")
    with pytest.raises(CollectionError, match="does not exist"):
        Collection.open(tmp_path / "nowhere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(CollectionError, match="not a densekit collection"):
        Collection.open(tmp_path / "plain")


def test_hnsw_beyond_threshold_is_recorded(tmp_path, hashing_encoder, monkeypatch):
    monkeypatch.setenv("DENSEKIT_HNSW_THRESHOLD", "50")
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    texts = [" ".join(rng.choice(words, 6)) for _ in range(80)]
    with Collection.create(tmp_path / "big", encoder=hashing_encoder) as target:
        target.add(texts[:30], ids=[f"t{i}" for i in range(30)])
        target.commit()
        assert json.loads((tmp_path / "big" / "manifest.json").read_text())["spaces"]["text"]["index"]["kind"] == "flat"
        target.add(texts[30:], ids=[f"t{i}" for i in range(30, 80)])
    manifest = json.loads((tmp_path / "big" / "manifest.json").read_text())
    assert manifest["spaces"]["text"]["index"]["kind"] == "hnsw"
    reader = Collection.open(tmp_path / "big", readonly=True)
    assert reader.search(texts[42], k=1)[0].id == "t42"
    assert len(reader.search(texts[3], k=5, where={"missing": None})) == 5
    reader.close()


def test_encoders_per_space_are_checked(collection, tmp_path, hashing_encoder):
    collection.close()
    reader = Collection.open(tmp_path / "pets", readonly=True, encoders={"text": hashing_encoder})
    assert reader.encoder("text") is hashing_encoder
    reader.close()
    with pytest.raises(InvalidInputError, match="no space 'images'"):
        Collection.open(tmp_path / "pets", readonly=True, encoders={"images": hashing_encoder})
    with pytest.raises(ModelMismatchError):
        Collection.open(tmp_path / "pets", readonly=True, encoders={"text": HashingEncoder(8)})


def test_short_model_names_match_the_recorded_ones(collection, tmp_path):
    collection.close()
    Collection.open(tmp_path / "pets", readonly=True, model="hashing").close()  # recorded as hashing:64
    Collection.open(tmp_path / "pets", readonly=True, model="hashing:64").close()
