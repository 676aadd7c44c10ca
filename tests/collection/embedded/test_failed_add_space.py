"""A space whose filling fails (a full disk, an interruption) is not added: the handle's next commit
publishes no space missing vectors of items it holds."""

from __future__ import annotations

import sqlite3

import pytest

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.collection.embedded.store import ContentStore
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import CollectionError


def test_a_space_that_failed_to_fill_is_not_committed(tmp_path, monkeypatch):
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder(16)) as collection:
        collection.add(["apple river", "stone cloud"], ids=["a", "b"])
    with Collection.open(folder) as writer:
        with monkeypatch.context() as patch:
            def full(*args, **kwargs):
                raise sqlite3.OperationalError("database or disk is full")

            patch.setattr(ContentStore, "insert_vectors", full)
            with pytest.raises(CollectionError, match="disk is full"):
                writer.add_space("extra", HashingEncoder(8))
        assert list(writer.spaces) == ["text"]
        writer.add(["apple tiger"], ids=["c"])
        writer.commit()
        writer.add_space("extra", HashingEncoder(8))  # tried again: every item gets its vector
        writer.commit()
    assert check_collection(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert reader.info()["spaces"]["extra"]["vectors"] == 3
        assert {hit.id for hit in reader.search("apple", k=5, space="extra")} == {"a", "b", "c"}
