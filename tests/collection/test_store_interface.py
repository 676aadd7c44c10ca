"""The collection interface, the same on every store in the registry (densekit.testing.stores):
replacing documents, deleting by filter, metadata-only updates, fetching vectors, paging ids,
transactions, integrity checks, and a reader seeing another process's committed writes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from densekit.collection import Item
from densekit.collection.check import check_collection
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import InvalidInputError
from densekit.testing.stores import STORES_UNDER_TEST, registered_store_kinds

TEXTS = {
    "a": ("apple river stone", {"group": "red", "n": 1}),
    "b": ("tiger violin garden", {"group": "blue", "n": 2}),
    "c": ("rocket pepper castle", {"group": "red", "n": 3}),
    "d": ("mirror island lantern", {"group": "green", "n": 4}),
}


class Place:
    def __init__(self, under_test, location, name):
        self.under_test, self.location, self.name = under_test, location, name

    def create(self, encoder):
        return self.under_test.create(self.location, self.name, encoder=encoder)

    def open(self, **options):
        return self.under_test.open(self.location, self.name, **options)

    @property
    def url(self) -> str:
        """A location string that names the collection by itself (for other processes)."""
        if self.name is None:
            return str(self.location)
        return f"{self.location}?collection={self.name}"


@pytest.fixture(params=sorted(STORES_UNDER_TEST))
def place(request, tmp_path) -> Place:
    under_test = STORES_UNDER_TEST[request.param]
    return Place(under_test, *under_test.place(request, tmp_path))


@pytest.fixture
def notes(place, hashing_encoder):
    collection = place.create(hashing_encoder)
    collection.add([text for text, _ in TEXTS.values()], ids=list(TEXTS), metadata=[meta for _, meta in TEXTS.values()])
    collection.commit()
    yield collection
    collection.close()


def chunks(parent: str, *texts: str) -> list[Item]:
    return [Item(f"{parent}#{n}", text, {"part": n}, parent=parent, start=0, end=len(text)) for n, text in enumerate(texts)]


def test_every_registered_store_is_under_test():
    assert registered_store_kinds() == set(STORES_UNDER_TEST)


def test_replace_swaps_whole_documents(notes, hashing_encoder):
    notes.add_items(chunks("doc", "first old chunk", "second old chunk", "third old chunk"))
    notes.commit()
    removed = notes.replace("doc", chunks("doc", "brand new text"))
    notes.commit()
    assert removed == 3
    assert [item.id for item in notes.get(["doc#0", "doc#1", "doc#2"])] == ["doc#0"]
    assert notes.get("doc#0").text == "brand new text" and notes.count() == len(TEXTS) + 1
    assert notes.search("brand new text", k=1)[0].id == "doc#0"
    # Ids that belong to other documents are never taken over by a replacement.
    with pytest.raises(InvalidInputError, match="'a'"):
        notes.replace("doc", [Item("a", "steals an id", parent="doc")])
    assert notes.get("a").text == TEXTS["a"][0]


def test_replace_of_a_new_document_adds_it(notes):
    assert notes.replace(["new"], chunks("new", "a fresh document")) == 0
    notes.commit()
    assert notes.get("new#0").parent == "new"


def test_delete_by_filter(notes):
    assert notes.delete(where={"group": "red"}) == 2
    notes.commit()
    assert sorted(notes.list_ids().ids) == ["b", "d"]
    assert notes.delete(["b", "d"], where={"n": {"$gte": 4}}) == 1  # both given: named AND matching
    notes.commit()
    assert notes.list_ids().ids == ["b"]
    with pytest.raises(InvalidInputError, match="needs ids, a where filter"):
        notes.delete()
    with pytest.raises(InvalidInputError, match="unknown filter operator"):
        notes.delete(where={"n": {"$like": 3}})


def test_update_changes_metadata_without_re_encoding(place, notes, hashing_encoder):
    before = notes.get(["a", "c"], include=["vectors"])
    assert notes.update(["a", "c", "missing"], {"group": "gold", "n": None, "reviewed": True}) == 2
    notes.commit()
    after = {item.id: item for item in notes.get(["a", "c"], include=["vectors"])}
    for item in before:
        assert after[item.id].metadata == {"group": "gold", "reviewed": True}
        assert after[item.id].text == item.text
        np.testing.assert_array_equal(after[item.id].vectors["text"], item.vectors["text"])
    assert {hit.id for hit in notes.search("apple", k=4, where={"group": "gold"})} == {"a", "c"}
    assert notes.search("apple river stone", k=1)[0].id == "a"  # still found by its (moved) vector
    assert notes.update(["b", "d"], [{"n": 20}, {"n": 40}]) == 2
    notes.commit()
    assert [notes.get(id_).metadata["n"] for id_ in ("b", "d")] == [20, 40]
    with pytest.raises(InvalidInputError, match="expected one per text"):
        notes.update(["b", "d"], [{"n": 1}])
    assert notes.check() == [] and check_collection(place.url) == []


def test_get_many_with_vectors(notes, hashing_encoder):
    found = notes.get(["c", "nope", "a"], include=["vectors"])
    assert [item.id for item in found] == ["c", "a"]
    for item in found:
        expected = hashing_encoder.encode([TEXTS[item.id][0]])[0]
        np.testing.assert_allclose(item.vectors["text"], expected, atol=1e-6)
    assert notes.get(["a"])[0].vectors is None
    with pytest.raises(InvalidInputError, match="unknown include 'embeddings'"):
        notes.get(["a"], include=["embeddings"])


def test_list_ids_pages_through_everything_once(notes):
    notes.add([f"extra text {n}" for n in range(7)], ids=[f"x{n}" for n in range(7)])
    notes.commit()
    seen, page = [], notes.list_ids(limit=3)
    seen += page.ids
    while page.next is not None:
        page = notes.list_ids(limit=3, after=page.next)
        seen += page.ids
    assert sorted(seen) == sorted([*TEXTS, *(f"x{n}" for n in range(7))]) and len(seen) == len(set(seen))
    with pytest.raises(InvalidInputError, match="not a page cursor"):
        notes.list_ids(after="page-two")


def test_transaction_is_all_or_nothing(notes):
    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        with notes.transaction():
            notes.upsert(["changed"], ids=["a"])
            notes.delete(["b"])
            raise Abort
    assert notes.get("a").text == TEXTS["a"][0] and notes.get("b") is not None
    with notes.transaction():
        notes.upsert(["changed"], ids=["a"])
        notes.delete(["b"])
    assert notes.get("a").text == "changed" and notes.get("b") is None


def test_copy_state_is_kept_with_the_writes(notes):
    assert notes.read_copy_state("source-1") == {}
    with notes.transaction():
        notes.write_copy_state("source-1", {"last_rowid": 7})
    assert notes.read_copy_state("source-1") == {"last_rowid": 7}


def test_a_reader_sees_another_processs_committed_writes(place, notes, hashing_encoder):
    reader = place.open(readonly=True, encoder=hashing_encoder)
    try:
        assert reader.get("z") is None
        script = textwrap.dedent(f"""
            from densekit.collection import Collection
            from densekit.encoders.hashing import HashingEncoder
            with Collection.open({place.url!r}, encoder=HashingEncoder()) as writer:
                writer.add(["zebra walnut basket"], ids=["z"])
        """)
        notes.close()  # the embedded store has one writer at a time
        subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
        assert reader.get("z").text == "zebra walnut basket"
        assert reader.search("zebra walnut basket", k=1)[0].id == "z"
        assert reader.count() == len(TEXTS) + 1
    finally:
        reader.close()


def test_group_by_parent_returns_documents_by_their_best_chunk(notes):
    # Three documents of many chunks each: the top chunks all belong to "rivers", so k=3 documents
    # need a deeper search than k=3 chunks.
    for parent, word in (("rivers", "river"), ("stones", "stone"), ("clouds", "cloud")):
        notes.add_items([Item(f"{parent}#{n}", f"{word} " * (n % 5 + 1) + f"part {n}", {"doc": parent}, parent=parent,
                              start=n * 10, end=n * 10 + 9) for n in range(30)])
    notes.commit()
    chunks = notes.search("river", k=3, mode="dense")
    assert {hit.parent for hit in chunks} == {"rivers"}  # by chunk, one document fills the top 3
    # Only two documents have the word: grouping stops there rather than searching forever.
    assert [hit.parent or hit.id for hit in notes.search("river", k=3, mode="sparse", group="parent")] == ["rivers", "a"]
    for mode in ("sparse", "dense", "hybrid"):
        documents = notes.search("river stone", k=3, mode=mode, group="parent")
        parents = [hit.parent or hit.id for hit in documents]
        assert len(parents) == 3 == len(set(parents)), mode
        best = notes.search("river stone", k=1, mode=mode)[0]
        assert (documents[0].id, documents[0].score) == (best.id, best.score)  # the best chunk stands for its document
        assert documents[0].start is not None or documents[0].parent is None
    everything = notes.search("river stone cloud apple tiger", k=100, mode="sparse", group="parent")
    assert len(everything) == len({hit.parent or hit.id for hit in everything}) <= 3 + len(TEXTS)
    with pytest.raises(InvalidInputError, match="unknown group 'document'"):
        notes.search("river", group="document")


def test_metadata_keys_are_counted_as_items_change(place, notes, hashing_encoder):
    assert notes.metadata_keys() == {"group": 4, "n": 4}
    notes.add(["a lantern text"], ids=["e"], metadata=[{"group": "red", "lang": "en"}])
    notes.update(["a"], {"n": None, "lang": "fr"})
    notes.delete(["b"])
    notes.replace("doc", chunks("doc", "one chunk", "another chunk"))  # metadata {"part": n}
    expected = {"group": 4, "n": 2, "lang": 2, "part": 2}
    assert notes.metadata_keys() == expected  # the writer sees its own writes
    notes.commit()
    reader = place.open(readonly=True, encoder=hashing_encoder)
    try:
        assert reader.metadata_keys() == expected and reader.info()["metadata_keys"] == expected
    finally:
        reader.close()
    notes.delete(where={"part": {"$gte": 0}})
    notes.commit()
    assert notes.metadata_keys() == {"group": 4, "n": 2, "lang": 2}


class OtherBackend(HashingEncoder):
    """The same model as the hashing encoder, recorded under another backend name, with vectors
    that differ (as int8 and fp32 vectors of one model do)."""

    backend = "hashing-shifted"

    def encode_batch(self, texts):
        vectors = super().encode_batch(texts) + 0.05
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_reencode_replaces_a_spaces_vectors_and_backend(place, notes, hashing_encoder):
    old = notes.get(["a"], include=["vectors"])[0].vectors["text"]
    assert notes.reencode("text", encoder=OtherBackend()) == len(TEXTS)
    notes.commit()
    assert notes.info()["spaces"]["text"]["backend"] == "hashing-shifted"
    new = notes.get(["a"], include=["vectors"])[0].vectors["text"]
    np.testing.assert_allclose(new, OtherBackend().encode([TEXTS["a"][0]])[0], atol=1e-6)
    assert not np.allclose(new, old)
    notes.close()
    with pytest.raises(Exception, match="backend 'hashing-shifted'"):
        place.open(readonly=True, encoder=hashing_encoder)  # the manifest now records the new backend
    reader = place.open(readonly=True, encoder=OtherBackend())
    try:
        assert reader.search(TEXTS["c"][0], k=1)[0].id == "c" and reader.check() == []
    finally:
        reader.close()
    with pytest.raises(Exception, match="keeps the model"):
        with place.open(encoder=OtherBackend()) as writer:
            writer.reencode("text", encoder=HashingEncoder(32))


def test_index_keys_is_idempotent_and_filters_still_agree(notes):
    before = {hit.id for hit in notes.search("apple", k=4, where={"n": {"$gte": 2}})}
    assert notes.index_keys(["n", "group"]) == ["n", "group"]
    assert notes.index_keys(["n"]) == []
    notes.commit()
    assert {hit.id for hit in notes.search("apple", k=4, where={"n": {"$gte": 2}})} == before == {"b", "c", "d"}
