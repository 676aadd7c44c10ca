"""Rows staged and removed before one commit (an id upserted again and again, an item added then
deleted) go with their vectors: nothing later would remove those (not even compact)."""

from __future__ import annotations

import sqlite3

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.encoders.hashing import HashingEncoder


def test_rows_removed_in_the_generation_that_staged_them_leave_no_vectors(tmp_path):
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as writer:
        writer.add(["apple river"], ids=["a"])
        writer.commit()
        for n in range(5):
            writer.upsert([f"apple {n}"], ids=["b"])
        writer.add(["stone"], ids=["c"])
        writer.delete(["c"])
        writer.commit()
        assert [hit.id for hit in writer.search("apple 4", k=2)] == ["b", "a"]
    connection = sqlite3.connect(folder / "content.sqlite")
    try:
        assert connection.execute("SELECT count(*) FROM vectors WHERE item NOT IN (SELECT rowid FROM items)").fetchone() == (0,)
        assert connection.execute("SELECT count(*) FROM vectors").fetchone() == (2,)
    finally:
        connection.close()
    assert check_collection(folder) == []
