"""A commit that fails after its commit point (the manifest switched, the bookkeeping after it not
done) leaves a writer that still stages its next writes at the next generation: readers see them at
their commit, not before, and a reader open meanwhile gives the answers of one opened afresh."""

from __future__ import annotations

import pytest

from densekit.collection import Collection
from densekit.encoders.hashing import HashingEncoder


class Failure(Exception):
    pass


def _hits(collection):
    return [(hit.id, round(hit.score, 6)) for hit in collection.search("apple river", k=5, mode="sparse")]


def test_a_writer_reused_after_a_failure_past_the_commit_point_stages_its_next_writes(tmp_path):
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as writer:
        writer.add(["apple river", "stone cloud"], ids=["a", "b"])
        writer.commit()
        with Collection.open(folder, readonly=True) as reader:
            _hits(reader)  # loads its BM25 segments, then catches up commit by commit
            writer.upsert(["apple"], ids=["a"])

            def fail(step):
                if step == "committed":
                    raise Failure(step)

            writer.on_save_step = fail
            with pytest.raises(Failure):
                writer.commit()
            writer.on_save_step = None
            committed = _hits(reader)
            writer.add(["river tiger"], ids=["c"])  # staged: no reader shows it yet
            with Collection.open(folder, readonly=True) as fresh:
                assert _hits(fresh) == committed
            writer.commit()
            with Collection.open(folder, readonly=True) as fresh:
                assert _hits(reader) == _hits(fresh)
                assert [id_ for id_, _ in _hits(fresh)] == ["a", "c"]
