"""A failed or killed save leaves the last good collection readable, complete and consistent."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from densekit.collection import Collection
from densekit.collection.check import check_collection

WRITER = Path(__file__).with_name("crash_writer.py")
BATCH = 20


class InjectedFailure(Exception):
    pass


@pytest.mark.parametrize("step", ["index:text", "sparse", "manifest"])
def test_failure_at_each_save_step_keeps_previous_state(collection, tmp_path, step):
    before = {hit.id for hit in collection.search("cat", k=10)}
    collection.add(["A brand new text about owls."], ids=["owl"])
    collection.delete(["cat-1"])

    def fail(name: str) -> None:
        if name == step:
            raise InjectedFailure(name)

    collection.on_save_step = fail
    with pytest.raises(InjectedFailure):
        collection.commit()
    reader = Collection.open(tmp_path / "pets", readonly=True)
    assert reader.count() == 6 and reader.get("owl") is None and reader.get("cat-1") is not None
    assert {hit.id for hit in reader.search("cat", k=10)} == before
    reader.close()
    assert check_collection(tmp_path / "pets") == []
    # The writer still holds its staged changes; the next commit succeeds and publishes them.
    collection.on_save_step = None
    collection.commit()
    assert check_collection(tmp_path / "pets") == []
    reader = Collection.open(tmp_path / "pets", readonly=True)
    assert reader.get("owl") is not None and reader.get("cat-1") is None
    reader.close()


def test_failure_after_commit_point_keeps_new_state(collection, tmp_path):
    collection.add(["Committed before the failure."], ids=["late"])
    collection.on_save_step = lambda name: (_ for _ in ()).throw(InjectedFailure()) if name == "committed" else None
    with pytest.raises(InjectedFailure):
        collection.commit()
    assert Collection.open(tmp_path / "pets", readonly=True).get("late") is not None
    assert check_collection(tmp_path / "pets") == []


def _committed_batches(log: Path) -> list[int]:
    return [int(line) for line in log.read_text().split()] if log.exists() else []


@pytest.mark.parametrize("checkpoints", ["default", "every 100 rows"])
def test_sigkill_at_random_moments(tmp_path, hashing_encoder, checkpoints):
    """Kill a writer mid-work again and again; every time the collection opens, checks clean, and
    holds every batch whose commit returned before the kill. With frequent checkpoints the kills also
    land inside background checkpoint jobs and the purges after them."""
    folder, log = tmp_path / "crash", tmp_path / "commits.log"
    Collection.create(folder, encoder=hashing_encoder).close()
    rng = random.Random(7)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if checkpoints != "default":
        environment["DENSEKIT_CHECKPOINT_MIN_ROWS"] = "100"
    next_batch, kills = 0, int(os.environ.get("DENSEKIT_CRASH_KILLS", "8"))
    unlogged: set[int] = set()  # batches that may have committed just before a kill hit the log write
    for _ in range(kills):
        child = subprocess.Popen(
            [sys.executable, str(WRITER), str(folder), str(log), str(next_batch)], env=environment
        )
        time.sleep(rng.uniform(0.8, 2.5))  # start-up takes ~0.7 s; kill during commits
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert check_collection(folder) == []
        committed = _committed_batches(log)
        this_round = [batch for batch in committed if batch >= next_batch]
        unlogged.add(max(this_round) + 1 if this_round else next_batch)
        reader = Collection.open(folder, readonly=True)
        for batch in committed:
            assert reader.get(f"b{batch}-1") is not None, f"batch {batch} was committed but is gone"
            assert reader.get(f"b{batch}-0") is None
        present = sum(1 for batch in unlogged - set(committed) if reader.get(f"b{batch}-1") is not None)
        # Whole batches only: a kill never leaves part of a batch behind.
        assert reader.count() == (len(committed) + present) * (BATCH - 1)
        reader.close()
        next_batch = max([*committed, *unlogged]) + 1
    assert _committed_batches(log), "the writer never committed: lengthen the kill window"
