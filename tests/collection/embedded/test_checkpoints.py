"""The embedded write path (issue 15): vectors and BM25 in the content store, index checkpoints with
tail replay, background checkpoints, compact, and collections made before it converted on first write."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import CollectionError

WORDS = "owl river stone cloud tiger violin garden rocket pepper castle mirror island lantern marble fox".split()


def texts(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, 6)) + f" item{seed}x{n}" for n in range(count)]


def manifest(folder) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def index_files(folder) -> list[str]:
    return sorted(path.name for path in (folder / "spaces").iterdir())


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "c"
    with Collection.create(path, encoder=HashingEncoder(32)) as collection:
        collection.add(texts(200), ids=[f"d{n}" for n in range(200)])
    return path


def test_a_small_commit_writes_no_index_file_and_readers_replay_it(folder):
    before = index_files(folder)
    reader = Collection.open(folder, readonly=True)
    with Collection.open(folder) as writer:
        writer.add(["a lone owl over the river"], ids=["new"])
        writer.delete(["d3"])
    assert index_files(folder) == before  # no index file was written: the vectors went into SQLite
    entry = manifest(folder)["spaces"]["text"]["index"]
    assert entry["tail"] == 202 and entry["generation"] < manifest(folder)["generation"]
    reader.refresh()  # replays only the new generation
    assert reader.search("a lone owl over the river", k=1)[0].id == "new"
    assert "d3" not in {hit.id for hit in reader.search(texts(200)[3], k=5)}
    assert sorted(reader.space("text").index.ids().tolist()) == sorted(
        item.rowid for batch in reader.store.iterate(reader.view) for item in batch)
    reader.close()
    assert check_collection(folder) == []


def test_replay_equals_a_fresh_load(folder):
    with Collection.open(folder) as writer:
        for round_ in range(3):
            writer.upsert(texts(20, seed=round_ + 1), ids=[f"d{n}" for n in range(round_ * 10, round_ * 10 + 20)])
            writer.commit()
    fresh = Collection.open(folder, readonly=True)
    ids = fresh.space("text").index.ids()
    stored = fresh.store.vectors_of(fresh.space("text").vector_key, ids, 32)
    assert np.allclose(fresh.space("text").index.vectors(ids), stored)
    fresh.close()


@pytest.mark.parametrize("background", ["1", "0"])
def test_checkpoints_are_written_when_due_and_cover_deletions(folder, monkeypatch, background):
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_MIN_ROWS", "10")
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_BACKGROUND", background)
    with Collection.open(folder) as writer:
        writer.delete([f"d{n}" for n in range(50)])
        writer.commit()
        if background == "1":
            writer.finish_checkpoints()  # waits for the job and names its file
        entry = manifest(folder)["spaces"]["text"]["index"]
        assert entry["tail"] == 0 and entry["generation"] == manifest(folder)["generation"] - (1 if background == "1" else 0)
        writer.commit(force=True)
    connection = sqlite3.connect(folder / "content.sqlite")
    # Deleted rows are purged once a checkpoint covers their deletion, with their vectors.
    assert connection.execute("SELECT count(*) FROM items WHERE deleted_gen IS NOT NULL").fetchone()[0] == 0
    assert connection.execute("SELECT count(*) FROM vectors").fetchone()[0] == 150
    connection.close()
    assert check_collection(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert reader.count() == 150 and reader.search(texts(200)[120], k=1)[0].id == "d120"


def test_a_failed_background_checkpoint_keeps_the_collection_and_is_tried_again(folder, monkeypatch):
    from densekit.collection.embedded import checkpoints

    monkeypatch.setenv("DENSEKIT_CHECKPOINT_MIN_ROWS", "10")
    original = checkpoints.write_atomically

    def full_disk(path, write):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints, "write_atomically", full_disk)
    with Collection.open(folder) as writer:
        checkpoint_before = manifest(folder)["spaces"]["text"]["index"]["file"]
        writer.add(texts(30, seed=7), ids=[f"n{n}" for n in range(30)])
        writer.commit()
        writer.finish_checkpoints()
        assert manifest(folder)["spaces"]["text"]["index"]["file"] == checkpoint_before
        assert check_collection(folder) == []
        assert not [path for path in (folder / "spaces").iterdir() if path.name.endswith(".tmp")]
        monkeypatch.setattr(checkpoints, "write_atomically", original)
        writer.add(["one more"], ids=["last"])
        writer.commit()
        writer.finish_checkpoints()
    assert manifest(folder)["spaces"]["text"]["index"]["file"] != checkpoint_before
    assert check_collection(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert reader.count() == 231 and reader.get("n29") is not None


def test_an_overdue_checkpoint_a_job_is_writing_is_not_written_again_inside_a_commit(folder, monkeypatch):
    """Writing it inline would hold the commit for the whole index (32 s at 1M): the commits go on,
    each writing only its rows, and the job's file is named once it finishes."""
    import threading

    from densekit.collection.embedded import checkpoints

    monkeypatch.setenv("DENSEKIT_CHECKPOINT_MIN_ROWS", "10")
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_FRACTION", "0.01")  # due past 10 rows; four times overdue past 44
    release = threading.Event()
    original = checkpoints.write_atomically

    def slow_write(path, write):
        release.wait(30)
        return original(path, write)

    monkeypatch.setattr(checkpoints, "write_atomically", slow_write)
    with Collection.open(folder) as writer:
        monkeypatch.setenv("DENSEKIT_CHECKPOINT_BACKGROUND", "0")
        writer.add(["first"], ids=["first"])
        writer.commit()  # a checkpoint of everything so far, inside the commit: the tail starts at 0
        monkeypatch.setenv("DENSEKIT_CHECKPOINT_BACKGROUND", "1")
        before = manifest(folder)["spaces"]["text"]["index"]["file"]
        writer.add(texts(30, seed=3), ids=[f"a{n}" for n in range(30)])
        writer.commit()  # due (30 > 10): a job starts and waits
        saved = []
        monkeypatch.setattr(writer.spaces["text"].index, "save", lambda path: saved.append(path))
        for round_ in range(6):  # 6 x 30 rows: far past four times overdue
            writer.add(texts(30, seed=10 + round_), ids=[f"b{round_}x{n}" for n in range(30)])
            writer.commit()
        assert saved == [] and manifest(folder)["spaces"]["text"]["index"]["file"] == before
        assert manifest(folder)["spaces"]["text"]["index"]["tail"] == 210
        release.set()
        monkeypatch.undo()
    assert manifest(folder)["spaces"]["text"]["index"]["file"] != before
    assert check_collection(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert reader.count() == 411 and reader.get("b5x29") is not None


def test_a_failure_during_tail_replay_leaves_everything_as_it_was(folder, monkeypatch):
    from densekit.collection.embedded import persistence

    with Collection.open(folder) as writer:
        writer.add(["to be replayed"], ids=["tail"])

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(persistence, "replay", broken)
    with pytest.raises(sqlite3.OperationalError):
        Collection.open(folder, readonly=True)
    monkeypatch.undo()
    assert check_collection(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert reader.search("to be replayed", k=1)[0].id == "tail"


def test_a_checkpoint_that_does_not_match_the_content_store_is_never_used(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_BACKGROUND", "0")
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_MIN_ROWS", "0")
    other = tmp_path / "other"
    with Collection.create(other, encoder=HashingEncoder(32)) as collection:
        collection.add(texts(120, seed=5), ids=[f"o{n}" for n in range(120)])
    with Collection.open(folder) as writer:
        writer.add(["forces a checkpoint"], ids=["x"])
    mine = folder / manifest(folder)["spaces"]["text"]["index"]["file"]
    mine.write_bytes((other / manifest(other)["spaces"]["text"]["index"]["file"]).read_bytes())
    with pytest.raises(CollectionError, match="manifest counts"):
        Collection.open(folder, readonly=True)
    assert any("does not match" in problem for problem in check_collection(folder))


def test_a_checkpoint_claiming_a_later_generation_is_a_problem(folder):
    data = manifest(folder)
    data["spaces"]["text"]["index"]["generation"] = data["generation"] + 5
    (folder / "manifest.json").write_text(json.dumps(data))
    assert any("claims generation" in problem for problem in check_collection(folder))


def test_compact_returns_the_space_of_deleted_items(tmp_path):
    from typer.testing import CliRunner

    from densekit.cli.main import app

    path = tmp_path / "big"
    with Collection.create(path, encoder=HashingEncoder(128)) as collection:
        collection.add(texts(3000, seed=2), ids=[f"b{n}" for n in range(3000)])
        collection.commit()
        collection.delete([f"b{n}" for n in range(2500)])
    result = CliRunner().invoke(app, ["compact", str(path), "--json"])
    assert result.exit_code == 0, result.output
    sizes = json.loads(result.stdout)
    assert sizes["items"] == 500 and sizes["size_after"] < sizes["size_before"] / 2
    assert check_collection(path) == []
    with Collection.open(path, readonly=True) as reader:
        assert reader.search(texts(3000, seed=2)[2999], k=1)[0].id == "b2999"
        assert reader.search("item2x2999", k=1, mode="sparse")[0].id == "b2999"


def test_a_collection_made_before_is_read_as_it_is_and_converted_on_its_first_write(folder):
    """Turn a collection into the layout densekit wrote before this write path (complete index files,
    a bm25s folder, no vectors or sparse tables in SQLite) and use it."""
    from densekit.collection.embedded.persistence import build_sparse, file_checksum, folder_checksum
    from densekit.collection.embedded.store import ContentStore

    with Collection.open(folder) as writer:
        writer.compact()  # one checkpoint holding every vector
    data = manifest(folder)
    entry = data["spaces"]["text"]["index"]
    for key in ("vectors", "generation", "tail"):
        entry.pop(key)
    store = ContentStore(folder / "content.sqlite")
    legacy = build_sparse(store, data["generation"])
    legacy.save(folder / f"sparse.{data['generation']}")
    with store.connection:
        store.connection.execute("DELETE FROM vectors")
        for table in ("sparse_documents", "sparse_chunks"):
            for suffix in ("settings", "terms", "segments", "blobs", "deleted"):
                store.connection.execute(f"DROP TABLE {table}_{suffix}")
    store.close()
    data["sparse"] = {"folder": f"sparse.{data['generation']}", "count": 200,
                      "sha256": folder_checksum(folder / f"sparse.{data['generation']}")}
    entry["sha256"] = file_checksum(folder / entry["file"])
    (folder / "manifest.json").write_text(json.dumps(data))
    queries = [" ".join(text.split()[:3]) for text in texts(200)[:10]]

    def answers(collection):
        return [[(hit.id, round(hit.score, 4)) for hit in collection.search(query, k=5, mode=mode)]
                for query in queries for mode in ("dense", "sparse")]

    assert check_collection(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        before = answers(reader)
    with Collection.open(folder) as writer:
        writer.add(["the first write converts it"], ids=["first"])
        writer.delete(["first"])  # converted, with the same items as before
        writer.commit()
        converted = manifest(folder)
        assert converted["sparse"]["engine"] == "segments" and converted["spaces"]["text"]["index"]["vectors"]
        assert (folder / data["sparse"]["folder"]).exists()  # readers of the previous generation may still load it
        writer.commit(force=True)
    assert not (folder / data["sparse"]["folder"]).exists()
    assert check_collection(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert answers(reader) == before
    with Collection.open(folder) as writer:
        writer.add(["the second write adds it"], ids=["second"])
    with Collection.open(folder, readonly=True) as reader:
        assert reader.search("the second write adds it", k=1)[0].id == "second"


def test_a_commit_is_durable_when_it_returns(folder):
    """WAL with synchronous=FULL: SQLite fsyncs the log at every transaction's commit."""
    with Collection.open(folder) as writer:
        connection = writer.store.connection
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
