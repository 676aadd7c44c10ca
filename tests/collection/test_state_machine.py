"""Model-based test: random sequences of writes, commits, reopenings and searches on a real collection,
each step checked against a plain in-memory model of what the collection should hold."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.encoders.hashing import HashingEncoder

WORDS = ["apple", "river", "stone", "cloud", "music", "tiger", "paper", "light", "ocean", "green"]
IDS = [f"id{n}" for n in range(12)]
GROUPS = ["a", "b", "c"]
ENCODER = HashingEncoder(16)

texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join)
entries = st.tuples(st.sampled_from(IDS), texts, st.sampled_from(GROUPS))


class CollectionMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="densekit-model-")) / "c"
        self.collection = Collection.create(self.folder, encoder=ENCODER, index="flat")
        self.staged: dict[str, tuple[str, str]] = {}
        self.committed: dict[str, tuple[str, str]] = {}

    def teardown(self):
        self.collection.close()
        shutil.rmtree(self.folder.parent, ignore_errors=True)

    @rule(batch=st.lists(entries, min_size=1, max_size=4, unique_by=lambda entry: entry[0]))
    def add(self, batch):
        fresh = [entry for entry in batch if entry[0] not in self.staged]
        if not fresh:
            return
        self.collection.add([t for _, t, _ in fresh], ids=[i for i, _, _ in fresh], metadata=[{"group": g} for _, _, g in fresh])
        self.staged.update({i: (t, g) for i, t, g in fresh})

    @rule(batch=st.lists(entries, min_size=1, max_size=4, unique_by=lambda entry: entry[0]))
    def upsert(self, batch):
        self.collection.upsert([t for _, t, _ in batch], ids=[i for i, _, _ in batch], metadata=[{"group": g} for _, _, g in batch])
        self.staged.update({i: (t, g) for i, t, g in batch})

    @rule(ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True))
    def delete(self, ids):
        removed = self.collection.delete(ids)
        assert removed == sum(1 for i in ids if i in self.staged)
        for i in ids:
            self.staged.pop(i, None)

    @rule()
    def commit(self):
        self.collection.commit()
        self.committed = dict(self.staged)
        assert check_collection(self.folder) == []

    @rule(commit_first=st.booleans())
    def reopen(self, commit_first):
        if commit_first:
            self.collection.commit()
            self.committed = dict(self.staged)
        self.collection.close()  # uncommitted writes are dropped
        self.collection = Collection.open(self.folder, encoder=ENCODER)
        self.staged = dict(self.committed)

    @rule()
    def readers_see_committed_state(self):
        reader = Collection.open(self.folder, readonly=True, encoder=ENCODER)
        try:
            assert reader.count() == len(self.committed)
            for i in IDS:
                item = reader.get(i)
                assert (item.text, item.metadata["group"]) == self.committed[i] if i in self.committed else item is None
        finally:
            reader.close()

    @precondition(lambda self: self.staged)
    @rule(query=texts, k=st.integers(1, 6), group=st.none() | st.sampled_from(GROUPS))
    def dense_search_matches_brute_force(self, query, k, group):
        where = {"group": group} if group else None
        hits = self.collection.search(query, k=k, where=where)
        candidates = {i: v for i, v in self.staged.items() if group is None or v[1] == group}
        assert len(hits) == min(k, len(candidates))
        if not candidates:
            return
        ids = list(candidates)
        vectors = ENCODER.encode([candidates[i][0] for i in ids])
        scores = vectors @ ENCODER.encode([query])[0]
        expected = np.sort(scores)[::-1][: len(hits)]
        assert np.allclose([hit.score for hit in hits], expected, atol=1e-5)
        for hit in hits:
            assert (hit.text, hit.metadata["group"]) == candidates[hit.id]

    @precondition(lambda self: self.staged)
    @rule(word=st.sampled_from(WORDS), group=st.none() | st.sampled_from(GROUPS))
    def sparse_search_finds_exactly_the_texts_with_the_word(self, word, group):
        where = {"group": group} if group else None
        hits = self.collection.search(word, k=len(IDS), mode="sparse", where=where)
        expected = {i for i, (t, g) in self.staged.items() if word in t.split() and (group is None or g == group)}
        assert {hit.id for hit in hits} == expected

    @precondition(lambda self: self.staged)
    @rule(query=texts)
    def hybrid_returns_only_live_items(self, query):
        hits = self.collection.search(query, k=len(IDS), mode="hybrid")
        assert {hit.id for hit in hits} <= set(self.staged)
        assert len({hit.id for hit in hits}) == len(hits)

    @invariant()
    def counts_agree(self):
        assert self.collection.count() == len(self.staged)


CollectionMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("DENSEKIT_STATEFUL_EXAMPLES", "25")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCollectionModel = CollectionMachine.TestCase
