"""A reader keeps its BM25 segments and catches up with a writer's commits segment by segment; it must
end with the answers of a reader opened afresh, also when the segments it holds are gone: purged by a
second commit (a merge, then the purge of what it replaced: compact, an index run's end), or the
tables built anew (``rebuild_sparse``, what ``densekit check --repair`` does)."""

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


def test_a_reader_open_across_merges_and_their_purge_gives_the_answers_of_a_fresh_reader(tmp_path):
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as collection:
        for n in range(4):  # a segment per write
            collection.add([f"granite quarry {n}", f"apple {n}"], ids=[f"b{n}", f"a{n}"])
            collection.commit()
    with Collection.open(folder, readonly=True) as reader:
        before = _hits(reader, "granite")
        assert [id_ for id_, _ in before] == ["b0", "b1", "b2", "b3"]
        with Collection.open(folder) as writer:
            writer.compact()  # merges, commits, then commits again: the replaced segments are purged
        assert _hits(reader, "granite") == before
        with Collection.open(folder) as writer:
            start = writer.generation
            writer.add(["granite cliff"], ids=["z"])
            writer.commit()
            writer.add(["granite ridge"], ids=["y"])
            writer.commit()
            writer.merge_segments(start)  # an index run's end: merge its segments, commit, purge
        with Collection.open(folder, readonly=True) as fresh:
            assert _hits(reader, "granite") == _hits(fresh, "granite")
            assert len(_hits(fresh, "granite")) == 6


def test_a_sparse_rebuild_is_staged_until_its_commit(tmp_path):
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as collection:
        collection.add(["apple river stone", "granite quarry", "granite apple"], ids=["a", "b", "c"])
    with Collection.open(folder, readonly=True) as reader:
        before = _hits(reader, "granite")
    writer = Collection.open(folder)
    writer.rebuild_sparse()
    with Collection.open(folder, readonly=True) as fresh:  # readers of the committed generation
        assert _hits(fresh, "granite") == before
    writer.close()  # never committed: the committed tables stay as they were
    with Collection.open(folder) as writer:
        try:
            with writer.transaction():
                writer.rebuild_sparse()
                raise KeyError("abort")
        except KeyError:
            pass
        assert _hits(writer, "granite") == before
    with Collection.open(folder, readonly=True) as fresh:
        assert _hits(fresh, "granite") == before and fresh.check() == []
    with Collection.open(folder) as writer:
        writer.rebuild_sparse()
        writer.commit()
        assert _hits(writer, "granite") == before
    with Collection.open(folder, readonly=True) as fresh:
        assert _hits(fresh, "granite") == before and fresh.check() == []


def test_a_reader_reading_its_segments_while_a_writer_merges_and_purges_reads_the_newer_generation(tmp_path, monkeypatch):
    from densekit.collection.embedded import sparse_tables

    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as writer:
        for n in range(3):  # a segment per write
            writer.add([f"granite quarry {n}"], ids=[f"b{n}"])
            writer.commit()
        with Collection.open(folder, readonly=True) as reader:
            reader.count()
            read = sparse_tables.CollectionSparse.__init__

            def compact_first(self, store, view):  # the reader's first search reads its segments
                monkeypatch.setattr(sparse_tables.CollectionSparse, "__init__", read)
                writer.compact()  # merges, commits, commits again: the segments it read are gone
                read(self, store, view)

            monkeypatch.setattr(sparse_tables.CollectionSparse, "__init__", compact_first)
            assert [id_ for id_, _ in _hits(reader, "granite")] == ["b0", "b1", "b2"]
