"""The embedded store's BM25 tables score whole documents like a bm25s build over the joined chunks,
however the chunks arrive (all at once, appended in parts, replaced, deleted)."""

from __future__ import annotations

import numpy as np

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.collection.embedded.persistence import build_sparse
from densekit.collection.items import Item
from densekit.encoders.hashing import HashingEncoder

WORDS = "owl river stone cloud tiger violin garden rocket pepper castle mirror island lantern marble fox".split()


def chunked(parent: str, words: int, size: int, overlap: int, seed: int) -> list[Item]:
    """A document of ``words`` words cut into chunks of ``size`` words sharing ``overlap``, with offsets."""
    rng = np.random.default_rng(seed)
    text = " ".join(rng.choice(WORDS, words)) + f" {parent}"
    offsets = [0] + [position + 1 for position, char in enumerate(text) if char == " "]
    items, start = [], 0
    while True:
        end = min(start + size, len(offsets))
        begin, finish = offsets[start], (offsets[end] - 1 if end < len(offsets) else len(text))
        items.append(Item(f"{parent}#{len(items)}", text[begin:finish], {}, parent, begin, finish))
        if end == len(offsets):
            return items
        start = end - overlap


def ranking(collection, queries):
    sparse = collection.sparse_index()
    rebuilt = build_sparse(collection.store, collection.view)
    return [(sparse.search(query, 5), rebuilt.search(query, 5)) for query in queries]


def assert_equal_to_a_rebuild(collection):
    queries = [" ".join(WORDS[n : n + 3]) for n in range(0, 12, 2)] + ["doc1 owl", "doc2"]
    for (scores, ids), (fresh_scores, fresh_ids) in ranking(collection, queries):
        assert np.allclose(scores, fresh_scores, atol=1e-4)
        assert sorted(ids.tolist()) == sorted(fresh_ids.tolist())


def test_documents_written_in_parts_score_as_a_whole(tmp_path, monkeypatch):
    from densekit.collection.embedded.sparse_tables import CollectionSparse

    recounted = []
    original = CollectionSparse._recount
    monkeypatch.setattr(CollectionSparse, "_recount", lambda self, members, *rest: (recounted.extend(members), original(self, members, *rest)))
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(16)) as collection:
        for document in range(3):
            chunks = chunked(f"doc{document}", 300 + 50 * document, 40, 8, seed=document)
            for start in range(0, len(chunks), 3):  # appended in parts, as long documents are written
                collection.add_items(chunks[start : start + 3])
        collection.add(["a lone text about an owl"], ids=["single"])
        assert sorted(recounted) == ["doc0", "doc1", "doc2"]  # the later parts only added their words
        assert_equal_to_a_rebuild(collection)
        collection.commit()
        parts_counts = collection.sparse_index().documents.counts_of(
            min(item.rowid for item in collection.store.items_for_ids(["doc1#0"], collection.view)))
    assert check_collection(tmp_path / "c") == []
    with Collection.create(tmp_path / "whole", encoder=HashingEncoder(16)) as collection:
        for document in range(3):
            collection.add_items(chunked(f"doc{document}", 300 + 50 * document, 40, 8, seed=document))
        whole_counts = collection.sparse_index().documents.counts_of(
            min(item.rowid for item in collection.store.items_for_ids(["doc1#0"], collection.view)))
    assert parts_counts == whole_counts


def test_replacing_and_deleting_chunks_keeps_the_documents_right(tmp_path):
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(16)) as collection:
        for document in range(4):
            collection.add_items(chunked(f"doc{document}", 200, 30, 5, seed=document))
        collection.commit()
        collection.replace(["doc1"], chunked("doc1", 120, 30, 5, seed=9))
        collection.delete(["doc2#1", "doc2#2"])  # part of a document
        collection.delete(["doc3"])  # a whole document, by its parent id
        assert_equal_to_a_rebuild(collection)
        collection.commit()
        assert collection.search("doc3", k=3, mode="sparse") == []
    assert check_collection(tmp_path / "c") == []


def test_every_row_holds_the_counts_of_its_own_words(tmp_path):
    """Ingested documents (chunks cut inside words, Unicode that lowercases unevenly) and lone texts:
    each chunk's entry counts its own text's words, each document's its pieces' words, in the order
    the per-text path gives (the batch is split into words once, sparse_counting)."""
    from collections import Counter

    from densekit.ingest import ingest
    from densekit.sparse import document_pieces
    from densekit.sparse_words import words

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("The owl, the RIVER and İstanbul's stones. " * 40)
    (folder / "b.md").write_text("ΟΔΟΣ ΑΣΑ naïve café — co-op don't 3.14 snake_case. " * 30)
    (folder / "c.txt").write_text("tiger " * 7)
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(16)) as collection:
        ingest(collection, [folder], max_tokens=9, overlap=3)
        collection.add(["a lone Text about an OWL", "x"], ids=["lone", "tiny"])
        collection.commit()
        sparse = collection.sparse_index()
        items = list(collection.store.by_rowids(sparse.ids().tolist()).items())
        for rowid, item in items:
            assert list(sparse.chunks.counts_of(rowid).items()) == list(Counter(words(item.text)).items())
        for parent in {item.parent for _, item in items if item.parent}:
            chunks = sorted((rowid, item) for rowid, item in items if item.parent == parent)
            total: Counter = Counter()
            for piece in document_pieces([item.text for _, item in chunks], [(item.start, item.end) for _, item in chunks]):
                total.update(Counter(words(piece)))
            assert list(sparse.documents.counts_of(chunks[0][0]).items()) == list(total.items())
        for rowid, item in items:
            if item.parent is None:
                assert list(sparse.documents.counts_of(rowid).items()) == list(Counter(words(item.text)).items())


def test_earlier_chunks_are_summed_up_by_sql_as_from_each_row(tmp_path):
    """Appending to a long document reads its earlier chunks as one summary row (SQL) when the new
    rows are consecutive, else sums them from each chunk: both give the same summary."""
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(16)) as collection:
        chunks = chunked("doc", 400, 40, 8, seed=4)
        collection.add_items(chunks[:6])
        collection.add(["a lone text"], ids=["single"])
        collection.add_items(chunks[6:])
        sparse = collection._sparse_writer()
        rowids = sorted(rowid for rows in collection.store.member_spans(["doc"], collection.view).values()
                        for rowid, _, _ in rows)
        new = rowids[6:]
        by_sql = sparse.earlier_chunks(["doc"], new)
        by_rows = sparse.earlier_chunks(["doc"], new + [10**9])  # not consecutive: summed per row
        assert by_sql == by_rows
        count, key, last_start, last_end, without_offsets = by_sql["doc"]
        assert (count, key, without_offsets) == (6, rowids[0], 0)
        assert (last_start, last_end) == (chunks[5].start, chunks[5].end)
