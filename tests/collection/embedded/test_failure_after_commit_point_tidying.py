"""Tidying after a commit (purging deleted rows and retired segments, removing old files) may fail (a
full disk, a file the system will not remove) without harm: the commit is made, and reported made."""

from __future__ import annotations

import logging
import sqlite3

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.collection.embedded.store import ContentStore
from densekit.encoders.hashing import HashingEncoder


def test_a_commit_whose_tidying_fails_is_reported_made(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as writer:
        writer.add(["apple river"], ids=["a"])
        writer.commit()
        writer.delete(["a"])
        writer.add(["stone cloud"], ids=["b"])

        def full(*args, **kwargs):
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(ContentStore, "purge_before", full)
        with caplog.at_level(logging.WARNING):
            writer.commit()  # made: it must not raise as if the writes were lost
        assert "is committed" in caplog.text
        monkeypatch.undo()
        with Collection.open(folder, readonly=True) as reader:
            assert reader.generation == writer.generation and reader.list_ids().ids == ["b"]
        writer.add(["apple tiger"], ids=["c"])
        writer.commit()  # the next commit tidies
    assert check_collection(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert [hit.id for hit in reader.search("apple", k=3, mode="sparse")] == ["c"]
