"""A background checkpoint named by a commit that then fails: the writer's spaces still name the
job's file, so the failed commit's tidying must keep it for the next commit's manifest."""

from __future__ import annotations

import json

import pytest

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import CollectionError


def test_a_commit_failing_after_adopting_a_checkpoint_keeps_its_file_for_the_next_commit(tmp_path, monkeypatch):
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_BACKGROUND", "1")
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_MIN_ROWS", "10")
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder(16)) as collection:
        collection.add([f"owl {n}" for n in range(30)], ids=[f"a{n}" for n in range(30)])
    writer = Collection.open(folder)
    try:
        writer.add([f"river {n}" for n in range(80)], ids=[f"b{n}" for n in range(80)])
        writer.commit()  # the tail is due: a background job writes the next checkpoint
        assert list(writer._checkpoint_jobs) == ["text"]
        for job in writer._checkpoint_jobs.values():
            job.wait()
        writer.add(["one more owl"], ids=["c1"])

        def fail(step: str) -> None:
            if step == "manifest":
                raise OSError("no space left on device (injected)")

        writer.on_save_step = fail
        with pytest.raises(CollectionError, match="keeps its previous state"):
            writer.commit()  # adopts the job's file, then fails before its manifest
        writer.on_save_step = None
        writer.commit()
    finally:
        writer.close()
    named = json.loads((folder / "manifest.json").read_text())["spaces"]["text"]["index"]["file"]
    assert (folder / named).is_file()
    assert check_collection(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert reader.count() == 111
        assert reader.search("one more owl", k=1, mode="dense")[0].id == "c1"


def test_closing_with_a_finished_job_and_uncommitted_writes_publishes_neither(tmp_path, monkeypatch):
    """Naming a finished job's checkpoint at close is a commit: with writes staged (a ``with`` block
    that raised, a close without commit) it published them. Not named then; the next commit tidies."""
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_BACKGROUND", "1")
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_MIN_ROWS", "10")
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder(16)) as collection:
        collection.add([f"owl {n}" for n in range(30)], ids=[f"a{n}" for n in range(30)])
    with pytest.raises(RuntimeError, match="the caller's work failed"):
        with Collection.open(folder) as writer:
            writer.add([f"river {n}" for n in range(80)], ids=[f"b{n}" for n in range(80)])
            writer.commit()  # the tail is due: a background job writes the next checkpoint
            assert list(writer._checkpoint_jobs) == ["text"]
            writer.add(["must never be published"], ids=["ghost"])
            writer.delete(["a0"])
            raise RuntimeError("the caller's work failed")
    with Collection.open(folder, readonly=True) as reader:
        assert reader.count() == 110 and reader.get("ghost") is None and reader.get("a0") is not None
    assert check_collection(folder) == []
    with Collection.open(folder) as writer:  # a clean close still names what its job wrote
        writer.add([f"stone {n}" for n in range(80)], ids=[f"c{n}" for n in range(80)])
        writer.commit()
        generation = writer.generation
    assert json.loads((folder / "manifest.json").read_text())["generation"] == generation + 1
    assert check_collection(folder) == []
