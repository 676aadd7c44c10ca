"""A space growing past the HNSW threshold is converted at commit from the vectors in the content store,
after the old index is let go (persistence._convert_if_needed): same rows, staged deletions honoured,
and a failure part-way leaves the writer holding its old index, whole."""

from __future__ import annotations

import json

import numpy as np
import pytest

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.collection.embedded.store import ContentStore
from densekit.encoders.hashing import HashingEncoder

WORDS = "owl river stone cloud tiger violin garden rocket pepper castle mirror island lantern marble fox".split()


def texts(count: int) -> list[str]:
    rng = np.random.default_rng(7)
    return [" ".join(rng.choice(WORDS, 6)) + f" item{n}" for n in range(count)]


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch):
    monkeypatch.setenv("DENSEKIT_HNSW_THRESHOLD", "100")


def index_entry(folder) -> dict:
    return json.loads((folder / "manifest.json").read_text())["spaces"]["text"]["index"]


def test_conversion_builds_the_writers_rows_from_the_store(tmp_path):
    corpus = texts(180)
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(32)) as writer:
        writer.add(corpus[:60], ids=[f"d{n}" for n in range(60)])
        writer.commit()
        assert writer.spaces["text"].index.kind == "flat"
        writer.add(corpus[60:], ids=[f"d{n}" for n in range(60, 180)])
        writer.delete(["d3", "d150"])  # staged in the same generation as the rows that cross the threshold
        writer.commit()
        index = writer.spaces["text"].index
        assert index.kind == "hnsw" and len(index) == 178
        assert writer.search(corpus[42], k=1)[0].id == "d42"
        assert {hit.id for hit in writer.search(corpus[150], k=178)}.isdisjoint({"d3", "d150"})
    assert index_entry(tmp_path / "c")["kind"] == "hnsw"
    assert check_collection(tmp_path / "c") == []
    with Collection.open(tmp_path / "c", readonly=True) as reader:
        assert reader.search(corpus[170], k=1)[0].id == "d170"
        assert reader.count() == 178


def test_a_failed_conversion_leaves_the_old_index_whole(tmp_path, monkeypatch):
    corpus = texts(150)
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(32)) as writer:
        writer.add(corpus[:50], ids=[f"d{n}" for n in range(50)])
        writer.commit()
        writer.add(corpus[50:], ids=[f"d{n}" for n in range(50, 150)])
        real = ContentStore.vectors_added_between
        calls = []

        def failing(self, key, after, through, dimension, batch=5000):
            calls.append(after)
            if len(calls) == 1:  # the conversion's read fails part-way; rebuilding the old kind works
                yield from real(self, key, after, through, dimension, batch=40)
                raise MemoryError("no room for the new index")
            yield from real(self, key, after, through, dimension, batch)

        monkeypatch.setattr(ContentStore, "vectors_added_between", failing)
        with pytest.raises(MemoryError):
            writer.commit()
        index = writer.spaces["text"].index
        assert index.kind == "flat" and len(index) == 150
        assert writer.search(corpus[120], k=1)[0].id == "d120"
        assert index_entry(tmp_path / "c")["kind"] == "flat"  # the committed state is the previous one
        monkeypatch.setattr(ContentStore, "vectors_added_between", real)
        writer.commit()
        assert writer.spaces["text"].index.kind == "hnsw"
    assert check_collection(tmp_path / "c") == []
    with Collection.open(tmp_path / "c", readonly=True) as reader:
        assert reader.count() == 150 and reader.search(corpus[149], k=1)[0].id == "d149"


def test_a_committing_ingest_run_builds_its_graph_once_at_its_end(tmp_path, monkeypatch):
    # The run's commits keep the flat index past the threshold and start no background checkpoint
    # (a second copy of the index); its end merges the BM25 segments, then converts and writes the
    # checkpoint inline. Answers equal those of one staged ingest committed once.
    from densekit.collection.embedded.commits import EmbeddedCommits
    from densekit.ingest import CommitEvery, ingest

    corpus = tmp_path / "docs"
    corpus.mkdir()
    for number, text in enumerate(texts(40)):
        (corpus / f"doc{number:02d}.txt").write_text(" ".join([text] * 6))
    committed_kinds, started = [], []
    real_start = EmbeddedCommits._start_checkpoints

    def watching_start(self):
        before = set(self._checkpoint_jobs)
        real_start(self)
        started.extend(set(self._checkpoint_jobs) - before)

    monkeypatch.setattr(EmbeddedCommits, "_start_checkpoints", watching_start)
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_MIN_ROWS", "10")
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(32)) as writer:
        commit = writer.commit

        def recording_commit(force: bool = False):
            commit(force)
            committed_kinds.append((index_entry(tmp_path / "c")["kind"], writer.count()))

        writer.commit = recording_commit
        report = ingest(writer, [corpus], max_tokens=8, overlap=2, commit_every=CommitEvery(documents=5, seconds=1e9))
        assert writer.spaces["text"].index.kind == "hnsw"
    assert report.commits == 8 and report.chunks > 100
    # Past 100 items the run's commits still show a flat index; only the run's last commits convert.
    assert [kind for kind, count in committed_kinds if count > 100][:3] == ["flat", "flat", "flat"]
    assert committed_kinds[-1][0] == "hnsw" and started == []
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert index_entry(tmp_path / "c")["tail"] == 0 and manifest["spaces"]["text"]["count"] == report.chunks
    assert check_collection(tmp_path / "c") == []
    with Collection.create(tmp_path / "staged", encoder=HashingEncoder(32)) as staged:
        ingest(staged, [corpus], max_tokens=8, overlap=2)
        staged.commit()
        assert staged.spaces["text"].index.kind == "hnsw"
    queries = texts(40)[::7] + ["violin garden", "owl"]
    with Collection.open(tmp_path / "c", readonly=True) as reader, Collection.open(tmp_path / "staged", readonly=True) as other:
        for mode in ("dense", "sparse", "hybrid"):
            for query in queries:
                assert ([(hit.id, round(hit.score, 5)) for hit in reader.search(query, k=10, mode=mode)]
                        == [(hit.id, round(hit.score, 5)) for hit in other.search(query, k=10, mode=mode)])


def test_a_run_killed_before_its_end_is_converted_by_the_next_runs_end(tmp_path):
    # A run's commits left the space flat past the threshold (killed before its end); the next run,
    # which finds every document unchanged, still converts at its end (merge_segments).
    from densekit.collection.space import index_run

    corpus = texts(150)
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(32)) as writer:
        started = writer.generation
        with index_run():
            writer.add(corpus, ids=[f"d{n}" for n in range(150)])
            writer.commit()
        assert index_entry(tmp_path / "c")["kind"] == "flat" and writer.spaces["text"].index.kind == "flat"
        generation = writer.generation
        writer.merge_segments(generation)  # a later run's end: nothing of its own to merge
        assert writer.generation == generation + 1 and index_entry(tmp_path / "c")["kind"] == "hnsw"
        writer.merge_segments(started)
        assert writer.search(corpus[42], k=1)[0].id == "d42"
    assert check_collection(tmp_path / "c") == []
