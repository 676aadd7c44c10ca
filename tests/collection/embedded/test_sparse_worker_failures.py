"""Failures around an index run's BM25 worker (``sparse_worker.py``) that a run without failures never
meets: a discard of staged writes that itself fails, a hand-over to a worker that cannot be reached,
an interrupt between a request and its answer, and a purge that fails after a commit point. Each
leaves a collection whose rows and BM25 entries match, and the process able to run again."""

from __future__ import annotations

import json
import sqlite3

import pytest

from densekit.collection import Collection
from densekit.collection.embedded import sparse_tables, sparse_worker
from densekit.collection.embedded.store import CONTENT_NAME
from densekit.collection.space import index_run
from densekit.errors import CollectionError
from densekit.ingest import CommitEvery, ingest


@pytest.fixture
def with_worker(monkeypatch):
    monkeypatch.setenv("DENSEKIT_SPARSE_WORKER", "1")


def consistent(folder) -> int:
    """The committed collection's item count, once its rows, manifest and BM25 agree."""
    assert Collection.check_at(folder) == []
    manifest = json.loads((folder / "manifest.json").read_text())
    with Collection.open(folder, readonly=True) as reader:
        assert reader.count() == manifest["count"] == manifest["sparse"]["count"] == len(reader.sparse_index())
        return reader.count()


def test_a_discard_that_fails_is_finished_before_the_handle_commits(tmp_path, with_worker, monkeypatch):
    """The worker ends before writing a change; dropping what was staged then meets a full disk. The
    handle's next commit finishes the discard first: the staged rows never go out without BM25."""
    folder = tmp_path / "c"
    real_discard, real_change = sparse_tables.discard_after, sparse_worker.SparseWorker.change
    failed = []

    def full_disk_once(connection, gen):
        if not failed:
            failed.append(gen)
            raise sqlite3.OperationalError("database or disk is full")
        return real_discard(connection, gen)

    def change_then_end(self, added, removed):
        real_change(self, added, removed)
        self._worker.process.kill()  # before it wrote this change
        self._worker.process.wait()

    with Collection.create(folder, model="hashing:64") as collection:
        with index_run():
            collection.add(["alpha bravo", "charlie delta"], ids=["a", "b"])
            collection.commit()
            monkeypatch.setattr(sparse_worker.SparseWorker, "change", change_then_end)
            collection.add(["echo foxtrot", "golf hotel"], ids=["e", "g"])
            monkeypatch.setattr(sparse_tables, "discard_after", full_disk_once)
            with pytest.raises(CollectionError, match="disk is full"):
                collection.commit()
            assert failed
            collection.commit()  # tried again, as the message invites: the discard is finished first
            assert collection.count() == 2 and collection.generation == 2
        monkeypatch.setattr(sparse_worker.SparseWorker, "change", real_change)
        collection.add(["india juliet"], ids=["i"])  # and the handle writes on
    assert consistent(folder) == 3
    with Collection.open(folder, readonly=True) as reader:
        assert reader.get("e") is None
        assert [hit.id for hit in reader.search("india juliet", k=1, mode="sparse")] == ["i"]


def test_a_hand_over_to_a_worker_that_cannot_be_reached_loses_nothing(tmp_path, with_worker, monkeypatch):
    """A kept worker ends between being taken and being asked to open the collection: the write goes
    on (BM25 in the writer, or a worker started afresh), and nothing staged before the hand-over is
    lost or indexed twice. (Dropped, the staged rows went and their BM25 entries stayed.)"""
    folder = tmp_path / "c"
    monkeypatch.setattr(sparse_worker, "PAYS_OFF_SHARE", 0.5)
    with Collection.create(folder, model="hashing:64") as collection:
        collection.add([f"base text number {n}" for n in range(8)], ids=[f"base{n}" for n in range(8)])
    sparse_worker.prestart()
    kept = sparse_worker._own_idle()[-1]
    kept.process.kill()
    kept.process.wait()
    monkeypatch.setattr(kept, "alive", lambda: True)  # it ended just after it was seen alive
    with Collection.open(folder) as collection:
        with index_run():
            collection.add(["zebra quagga one", "zebra quagga two"], ids=["z1", "z2"])  # BM25 in the writer
            collection.add(["zebra quagga three", "zebra quagga four"], ids=["z3", "z4"])
            collection.add(["zebra quagga five"], ids=["z5"])  # the hand-over is due here: the kept one fails
            assert collection.count() == 13
    assert kept not in sparse_worker._own_idle()
    assert consistent(folder) == 13
    with Collection.open(folder, readonly=True) as reader:
        assert sorted(hit.id for hit in reader.search("zebra quagga", k=10, mode="sparse")) == ["z1", "z2", "z3", "z4", "z5"]


def test_an_interrupt_between_a_request_and_its_answer_ends_the_worker(tmp_path, with_worker, monkeypatch):
    """Ctrl-C after a request went out and before its answer was read: that worker would answer each
    later request with the answer to the one before, so it is ended, not kept for the next run."""
    real_receive = sparse_worker.SparseWorker._receive
    interrupted = []

    def interrupt_once(self):
        if not interrupted:
            interrupted.append(self._worker)
            raise KeyboardInterrupt  # the answer stays in the socket
        return real_receive(self)

    monkeypatch.setattr(sparse_worker.SparseWorker, "_receive", interrupt_once)
    with pytest.raises(KeyboardInterrupt):
        with Collection.create(tmp_path / "one", model="hashing:64") as collection:
            with index_run():
                collection.add(["alpha bravo"], ids=["a"])
                collection.commit()
    assert interrupted and interrupted[0] not in sparse_worker._own_idle()
    assert interrupted[0].process.poll() is not None
    assert consistent(tmp_path / "one") == 0  # the commit did not happen; nothing half-written
    with Collection.create(tmp_path / "two", model="hashing:64") as collection:  # the next run, same process
        with index_run():
            for number in range(3):
                collection.add([f"document {number} about zebras"], ids=[f"d{number}"])
            collection.commit()
            assert isinstance(collection._sparse_tables, sparse_worker.SparseWorker)
    assert consistent(tmp_path / "two") == 3


def test_a_purge_that_fails_in_the_worker_fails_nothing(tmp_path, with_worker):
    """Dropping the segments a merge retired comes after the commit point: when SQLite refuses it in
    the worker (here a trigger; a full disk or a long-held lock in use), the run goes on and ends as
    a clean run does, and a later commit purges them."""
    folder = tmp_path / "c"
    source = tmp_path / "documents.jsonl"
    source.write_text("".join(json.dumps({"id": f"d{n}", "text": f"document {n} about topic {n % 5}. " * 5}) + "\n"
                              for n in range(40)))
    with Collection.create(folder, model="hashing:64") as collection:
        collection.commit(force=True)  # the sparse tables exist from here
        connection = sqlite3.connect(folder / CONTENT_NAME)
        for table in ("sparse_chunks", "sparse_documents"):
            connection.execute(f"CREATE TRIGGER refuse_{table} BEFORE DELETE ON {table}_segments "
                               "WHEN OLD.retired_gen IS NOT NULL BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
        connection.commit()
        report = ingest(collection, [source], commit_every=CommitEvery(documents=10))
        assert report.commits >= 4
    retired = "SELECT count(*) FROM sparse_chunks_segments WHERE retired_gen IS NOT NULL"
    assert connection.execute(retired).fetchone()[0] > 0  # the run's final merge retired them; not purged
    assert consistent(folder) == 40
    for table in ("sparse_chunks", "sparse_documents"):
        connection.execute(f"DROP TRIGGER refuse_{table}")
    connection.commit()
    with Collection.open(folder) as collection:
        collection.add(["one more document"], ids=["more"])
        collection.commit()
    assert connection.execute(retired).fetchone()[0] == 0
    connection.close()
    assert consistent(folder) == 41
