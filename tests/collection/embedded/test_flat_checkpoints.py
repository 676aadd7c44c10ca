"""A flat space's checkpoint written by streaming (flat_checkpoints.py) is the file that loading the
previous checkpoint, replaying the tail and saving writes, and a background job takes that path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.collection.embedded import checkpoints
from densekit.collection.embedded.flat_checkpoints import can_stream, write_streamed
from densekit.collection.embedded.persistence import load_space
from densekit.collection.embedded.store import CONTENT_NAME, ContentStore
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import CollectionError

WORDS = "owl river stone cloud tiger violin garden rocket pepper castle mirror island lantern marble fox".split()


def texts(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, 6)) + f" item{seed}x{n}" for n in range(count)]


def manifest(folder) -> dict:
    return json.loads((folder / "manifest.json").read_text())


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A flat collection with a checkpoint, then a tail of adds and deletes (old rows and new)."""
    path = tmp_path / "c"
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_BACKGROUND", "0")
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_MIN_ROWS", "0")
    with Collection.create(path, encoder=HashingEncoder(24), index="flat") as collection:
        collection.add(texts(300, seed=1), ids=[f"a{n}" for n in range(300)])
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_MIN_ROWS", "100000")  # the tail below stays a tail
    with Collection.open(path) as collection:
        collection.add(texts(80, seed=2), ids=[f"b{n}" for n in range(80)])
        collection.commit()
        collection.delete([f"a{n}" for n in range(0, 300, 7)] + [f"b{n}" for n in range(0, 80, 9)])
        collection.add(texts(5, seed=3), ids=[f"c{n}" for n in range(5)])
    assert manifest(path)["spaces"]["text"]["index"]["tail"] > 0
    return path


def members(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def test_a_streamed_checkpoint_is_the_file_a_load_and_save_writes(folder, tmp_path):
    current = manifest(folder)
    entry, through = current["spaces"]["text"], int(current["generation"])
    assert can_stream(folder, entry)
    store = ContentStore(folder / CONTENT_NAME, readonly=True)
    try:
        write_streamed(folder, entry, store, through, tmp_path / "streamed.index")
        load_space(folder, "text", entry, store, through, room=False).index.save(tmp_path / "loaded.index")
    finally:
        store.close()
    streamed, loaded = members(tmp_path / "streamed.index"), members(tmp_path / "loaded.index")
    assert streamed.keys() == loaded.keys() == {"meta", "vectors", "labels", "live"}
    for name in loaded:
        assert np.array_equal(streamed[name], loaded[name]), name
    assert streamed["labels"].size == entry["count"] == 300 - 43 + 80 - 9 + 5


def test_a_count_that_does_not_match_the_manifest_is_refused(folder, tmp_path):
    current = manifest(folder)
    entry = {**current["spaces"]["text"], "count": current["spaces"]["text"]["count"] + 1}
    store = ContentStore(folder / CONTENT_NAME, readonly=True)
    try:
        with pytest.raises(CollectionError, match="the manifest counts"):
            write_streamed(folder, entry, store, int(current["generation"]), tmp_path / "x.index")
    finally:
        store.close()


def test_a_background_job_checkpoints_a_flat_space_without_loading_it(folder, monkeypatch):
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_BACKGROUND", "1")
    # Due (a tail of 139 > 100) but not four times overdue, so only the job writes it.
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_MIN_ROWS", "100")
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_FRACTION", "0.01")

    def no_load(*args, **kwargs):
        raise AssertionError("a flat checkpoint job loaded the index")

    monkeypatch.setattr(checkpoints, "load_space", no_load)
    before = manifest(folder)["spaces"]["text"]["index"]["file"]
    with Collection.open(folder) as writer:
        writer.add(["one more owl"], ids=["last"])
        writer.commit()
        writer.finish_checkpoints()
    after = manifest(folder)["spaces"]["text"]["index"]
    assert after["file"] != before and after["tail"] == 0
    assert check_collection(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert reader.count() == 334
        assert reader.search("one more owl", k=1, mode="dense")[0].id == "last"
