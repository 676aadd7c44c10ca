"""A write that replaces items (upsert, replace, update) stages its removal and its insertion as one:
when it fails (a full disk, an interruption), neither half is staged, and the handle's next commit
keeps the items it was replacing."""

from __future__ import annotations

import sqlite3

import pytest

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.collection.embedded.store import ContentStore
from densekit.collection.items import Item
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import CollectionError

WRITES = {
    "upsert": lambda writer: writer.upsert(["apple orchard"], ids=["a"]),
    "update": lambda writer: writer.update(["a"], {"group": "z"}),
    "replace": lambda writer: writer.replace("d", [Item("d#0", "tiger paper", parent="d", start=0, end=11)]),
}


def _state(collection):
    items = collection.get(["a", "b", "d#0"])
    return (collection.count(), [(item.id, item.text, item.metadata) for item in items],
            [hit.id for hit in collection.search("apple tiger", k=5, mode="sparse")])


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_replacing_write_that_fails_stages_nothing(tmp_path, monkeypatch, write):
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as collection:
        collection.add(["apple river", "stone cloud"], ids=["a", "b"], metadata=[{"group": "x"}, {"group": "y"}])
        collection.add_items([Item("d#0", "tiger music", parent="d", start=0, end=11)])
    with Collection.open(folder, readonly=True) as reader:
        before = _state(reader)
    with Collection.open(folder) as writer:
        with monkeypatch.context() as patch:
            def full(*args, **kwargs):
                raise sqlite3.OperationalError("database or disk is full")

            patch.setattr(ContentStore, "insert", full)
            with pytest.raises(CollectionError, match="disk is full"):
                WRITES[write](writer)
        assert _state(writer) == before
        writer.add(["cloud river"], ids=["c"])  # another write, then a commit: the failed one stays undone
        writer.commit()
    with Collection.open(folder, readonly=True) as reader:
        count, items, _ = _state(reader)
        assert (count, items) == (before[0] + 1, before[1])
    assert check_collection(folder) == []
