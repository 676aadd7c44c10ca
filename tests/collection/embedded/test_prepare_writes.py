"""A writer reads the sparse tables when it opens (writes.prepare_writes); tables it cannot read are
left to the first write, as before: opening for writing never fails on them."""

from __future__ import annotations

import sqlite3

import pytest

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.encoders.hashing import HashingEncoder


@pytest.fixture
def built(tmp_path):
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as collection:
        collection.add([f"apple river stone {n}" for n in range(20)], ids=[f"d{n}" for n in range(20)])
    return folder


def test_a_writer_opens_a_collection_whose_sparse_segment_is_damaged(built):
    connection = sqlite3.connect(built / "content.sqlite")
    key, blob = connection.execute(
        "SELECT segment, data FROM sparse_documents_blobs ORDER BY length(data) DESC LIMIT 1").fetchone()
    data = bytearray(blob)
    data[len(data) // 2] ^= 0xFF  # the segment's checksum no longer matches
    with connection:
        connection.execute("UPDATE sparse_documents_blobs SET data = ? WHERE segment = ?", (bytes(data), key))
    connection.close()
    assert check_collection(built)  # listed as a problem
    # Opened for writing as before this change (and as a segment without its BLOB is): the damage is
    # reported by the first write, not by opening.
    with Collection.open(built) as writer:
        assert writer.search("apple river stone 3", k=1, mode="dense")[0].id == "d3"
        with pytest.raises(ValueError, match="damaged"):  # the first write reports it, as before
            writer.add(["one more"], ids=["new"])
