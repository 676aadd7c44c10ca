"""Merging the BM25 segments an index run wrote (``Collection.merge_segments``, called at the end of
a committing ``ingest``): the same answers afterwards, and a failure or a kill during the merge
leaves the last commit readable."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.collection.items import Item
from densekit.encoders.hashing import HashingEncoder
from densekit.ingest import CommitEvery, ingest
from densekit.sparse_segments import SegmentedSparseIndex

WORDS = "owl river stone cloud tiger violin garden rocket pepper castle mirror island lantern marble fox".split()
QUERIES = ["owl river", "tiger violin garden", "lantern", "fox fox marble", "castle mirror island stone", "doc7"]


def documents(count: int, seed: int, first: int = 0) -> list[list[Item]]:
    """``count`` documents of 3-5 chunks each (parents with offsets, as ``ingest`` writes them)."""
    rng = np.random.default_rng(seed)
    written = []
    for number in range(first, first + count):
        chunks, start = [], 0
        for part in range(int(rng.integers(3, 6))):
            text = " ".join(rng.choice(WORDS, int(rng.integers(4, 12)))) + f" doc{number}"
            chunks.append(Item(f"doc{number}#{part}", text, {}, f"doc{number}", start, start + len(text)))
            start += len(text) + 1
        written.append(chunks)
    return written


def segment_counts(collection) -> dict[str, int]:
    sparse = collection.sparse_index()
    return {name: table.statistics()["segments"] for name, table in (("documents", sparse.documents), ("chunks", sparse.chunks))}


def answers(collection) -> list:
    """Every query's hits in each mode, with their scores: what must not change."""
    found = []
    for query in QUERIES:
        for mode in ("sparse", "hybrid"):
            found.append([(hit.id, hit.score) for hit in collection.search(query, k=8, mode=mode)])
        found.append([(hit.id, hit.score) for hit in collection.search(query, k=5, mode="sparse", group="parent")])
    return found


def written_in_commits(folder, encoder) -> Collection:
    """A collection written by many small commits, with replacements and deletions among them."""
    collection = Collection.create(folder, encoder=encoder)
    for number, chunks in enumerate(documents(40, seed=3)):
        collection.add_items(chunks)
        if number % 3 == 2:
            collection.commit()
    collection.replace(["doc5"], documents(1, seed=9, first=5)[0])
    collection.delete(["doc8", "doc9#1"])
    collection.commit()
    return collection


def answers_of_one_commit(folder, corpus) -> list:
    """The answers of ``corpus`` ingested and committed once, with no merge."""
    with Collection.create(folder, encoder=HashingEncoder(32)) as collection:
        ingest(collection, [corpus], max_tokens=20, overlap=4)
        collection.commit()
        return answers(collection)


def test_merging_the_segments_changes_no_answer(tmp_path):
    encoder = HashingEncoder(32)
    collection = written_in_commits(tmp_path / "c", encoder)
    started = collection.generation
    before, segments = answers(collection), segment_counts(collection)
    assert min(segments.values()) > 3
    assert collection.merge_segments(0) > 0
    assert segment_counts(collection) == {"documents": 1, "chunks": 1}
    assert answers(collection) == before
    assert collection.generation == started + 2  # the merge, then the commit that purges what it replaced
    connection = collection.store.connection
    for table in ("sparse_documents", "sparse_chunks"):
        assert connection.execute(f"SELECT count(*) FROM {table}_segments").fetchone() == (1,)
    assert collection.merge_segments(0) == 0 and collection.generation == started + 2  # nothing left: no commit
    collection.close()
    assert check_collection(tmp_path / "c") == []
    with Collection.open(tmp_path / "c", readonly=True) as reader:
        assert answers(reader) == before and segment_counts(reader) == {"documents": 1, "chunks": 1}


def test_a_committing_ingest_leaves_one_segment_per_table(tmp_path):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for number in range(30):
        (corpus / f"doc{number:02d}.txt").write_text(" ".join(WORDS[(number + n) % len(WORDS)] for n in range(60)))
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(32)) as collection:
        report = ingest(collection, [corpus], max_tokens=20, overlap=4, commit_every=CommitEvery(documents=2, seconds=1e9))
        assert report.commits == 15
        assert segment_counts(collection) == {"documents": 1, "chunks": 1}
        merged = answers(collection)
    assert answers_of_one_commit(tmp_path / "staged", corpus) == merged
    assert check_collection(tmp_path / "c") == []


def test_a_long_run_merges_its_segments_into_full_ones_as_it_goes(tmp_path, monkeypatch):
    """An index run (here with BM25 in this process, so the smaller full segment reaches it) merges
    its segments once each into full ones as they come; its end leaves those and merges the rest.
    The answers are those of one commit without any merge."""
    import densekit.sparse_merges as merges

    monkeypatch.setenv("DENSEKIT_SPARSE_WORKER", "0")
    monkeypatch.setattr(merges, "RUN_MERGE_DOCUMENTS", 40)
    rewrites = []
    original = SegmentedSparseIndex._rewrite
    monkeypatch.setattr(SegmentedSparseIndex, "_rewrite",
                        lambda self, group: (rewrites.append((self.table, [int(s.alive.sum()) for s in group])),
                                             original(self, group))[1])
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for number in range(60):
        (corpus / f"doc{number:02d}.txt").write_text(" ".join(WORDS[(number * 7 + n) % len(WORDS)] for n in range(40)))
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(32)) as collection:
        ingest(collection, [corpus], max_tokens=20, overlap=4, commit_every=CommitEvery(documents=3, seconds=1e9))
        # 20 commits of 3 documents: past 40 the first 13 segments (39) became one, never merged again;
        # the run's end merged the other 7.
        assert [sizes for table, sizes in rewrites if table == "sparse_documents"] == [[3] * 13, [3] * 7]
        assert sorted(int(s.alive.sum()) for s in collection.sparse_index().documents._segments) == [21, 39]
        merged = answers(collection)
    assert answers_of_one_commit(tmp_path / "staged", corpus) == merged
    assert check_collection(tmp_path / "c") == []


def test_a_failure_during_the_merge_keeps_the_last_commit(tmp_path, monkeypatch):
    encoder = HashingEncoder(32)
    collection = written_in_commits(tmp_path / "c", encoder)
    before, segments, generation = answers(collection), segment_counts(collection), collection.generation
    original, calls = SegmentedSparseIndex._rewrite, []

    def failing_rewrite(self, group):
        calls.append(self.table)
        if self.table == "sparse_chunks":  # the documents' table is merged already, inside the same transaction
            raise OSError("disk full (injected)")
        original(self, group)

    monkeypatch.setattr(SegmentedSparseIndex, "_rewrite", failing_rewrite)
    with pytest.raises(OSError, match="injected"):
        collection.merge_segments(0)
    assert calls[0] == "sparse_documents" and "sparse_chunks" in calls
    monkeypatch.undo()
    with Collection.open(tmp_path / "c", readonly=True) as reader:
        assert reader.generation == generation and answers(reader) == before
    # The writer's handle is as it was, and a second try merges.
    assert collection.generation == generation and not collection.dirty
    assert segment_counts(collection) == segments and answers(collection) == before
    assert collection.merge_segments(0) > 0 and answers(collection) == before
    collection.close()
    assert check_collection(tmp_path / "c") == []


KILLER = """
import os, sys
from densekit.collection import Collection
from densekit.encoders.hashing import HashingEncoder
from densekit.sparse_segments import SegmentedSparseIndex

folder, where = sys.argv[1], sys.argv[2]
collection = Collection.open(folder, encoder=HashingEncoder(32))
if where == "merge":  # inside the merge's transaction, after the documents' table was rewritten
    original = SegmentedSparseIndex._rewrite
    def rewrite(self, group):
        if self.table == "sparse_chunks":
            os._exit(9)
        original(self, group)
    SegmentedSparseIndex._rewrite = rewrite
elif where == "purge":  # the merge is committed; the commit that purges what it replaced is not
    seen = []
    collection.on_save_step = lambda name: (seen.append(name), os._exit(9) if seen.count("manifest") == 2 else None)
else:  # the merge is in SQLite, the manifest not yet switched
    collection.on_save_step = lambda name: os._exit(9) if name == where else None
collection.merge_segments(0)
os._exit(0)
"""


@pytest.mark.parametrize("where", ["merge", "sparse", "manifest", "purge"])
def test_a_kill_during_the_merge_keeps_the_last_commit(tmp_path, where):
    encoder = HashingEncoder(32)
    collection = written_in_commits(tmp_path / "c", encoder)
    before, segments, generation = answers(collection), segment_counts(collection), collection.generation
    collection.close()
    child = subprocess.run([sys.executable, "-c", KILLER, str(tmp_path / "c"), where], capture_output=True, text=True)
    assert child.returncode == 9, child.stderr
    assert check_collection(tmp_path / "c") == []
    merged = where == "purge"  # killed after the merge's own commit: that one stays
    with Collection.open(tmp_path / "c", readonly=True) as reader:
        assert reader.generation == generation + merged and answers(reader) == before
        assert segment_counts(reader) == ({"documents": 1, "chunks": 1} if merged else segments)
    with Collection.open(tmp_path / "c", encoder=encoder) as writer:  # the next writer tidies up and merges
        assert answers(writer) == before
        assert (writer.merge_segments(0) > 0) != merged and answers(writer) == before
    assert check_collection(tmp_path / "c") == []
