"""Model-based test: random sequences of writes, commits, reopenings and searches on a real collection,
each step checked against a plain in-memory model of what the collection should hold.

One machine, every store of the registry (densekit.testing.stores). Where their semantics differ,
the model says how (nothing is skipped):
- embedded (folder): writes are staged. The writer sees them at once; readers and a reopened handle
  only after ``commit()``; ``close()`` drops what was not committed. One writer at a time: a second
  is refused.
- PostgreSQL: every write call is one transaction, durable and visible to every handle when it
  returns, so ``commit()`` has nothing left to do and ``close()`` drops nothing. Several writers may
  work at once.
On both, ``transaction()`` makes several calls one: all of them, or none.

Long settings: DENSEKIT_STATEFUL_EXAMPLES (embedded) and DENSEKIT_STATEFUL_EXAMPLES_POSTGRES
(benchmarks/reliability/run_long.py sets both).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from densekit.collection.check import check_collection
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import CollectionLockedError, InvalidInputError
from densekit.testing.stores import STORES_UNDER_TEST

WORDS = ["apple", "river", "stone", "cloud", "music", "tiger", "paper", "light", "ocean", "green"]
IDS = [f"id{n}" for n in range(12)]
GROUPS = ["a", "b", "c"]
ENCODER = HashingEncoder(16)

texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join)
entries = st.tuples(st.sampled_from(IDS), texts, st.sampled_from(GROUPS))
batches = st.lists(entries, min_size=1, max_size=4, unique_by=lambda entry: entry[0])
id_lists = st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True)


class Abort(Exception):
    """Raised inside a transaction to roll it back."""


class CollectionMachine(RuleBasedStateMachine):
    """The rules and checks; subclasses open the store and say how it commits."""

    #: Every write call is durable and visible to other handles when it returns (no staging).
    durable_writes = False
    #: A second writable handle may write while this one is open.
    concurrent_writers = False

    def __init__(self):
        super().__init__()
        self.collection = self.create()
        self.staged: dict[str, tuple[str, str]] = {}  # what this writer sees
        self.committed: dict[str, tuple[str, str]] = {}  # what readers and a reopened handle see

    # --- the store ---------------------------------------------------------------------------
    def create(self):
        raise NotImplementedError

    def open(self, readonly: bool = False):
        raise NotImplementedError

    def integrity_problems(self) -> list[str]:
        raise NotImplementedError

    def wrote(self) -> None:
        """A write call returned: with durable writes, it is committed already."""
        if self.durable_writes:
            self.committed = dict(self.staged)

    # --- writes ------------------------------------------------------------------------------
    @rule(batch=batches)
    def add(self, batch):
        fresh = [entry for entry in batch if entry[0] not in self.staged]
        if not fresh:
            return
        self.collection.add([t for _, t, _ in fresh], ids=[i for i, _, _ in fresh], metadata=[{"group": g} for _, _, g in fresh])
        self.staged.update({i: (t, g) for i, t, g in fresh})
        self.wrote()

    @precondition(lambda self: self.staged)
    @rule(batch=batches, data=st.data())
    def add_with_a_taken_id_stores_nothing(self, batch, data):
        taken = data.draw(st.sampled_from(sorted(self.staged)))
        batch = [entry for entry in batch if entry[0] != taken] + [(taken, "stone", "a")]
        with pytest.raises(InvalidInputError, match="already in the collection"):
            self.collection.add([t for _, t, _ in batch], ids=[i for i, _, _ in batch], metadata=[{"group": g} for _, _, g in batch])

    @rule(batch=batches)
    def upsert(self, batch):
        self.collection.upsert([t for _, t, _ in batch], ids=[i for i, _, _ in batch], metadata=[{"group": g} for _, _, g in batch])
        self.staged.update({i: (t, g) for i, t, g in batch})
        self.wrote()

    @rule(ids=id_lists)
    def delete(self, ids):
        removed = self.collection.delete(ids)
        assert removed == sum(1 for i in ids if i in self.staged)
        for i in ids:
            self.staged.pop(i, None)
        self.wrote()

    @rule()
    def commit(self):
        self.collection.commit()
        self.committed = dict(self.staged)
        assert self.integrity_problems() == []

    @rule(commit_first=st.booleans())
    def reopen(self, commit_first):
        if commit_first:
            self.collection.commit()
            self.committed = dict(self.staged)
        self.collection.close()  # the embedded store drops uncommitted writes here
        self.collection = self.open()
        self.staged = dict(self.committed)

    @rule(batch=batches)
    def second_writer(self, batch):
        if not self.concurrent_writers:
            with pytest.raises(CollectionLockedError):
                self.open()
            return
        other = self.open()
        try:
            other.upsert([t for _, t, _ in batch], ids=[i for i, _, _ in batch], metadata=[{"group": g} for _, _, g in batch])
        finally:
            other.close()
        # Durable at once, so this handle sees it too (no staged state of its own to hide it).
        self.staged.update({i: (t, g) for i, t, g in batch})
        self.wrote()

    @rule(batch=batches, ids=id_lists, fail=st.booleans())
    def transaction_is_all_or_nothing(self, batch, ids, fail):
        if not self.durable_writes:
            self.committed = dict(self.staged)  # a transaction commits what was staged before it
        try:
            with self.collection.transaction():
                self.collection.upsert([t for _, t, _ in batch], ids=[i for i, _, _ in batch], metadata=[{"group": g} for _, _, g in batch])
                live = set(self.staged) | {i for i, _, _ in batch}
                assert self.collection.delete(ids) == len(live & set(ids))
                if fail:
                    raise Abort
        except Abort:
            self.staged = dict(self.committed)
            return
        self.staged.update({i: (t, g) for i, t, g in batch})
        for i in ids:
            self.staged.pop(i, None)
        self.committed = dict(self.staged)

    @rule(ids=id_lists, group=st.sampled_from(GROUPS))
    def update_metadata(self, ids, group):
        updated = self.collection.update(ids, {"group": group})
        assert updated == sum(1 for i in ids if i in self.staged)
        for i in ids:
            if i in self.staged:
                self.staged[i] = (self.staged[i][0], group)
        self.wrote()

    @rule(group=st.sampled_from(GROUPS))
    def delete_by_filter(self, group):
        removed = self.collection.delete(where={"group": group})
        doomed = [i for i, (_, g) in self.staged.items() if g == group]
        assert removed == len(doomed)
        for i in doomed:
            del self.staged[i]
        self.wrote()

    # --- reads -------------------------------------------------------------------------------
    @rule()
    def readers_see_committed_state(self):
        reader = self.open(readonly=True)
        try:
            assert reader.count() == len(self.committed)
            for i in IDS:
                item = reader.get(i)
                assert (item.text, item.metadata["group"]) == self.committed[i] if i in self.committed else item is None
        finally:
            reader.close()

    @rule()
    def writer_sees_its_writes(self):
        for i in IDS:
            item = self.collection.get(i)
            assert (item.text, item.metadata["group"]) == self.staged[i] if i in self.staged else item is None

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


def machine_for(under_test, location_name) -> type[CollectionMachine]:
    """The machine on one store of the registry (densekit.testing.stores), with its semantics."""
    location, name = location_name

    class Machine(CollectionMachine):
        durable_writes = under_test.durable_writes
        concurrent_writers = under_test.concurrent_writers

        def create(self):
            # Each run gets a fresh place: a new folder, or a new collection name in the database.
            self.location, self.name = _fresh(location, name)
            options = {"index": "flat"} if under_test.kind == "embedded" else {}
            return under_test.create(self.location, self.name, encoder=ENCODER, **options)

        def open(self, readonly: bool = False):
            return under_test.open(self.location, self.name, readonly=readonly, encoder=ENCODER)

        def integrity_problems(self) -> list[str]:
            return check_collection(self.location, name=self.name)

        def teardown(self):
            self.collection.close()
            if self.name is None:
                shutil.rmtree(Path(self.location).parent, ignore_errors=True)

    Machine.__name__ = f"{under_test.kind.capitalize()}Machine"
    return Machine


_runs = itertools.count()


def _fresh(location, name):
    if name is None:
        return Path(tempfile.mkdtemp(prefix="densekit-model-")) / "c", None
    return location, f"{name}_{os.getpid()}_{next(_runs)}"


def machine_settings(variable: str, default: int) -> settings:
    return settings(
        max_examples=int(os.environ.get(variable, str(default))),
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


@pytest.mark.parametrize("kind", sorted(STORES_UNDER_TEST))
def test_state_machine(kind, request, tmp_path):
    under_test = STORES_UNDER_TEST[kind]
    variable = "DENSEKIT_STATEFUL_EXAMPLES" + ("" if kind == "embedded" else f"_{kind.upper()}")
    run_state_machine_as_test(machine_for(under_test, under_test.place(request, tmp_path)),
                              settings=machine_settings(variable, 25))
