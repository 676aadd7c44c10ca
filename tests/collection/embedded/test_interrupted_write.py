"""A write interrupted by something other than an SQLite error (Ctrl-C, MemoryError, a bug) after the
sparse tables' vocabulary grew in memory: SQLite rolls the write back, so the writer's memory must be
read back too, or its next write numbers new terms after ones that were never stored."""

from __future__ import annotations

import pytest

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.collection.embedded import sparse_tables
from densekit.collection.items import Item
from densekit.encoders.hashing import HashingEncoder


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, RuntimeError])
def test_a_write_interrupted_after_the_vocabulary_grew_leaves_the_handle_consistent(tmp_path, monkeypatch, interruption):
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as collection:
        collection.add(["apple river stone", "granite quarry"], ids=["a", "b"])
    with Collection.open(folder) as writer:
        recount = sparse_tables.CollectionSparse._recount

        def interrupted(self, *arguments):
            raise interruption("interrupted after the chunks' table took the new terms")

        monkeypatch.setattr(sparse_tables.CollectionSparse, "_recount", interrupted)
        with pytest.raises(interruption):  # the chunk table's new terms are in memory, then this
            writer.add_items([Item(id="lost", text="zebra xylophone walrus", parent="lost-doc")])
        monkeypatch.setattr(sparse_tables.CollectionSparse, "_recount", recount)
        writer.add_items([Item(id="kept", text="marmot nightingale", parent="kept-doc")])
        writer.commit()
    assert check_collection(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert [hit.id for hit in reader.search("nightingale", k=2, mode="sparse")] == ["kept"]
        assert reader.search("zebra walrus", k=2, mode="sparse") == []
        assert reader.get("lost") is None


def test_a_compact_interrupted_inside_its_merge_leaves_the_handle_consistent(tmp_path, monkeypatch):
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as collection:
        for n in range(4):  # four writes: four segments per table to merge
            collection.add([f"apple river {n}", f"granite quarry {n}"], ids=[f"a{n}", f"b{n}"])
            collection.commit()
        collection.delete(["a0"])
    with Collection.open(folder) as writer:
        tables = writer._sparse_writer()

        def interrupted():
            raise KeyboardInterrupt("interrupted after the documents' table merged")

        monkeypatch.setattr(tables.chunks, "merge", interrupted)
        with pytest.raises(KeyboardInterrupt):
            writer.compact()
        monkeypatch.undo()
        writer.add_items([Item(id="kept", text="marmot nightingale", parent="kept-doc")])
        writer.delete(["b1"])
        assert {hit.id for hit in writer.search("granite", k=10, mode="sparse")} == {"b0", "b2", "b3"}
        writer.compact()
    assert check_collection(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert [hit.id for hit in reader.search("nightingale", k=2, mode="sparse")] == ["kept"]
        assert {hit.id for hit in reader.search("granite", k=10, mode="sparse")} == {"b0", "b2", "b3"}


def test_a_transaction_whose_commit_fails_drops_its_writes_as_postgresql_does(tmp_path):
    from densekit.errors import CollectionError

    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as collection:
        collection.add(["apple river"], ids=["a"])
    with Collection.open(folder) as writer:
        def full(step: str) -> None:
            if step == "manifest":
                raise OSError("no space left on device (injected)")

        with pytest.raises(CollectionError, match="keeps its previous state"):
            with writer.transaction():
                writer.add(["granite quarry"], ids=["g"])
                writer.delete(["a"])
                writer.on_save_step = full
        writer.on_save_step = None
        assert writer.get("g") is None and writer.get("a") is not None
        writer.add(["marmot"], ids=["m"])  # the handle goes on; its next commit holds only this
    assert check_collection(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert sorted(reader.list_ids().ids) == ["a", "m"]
        assert [hit.id for hit in reader.search("granite apple", k=3, mode="sparse")] == ["a"]
