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


@pytest.mark.parametrize("failure", [OSError(5, "Input/output error"), KeyboardInterrupt()], ids=["io-error", "ctrl-c"])
def test_a_failure_once_the_manifest_is_renamed_into_place_is_a_made_commit(tmp_path, monkeypatch, caplog, failure):
    """Syncing the folder after the manifest's rename fails (or Ctrl-C lands there): readers show the
    new generation already, so the writer finishes the commit. Taken for failed, a transaction (the
    service's grouped writes) dropped the rows of the generation the manifest names: unreadable."""
    import logging

    from densekit.collection.embedded import persistence

    folder = tmp_path / "c"
    real = persistence.write_manifest
    calls = []

    def renamed_then_failing(target, manifest):
        real(target, manifest)
        if not calls:
            calls.append(manifest["generation"])
            raise failure

    with Collection.create(folder, encoder=HashingEncoder()) as writer:
        writer.add(["apple river"], ids=["a"])
        writer.commit()
        monkeypatch.setattr(persistence, "write_manifest", renamed_then_failing)
        if isinstance(failure, KeyboardInterrupt):
            with pytest.raises(KeyboardInterrupt):
                with writer.transaction():
                    writer.add(["stone cloud", "river tiger"], ids=["b", "c"])
        else:
            with caplog.at_level(logging.WARNING):
                with writer.transaction():  # nothing raised: the commit was made
                    writer.add(["stone cloud", "river tiger"], ids=["b", "c"])
            assert "syncing its folder failed" in caplog.text
        assert writer.generation == calls[0] and writer.count() == 3
        writer.add(["one more"], ids=["d"])  # and the writer goes on
    assert Collection.check_at(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert sorted(reader.list_ids().ids) == ["a", "b", "c", "d"]
        assert [hit.id for hit in reader.search("stone cloud", k=1, mode="sparse")] == ["b"]
