"""An index run's BM25 written by a worker process (``sparse_worker.py``): the same tables as the writer
writing them itself, and a failing worker loses only what was staged since the last commit."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3

import pytest

import densekit.ingest as ingest_module
from densekit.collection import Collection
from densekit.collection.embedded import sparse_worker, sparse_worker_process
from densekit.collection.embedded.store import CONTENT_NAME
from densekit.errors import CollectionError
from densekit.ingest import CommitEvery, ingest

QUESTIONS = ["Who did the old man marry?", "What is the name of the band?", "Where was the treaty signed?",
             "What is the first name of the person who was killed?"]


@pytest.fixture
def passages(shared_data):
    return [json.loads(line) for line in (shared_data / "quoref" / "passages.jsonl").read_text().splitlines()[:120]]


@pytest.fixture
def small_groups(monkeypatch):
    """Staging writes of 64 chunks: a run of a few hundred chunks makes many writes and commits."""
    monkeypatch.setattr(ingest_module, "GROUP_CHUNKS", 64)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def index(folder, source, monkeypatch, worker: bool, documents: int = 16):
    monkeypatch.setenv("DENSEKIT_SPARSE_WORKER", "1" if worker else "0")
    started = []
    real = sparse_worker.SparseWorker.__init__

    def counting(self, *arguments):
        started.append(1)
        real(self, *arguments)

    monkeypatch.setattr(sparse_worker.SparseWorker, "__init__", counting)
    create = Collection.open if (folder / "manifest.json").exists() else Collection.create
    options = {} if create is Collection.open else {"model": "hashing:384"}
    with create(folder, **options) as collection:
        report = ingest(collection, [source], commit_every=CommitEvery(documents=documents))
    assert bool(started) == worker  # the worker was (not) used
    return report


def sparse_tables(folder) -> dict[str, str]:
    connection = sqlite3.connect(folder / CONTENT_NAME)
    try:
        names = [name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'sparse%' ORDER BY name")]
        return {name: hashlib.sha256(repr(connection.execute(f"SELECT * FROM {name} ORDER BY 1").fetchall()).encode()).hexdigest()
                for name in names}
    finally:
        connection.close()


def answers(folder):
    with Collection.open(folder, readonly=True) as reader:
        return [[(hit.id, round(float(hit.score), 5)) for hit in reader.search(question, k=8, mode="sparse")]
                for question in QUESTIONS]


def manifest_sparse(folder):
    return json.loads((folder / "manifest.json").read_text())["sparse"]


def test_a_run_with_the_worker_writes_the_same_tables(tmp_path, passages, small_groups, monkeypatch):
    source = write_jsonl(tmp_path / "passages.jsonl", passages)
    index(tmp_path / "worker", source, monkeypatch, worker=True)
    index(tmp_path / "writer", source, monkeypatch, worker=False)
    assert sparse_tables(tmp_path / "worker") == sparse_tables(tmp_path / "writer")  # byte for byte
    assert manifest_sparse(tmp_path / "worker") == manifest_sparse(tmp_path / "writer")
    assert manifest_sparse(tmp_path / "worker")["documents"] == len(passages)
    assert answers(tmp_path / "worker") == answers(tmp_path / "writer")
    assert Collection.check_at(tmp_path / "worker") == []


def test_changed_and_long_documents_are_counted_again_by_the_worker(tmp_path, passages, small_groups, monkeypatch):
    """Documents replaced by a second run (removals), and a document longer than a write (appended to in
    parts): the counts made ahead do not fit, and the worker counts them from the rows."""
    monkeypatch.setattr(ingest_module, "GIANT_CHUNKS", 96)
    changed = [dict(row, text=row["text"] + " The harbour master kept the ledger.") if n % 7 == 0 else row
               for n, row in enumerate(passages[:80])]
    long_text = " ".join(row["text"] for row in passages[80:100])  # ~100 chunks: written in parts
    source = tmp_path / "passages.jsonl"
    for name, worker in (("worker", True), ("writer", False)):
        folder = tmp_path / name
        index(folder, write_jsonl(source, passages[:80]), monkeypatch, worker=worker)
        report = index(folder, write_jsonl(source, changed + [{"id": "long", "text": long_text}] + passages[100:]),
                       monkeypatch, worker=worker)
        assert report.replaced == len(range(0, 80, 7)) and report.added == 1 + len(passages[100:])
    assert answers(tmp_path / "worker") == answers(tmp_path / "writer")
    assert manifest_sparse(tmp_path / "worker") == manifest_sparse(tmp_path / "writer")
    for name in ("worker", "writer"):
        assert Collection.check_at(tmp_path / name) == []
    with Collection.open(tmp_path / "worker", readonly=True) as reader:
        hits = reader.search("harbour master ledger", k=20, mode="sparse", group="parent")
        assert {hit.parent for hit in hits[:12]} == {row["id"] for row in passages[:80:7]}  # the new words


def test_a_worker_that_dies_loses_only_what_was_not_committed(tmp_path, passages, small_groups, monkeypatch):
    source = write_jsonl(tmp_path / "passages.jsonl", passages)
    folder = tmp_path / "collection"
    monkeypatch.setenv("DENSEKIT_SPARSE_WORKER", "1")
    sent = []
    real_change = sparse_worker.SparseWorker.change

    def change_then_die(self, added, removed):
        real_change(self, added, removed)
        sent.append(len(added))
        if len(sent) == 5:  # after two commits (16 documents each, ~5 chunks a document)
            self._worker.process.kill()
            self._worker.process.wait()

    monkeypatch.setattr(sparse_worker.SparseWorker, "change", change_then_die)
    with Collection.create(folder, model="hashing:384") as collection:
        with pytest.raises(CollectionError, match="BM25 worker"):
            ingest(collection, [source], commit_every=CommitEvery(documents=16))
        committed = collection.count()
        assert 0 < committed < sum(sent)  # the writes since the last commit are gone
    assert Collection.check_at(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert reader.count() == committed
        assert manifest_sparse(folder)["count"] == committed  # every committed row has its BM25 entry
    monkeypatch.setattr(sparse_worker.SparseWorker, "change", real_change)
    index(folder, source, monkeypatch, worker=True)  # the re-run ends where a clean run ends
    index(tmp_path / "clean", source, monkeypatch, worker=True)
    assert answers(folder) == answers(tmp_path / "clean")
    assert manifest_sparse(folder) == manifest_sparse(tmp_path / "clean")
    assert Collection.check_at(folder) == []


def test_a_worker_reports_its_errors_and_fails_from_then_on(tmp_path):
    with Collection.create(tmp_path / "c", model="hashing:384"):
        pass
    worker = sparse_worker.SparseWorker(tmp_path / "c" / CONTENT_NAME, 2)
    try:
        assert worker.sizes() == (0, 0)
        with pytest.raises(sparse_worker.SparseWorkerError, match="unknown request 'nonsense'"):
            worker._request("nonsense")
        with pytest.raises(sparse_worker.SparseWorkerError, match="unknown request"):
            worker.sizes()  # failed for good: the writer drops what it staged
    finally:
        worker.kill()


def test_a_worker_whose_writer_ended_writes_nothing(tmp_path):
    """Its writes first take SQLite's write lock, then check that the writer that started it is alive:
    a worker outliving a killed writer cannot stage anything after the next writer discarded the
    killed one's generation."""
    with Collection.create(tmp_path / "c", model="hashing:384"):
        pass
    served = sparse_worker_process._Served(str(tmp_path / "c" / CONTENT_NAME), 2, None, writer_pid=os.getppid() + 1_000_000)
    try:
        with pytest.raises(RuntimeError, match="has ended"):
            served.write(lambda: served.sparse.purge(1))
        assert not served.store.connection.in_transaction  # rolled back
    finally:
        served.close()


def test_when_the_worker_is_used(monkeypatch):
    monkeypatch.setenv("DENSEKIT_SPARSE_WORKER", "0")
    assert not sparse_worker.wanted()
    monkeypatch.setenv("DENSEKIT_SPARSE_WORKER", "1")
    assert sparse_worker.wanted() == (os.name == "posix")
    monkeypatch.delenv("DENSEKIT_SPARSE_WORKER")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert not sparse_worker.wanted()  # one CPU: it would only add its start
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert sparse_worker.wanted() == (os.name == "posix")


def test_a_change_that_fails_in_the_worker_fails_the_next_request(tmp_path):
    """Each change is answered "read" exactly once, also when its write fails; the failure is the
    answer to the writer's next request, and every request after it."""
    from densekit.collection.items import Item

    with Collection.create(tmp_path / "c", model="hashing:384") as collection:
        collection.add(["the harbour master kept the ledger"], ids=["a"])
        collection.commit()
        rowid = collection.store.rowids_for_ids(["a"], collection.view)["a"][0]
    worker = sparse_worker.SparseWorker(tmp_path / "c" / CONTENT_NAME, 3)
    try:
        item = Item("b", "a second ledger")
        worker.change([(rowid, item)], [])  # that row is indexed already: refused when written
        worker.settle_reads()
        with pytest.raises(sparse_worker.SparseWorkerError, match="already indexed"):
            worker.sizes()
    finally:
        worker.kill()


def test_a_kept_worker_finds_a_collection_named_by_a_relative_path(tmp_path, passages, monkeypatch):
    """Workers are kept for the process's next run, each in the directory it started in."""
    monkeypatch.setenv("DENSEKIT_SPARSE_WORKER", "1")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    sparse_worker.prestart()
    monkeypatch.chdir(tmp_path)
    source = write_jsonl(tmp_path / "passages.jsonl", passages[:20])
    with Collection.create("relative", model="hashing:384") as collection:
        ingest(collection, ["passages.jsonl"], commit_every=CommitEvery(documents=8))
    assert manifest_sparse(tmp_path / "relative")["documents"] == 20
    assert source.exists() and Collection.check_at(tmp_path / "relative") == []


def test_a_run_hands_its_bm25_over_once_the_worker_pays_off(tmp_path, passages, monkeypatch):
    """The worker first reads the tables: a run small next to the collection keeps BM25 in the writer,
    a larger one hands it over once it has written PAYS_OFF_SHARE of the texts already indexed."""
    monkeypatch.setattr(sparse_worker, "PAYS_OFF_SHARE", 0.5)
    monkeypatch.setattr(ingest_module, "GROUP_CHUNKS", 16)
    started = []
    real = sparse_worker.SparseWorker.__init__
    monkeypatch.setattr(sparse_worker.SparseWorker, "__init__", lambda self, *a: (started.append(1), real(self, *a))[1])
    monkeypatch.setenv("DENSEKIT_SPARSE_WORKER", "1")
    folders = {name: tmp_path / name for name in ("worker", "writer")}
    for name, folder in folders.items():
        started.clear()
        with Collection.create(folder, model="hashing:384") as collection:
            collection.add([row["text"] for row in passages[:60]], ids=[row["id"] for row in passages[:60]])
            collection.commit()
        if name == "writer":
            monkeypatch.setenv("DENSEKIT_SPARSE_WORKER", "0")
        with Collection.open(folder) as collection:
            ingest(collection, [write_jsonl(tmp_path / "small.jsonl", passages[60:64])], commit_every=CommitEvery(documents=2))
        assert not started  # 4 passages (~20 chunks) against 60 texts: the writer's own
        with Collection.open(folder) as collection:
            ingest(collection, [write_jsonl(tmp_path / "large.jsonl", passages[64:120])], commit_every=CommitEvery(documents=4))
        assert len(started) == (1 if name == "worker" else 0)
    assert answers(folders["worker"]) == answers(folders["writer"])
    assert manifest_sparse(folders["worker"]) == manifest_sparse(folders["writer"])
    assert Collection.check_at(folders["worker"]) == []


def test_a_forked_child_leaves_its_parents_workers_alone(monkeypatch):
    """A fork inherits the list of kept workers, not the workers: they answer the parent."""
    monkeypatch.setenv("DENSEKIT_SPARSE_WORKER", "1")
    sparse_worker.prestart()
    kept = sparse_worker._idle[-1]
    child = os.fork()
    if child == 0:  # the child: sees no kept worker, and ends none at its exit
        code = 0 if not sparse_worker._own_idle() else 1
        sparse_worker._end_idle()
        os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.WEXITSTATUS(status) == 0
    assert kept.alive() and kept in sparse_worker._own_idle()


def test_the_writer_searching_during_a_run_finds_what_it_staged(tmp_path, passages, monkeypatch):
    """A sparse search by the writer itself waits for the worker to write what it was sent: dense and
    sparse see the same staged rows."""
    from densekit.collection.space import index_run

    monkeypatch.setenv("DENSEKIT_SPARSE_WORKER", "1")
    with Collection.create(tmp_path / "c", model="hashing:384") as collection:
        with index_run():
            for n, row in enumerate(passages[:30]):
                collection.add([row["text"] + f" zebraword{n}"], ids=[row["id"]])
                hits = collection.search(f"zebraword{n}", k=1, mode="sparse")
                assert [hit.id for hit in hits] == [row["id"]]
            assert isinstance(collection._sparse_tables, sparse_worker.SparseWorker)
            collection.commit()
        collection.merge_segments(1)
    assert Collection.check_at(tmp_path / "c") == []


def test_the_worker_merges_a_runs_many_small_writes_as_it_goes(tmp_path, monkeypatch):
    """The worker merges the run's segments from the generation the run started at, the first
    included: 200 writes of one document, one commit, leave fewer than RUN_MERGE_SEGMENTS (64) per
    size before the run's end merge (200 when the run's first generation was left out)."""
    from densekit.collection.embedded.commits import EmbeddedCommits
    from densekit.encoders.hashing import HashingEncoder

    monkeypatch.setenv("DENSEKIT_SPARSE_WORKER", "1")
    monkeypatch.setattr(ingest_module, "GROUP_CHUNKS", 4)  # 4 chunks: one document a write
    counts = {}
    original = EmbeddedCommits.merge_segments

    def counting(self, since):
        self.commit()
        counts["worker"] = isinstance(self._sparse_tables, sparse_worker.SparseWorker)
        for table in ("sparse_documents", "sparse_chunks"):
            counts[table] = self.store.connection.execute(
                f"SELECT count(*) FROM {table}_segments WHERE retired_gen IS NULL").fetchone()[0]
        return original(self, since)

    monkeypatch.setattr(EmbeddedCommits, "merge_segments", counting)
    corpus = tmp_path / "docs"
    corpus.mkdir()
    words = "owl river stone cloud tiger violin garden rocket pepper castle mirror island lantern marble fox".split()
    for number in range(200):
        (corpus / f"doc{number:03d}.txt").write_text(" ".join(words[(number * 7 + n) % len(words)] for n in range(40)))
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(32)) as collection:
        report = ingest(collection, [corpus], max_tokens=20, overlap=4, commit_every=CommitEvery(documents=10**6, seconds=1e9))
        assert report.commits == 1 and counts["worker"]
        assert counts["sparse_documents"] < 64 and counts["sparse_chunks"] < 64
        assert collection.sparse_index().documents.statistics()["segments"] == 1
    assert Collection.check_at(tmp_path / "c") == []


def test_rows_sent_as_columns_come_back_as_the_rows():
    from densekit.collection.items import Item

    items = [Item("a#0", "The river bends.", {"chunk": 0}, parent="a", start=0, end=16),
             Item("photo", None, kind="image"), Item("b", "No parent, no span.")]
    rows = sparse_worker_process.rows_of_columns(sparse_worker_process.columns_of_rows(items))
    assert rows == [sparse_worker._row(item) for item in items]
    assert rows[0] == ("text", "The river bends.", "a", 0, 16) and rows[1].kind == "image" and rows[1].text is None
