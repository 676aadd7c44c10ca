"""A reader open while a writer builds the sparse tables anew (``rebuild_sparse``, what ``densekit check
--repair`` does) reads them afresh at its next refresh: the segments it held are gone, so catching up
segment by segment would count every document twice."""

from __future__ import annotations

import json

from densekit.collection import Collection
from densekit.encoders.hashing import HashingEncoder


def _hits(collection, query):
    return [(hit.id, round(hit.score, 6)) for hit in collection.search(query, k=10, mode="sparse")]


def test_a_reader_open_across_a_sparse_rebuild_gives_the_answers_of_a_fresh_reader(tmp_path):
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as collection:
        collection.add(["apple river stone", "granite quarry", "granite apple"], ids=["a", "b", "c"])
    with Collection.open(folder, readonly=True) as reader:
        before = _hits(reader, "granite")
        with Collection.open(folder) as writer:
            writer.rebuild_sparse()
            writer.commit()
        assert _hits(reader, "granite") == before == [("b", before[0][1]), ("c", before[1][1])]
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["sparse"]["built"] == manifest["generation"]
        with Collection.open(folder) as writer:  # later commits keep the mark: readers catch up as usual
            writer.add(["granite cliff"], ids=["d"])
        with Collection.open(folder, readonly=True) as fresh:
            assert _hits(reader, "granite") == _hits(fresh, "granite")
            assert len(_hits(fresh, "granite")) == 3
    assert json.loads((folder / "manifest.json").read_text())["sparse"]["built"] == manifest["generation"]
