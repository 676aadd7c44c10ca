"""Model-free property test: handles kept open across a writer's commits (a long-lived reader that
searches after every commit, one that skips many, one whose first search comes late, the writer
itself, reused after failed commits and rolled-back transactions) give the answers of a reader
opened afresh on the same generation: dense, sparse and hybrid searches with and without filters
and grouping, counts, gets with vectors, id listings, metadata keys, space and BM25 statistics.

Writes: add, upsert, delete (ids, where), metadata updates, whole documents (replace, appended
chunks), transactions, index runs (BM25 in the worker process), compact, merge_segments, rebuild_sparse, reencode, add_space, index_keys,
commits failing at each step; with small HNSW thresholds and frequent (background or inline)
checkpoints. Longer runs: DENSEKIT_READER_EXAMPLES and DENSEKIT_READER_STEPS."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from densekit.collection import Collection
from densekit.collection.embedded import sparse_worker
from densekit.collection.items import Item
from densekit.collection.space import index_run
from densekit.encoders.hashing import HashingEncoder

WORDS = ["apple", "river", "stone", "cloud", "music", "tiger", "paper", "light"]
IDS = [f"id{n}" for n in range(10)]
PARENTS = ["p0", "p1", "p2"]
GROUPS = ["a", "b", "c"]
QUERIES = ["apple", "river stone", "tiger music paper", "light cloud apple"]

texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join)
entries = st.tuples(st.sampled_from(IDS), texts, st.sampled_from(GROUPS))
batches = st.lists(entries, min_size=1, max_size=5, unique_by=lambda entry: entry[0])
id_lists = st.lists(st.sampled_from(IDS + PARENTS), min_size=1, max_size=3, unique=True)


def snapshot(c):
    out = {"count": c.count(), "count_text": c.count("text"), "gen": c.generation}
    all_ids = IDS + [f"{p}#{n}" for p in PARENTS for n in range(6)]
    out["get"] = sorted((i.id, i.text, tuple(sorted(i.metadata.items())), i.parent, i.start, i.end) for i in c.get(all_ids))
    out["ids"] = c.list_ids(limit=1000).ids
    out["keys"] = c.metadata_keys()
    info = c.info()
    out["spaces"] = info["spaces"]
    sparse = c.sparse_index()
    out["sparse_stats"] = None if sparse is None else {k: {kk: vv for kk, vv in v.items()} for k, v in sparse.statistics().items()}
    out["vectors"] = sorted((i.id, tuple((k, tuple(round(float(x), 5) for x in v)) for k, v in sorted(i.vectors.items()))) for i in c.get(all_ids, include=["vectors"]))
    if "extra" in c.spaces:
        for q in QUERIES:
            out[("extra", q)] = norm(c.search(q, k=8, mode="dense", space="extra"))
    out["sparse_info"] = info["sparse"]
    for q in QUERIES:
        for mode in ("dense", "sparse", "hybrid"):
            for where in (None, {"group": "a"}, {"group": {"$in": ["b", "c"]}}):
                for group in (None, "parent"):
                    hits = c.search(q, k=8, mode=mode, where=where, group=group)
                    out[(q, mode, str(where), group)] = norm(hits)
    return out


def norm(hits):
    """Hits as (id, score), the last score's ties (which of them make the top k) as their count."""
    pairs = [(h.id, round(h.score, 4)) for h in hits]
    if not pairs:
        return pairs
    last = pairs[-1][1]
    return sorted(p for p in pairs if p[1] != last) + [("tie", last, sum(1 for p in pairs if p[1] == last))]


def diff(a, b):
    return {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}


class ReaderMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp())
        self.folder = self.tmp / "c"
        self.writer = Collection.create(self.folder, encoder=HashingEncoder(16))
        self.writer.add(["apple river", "stone cloud"], ids=["id0", "id1"], metadata=[{"group": "a"}, {"group": "b"}])
        self.writer.commit()
        self.long = Collection.open(self.folder, readonly=True)
        self.long.search("apple", mode="hybrid")
        self.lazy = Collection.open(self.folder, readonly=True)
        self.lazy.search("apple", mode="hybrid")
        self.unsearched = Collection.open(self.folder, readonly=True)
        self.since = self.writer.generation
        self.docn = 0

    def teardown(self):
        for c in (self.writer, self.long, self.lazy, self.unsearched):
            try:
                c.close()
            except Exception:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def compare(self, reader, name):
        with Collection.open(self.folder, readonly=True) as fresh:
            a, b = snapshot(reader), snapshot(fresh)
        d = diff(a, b)
        assert not d, f"{name}: {d}"

    # writes
    @rule(batch=batches)
    def add(self, batch):
        existing = {i.id for i in self.writer.get([i for i, _, _ in batch])}
        fresh = [e for e in batch if e[0] not in existing]
        if fresh:
            self.writer.add([t for _, t, _ in fresh], ids=[i for i, _, _ in fresh], metadata=[{"group": g} for _, _, g in fresh])

    @rule(batch=batches)
    def upsert(self, batch):
        self.writer.upsert([t for _, t, _ in batch], ids=[i for i, _, _ in batch], metadata=[{"group": g} for _, _, g in batch])

    @rule(ids=id_lists)
    def delete(self, ids):
        self.writer.delete(ids)

    @rule(group=st.sampled_from(GROUPS))
    def delete_where(self, group):
        self.writer.delete(where={"group": group})

    @rule(ids=id_lists, group=st.sampled_from(GROUPS))
    def update(self, ids, group):
        self.writer.update(ids, {"group": group})

    @rule(parent=st.sampled_from(PARENTS), chunks=st.lists(texts, min_size=1, max_size=4), group=st.sampled_from(GROUPS),
          how=st.sampled_from(["replace", "upsert", "append"]))
    def document(self, parent, chunks, group, how):
        items, pos = [], 0
        offset = 0
        if how == "append":
            old = [i for i in self.writer.get([f"{parent}#{n}" for n in range(6)])]
            offset = max((int(item.id.split("#")[1]) for item in old), default=0) + 1
            if not old or offset + len(chunks) > 6:
                return
            pos = max(i.end for i in old) + 1
        for n, text in enumerate(chunks):
            items.append(Item(f"{parent}#{offset + n}", text, {"group": group}, parent=parent, start=pos, end=pos + len(text)))
            pos += len(text) + 1
        if how == "replace":
            self.writer.replace(parent, items)
        elif how == "upsert":
            self.writer.delete([parent])
            self.writer.add_items(items)
        else:
            self.writer.add_items(items)

    @rule()
    def commit(self):
        self.writer.commit()

    @rule(fail=st.booleans(), batch=batches)
    def transaction(self, fail, batch):
        try:
            with self.writer.transaction():
                self.writer.upsert([t for _, t, _ in batch], ids=[i for i, _, _ in batch], metadata=[{"group": g} for _, _, g in batch])
                if fail:
                    raise KeyError("abort")
        except KeyError:
            pass

    @rule(step=st.sampled_from(["index:text", "sparse", "manifest", "committed"]), batch=batches,
          what=st.sampled_from(["upsert", "delete", "rebuild", "reencode", "update"]))
    def failing_commit(self, step, batch, what):
        if what == "upsert":
            self.writer.upsert([t for _, t, _ in batch], ids=[i for i, _, _ in batch], metadata=[{"group": g} for _, _, g in batch])
        elif what == "delete":
            self.writer.delete([i for i, _, _ in batch])
        elif what == "rebuild":
            self.writer.rebuild_sparse()
        elif what == "reencode":
            self.writer.reencode(encoder=HashingEncoder(16))
        else:
            self.writer.update([i for i, _, _ in batch], {"group": "c"})

        def hook(name):
            if name == step:
                raise OSError(28, "No space left on device")
        self.writer.on_save_step = hook
        try:
            self.writer.commit()
        except Exception:
            pass
        finally:
            self.writer.on_save_step = None

    @rule(batch=batches, ids=id_lists, what=st.sampled_from(["rebuild", "reencode", "update", "compact", "document"]))
    def failing_transaction(self, batch, ids, what):
        try:
            with self.writer.transaction():
                self.writer.upsert([t for _, t, _ in batch], ids=[i for i, _, _ in batch], metadata=[{"group": g} for _, _, g in batch])
                self.writer.delete(ids)
                if what == "rebuild":
                    self.writer.rebuild_sparse()
                elif what == "reencode":
                    self.writer.reencode(encoder=HashingEncoder(16))
                elif what == "update":
                    self.writer.update(ids, {"group": "b"})
                elif what == "document":
                    self.writer.replace("p1", [Item("p1#0", "apple tiger", {"group": "a"}, parent="p1", start=0, end=11)])
                raise KeyError("abort")
        except KeyError:
            pass

    @rule()
    def compact(self):
        self.writer.compact()

    @rule()
    def merge(self):
        self.writer.commit()
        self.writer.merge_segments(self.since)
        self.since = self.writer.generation

    @rule(batch=batches, parent=st.sampled_from(PARENTS), chunks=st.lists(texts, min_size=1, max_size=4),
          group=st.sampled_from(GROUPS), how=st.sampled_from(["replace", "upsert", "append"]), ids=id_lists)
    def index_run_writes(self, batch, parent, chunks, group, how, ids):
        """An index run's writes (``ingest`` with commits): its BM25 counted and written by the worker
        process (sparse_worker.py), then the run's merge."""
        started = self.writer.generation
        with index_run():
            self.upsert(batch)
            self.document(parent, chunks, group, how)
            self.writer.commit()
            self.writer.delete(ids)
            self.document(parent, chunks, group, "append")
            self.writer.commit()
        self.writer.merge_segments(started)

    @rule()
    def mark_run(self):
        self.writer.commit()
        self.since = self.writer.generation

    @rule()
    def rebuild_sparse(self):
        self.writer.rebuild_sparse()

    @rule()
    def reencode(self):
        self.writer.reencode(encoder=HashingEncoder(16))

    @rule()
    def reopen_writer(self):
        self.writer.commit()
        self.writer.close()
        self.writer = Collection.open(self.folder)

    # checks
    @rule()
    def check_long(self):
        self.writer.commit()
        self.compare(self.long, "long")

    @rule()
    def check_long_staged(self):
        self.compare(self.long, "long-staged")

    @rule()
    def check_writer(self):
        self.writer.commit()
        self.compare(self.writer, "writer")

    @rule(key=st.sampled_from(["group", "n"]))
    def index_key(self, key):
        self.writer.index_keys([key])

    @precondition(lambda self: "extra" not in self.writer.spaces)
    @rule()
    def add_space(self):
        self.writer.add_space("extra", HashingEncoder(8))

    @rule()
    def check_lazy(self):
        self.writer.commit()
        self.compare(self.lazy, "lazy")

    @rule()
    def check_unsearched(self):
        self.writer.commit()
        self.compare(self.unsearched, "unsearched")

    @rule()
    def new_lazy(self):
        self.lazy.close()
        self.lazy = Collection.open(self.folder, readonly=True)
        self.lazy.search("apple", mode="hybrid")


@pytest.mark.parametrize("env", ["plain", "hnsw", "checkpoints", "inline"])
def test_open_handles_answer_as_a_fresh_reader(env, monkeypatch):
    monkeypatch.setenv("DENSEKIT_SPARSE_WORKER", "1")  # index runs' BM25 in the worker, from their first write
    monkeypatch.setattr(sparse_worker, "PAYS_OFF_SHARE", 0)
    if env == "hnsw":
        monkeypatch.setenv("DENSEKIT_HNSW_THRESHOLD", "6")
    if env in ("checkpoints", "inline", "hnsw"):
        monkeypatch.setenv("DENSEKIT_CHECKPOINT_FRACTION", "0.2")
        monkeypatch.setenv("DENSEKIT_CHECKPOINT_MIN_ROWS", "2")
    if env == "inline":
        monkeypatch.setenv("DENSEKIT_CHECKPOINT_BACKGROUND", "0")
    run_state_machine_as_test(ReaderMachine, settings=settings(
        max_examples=int(os.environ.get("DENSEKIT_READER_EXAMPLES", "4")),
        stateful_step_count=int(os.environ.get("DENSEKIT_READER_STEPS", "25")), deadline=None,
        suppress_health_check=list(HealthCheck)))
