"""A commit that converts a space's index (flat -> HNSW past the threshold) and then fails: the writer
holds the converted index, so its next commit must write the checkpoint of it, never name the old
kind's file under the new kind."""

from __future__ import annotations

import json

import pytest

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import CollectionError


def test_the_commit_after_a_failed_converting_commit_writes_the_converted_index(tmp_path, monkeypatch):
    monkeypatch.setenv("DENSEKIT_HNSW_THRESHOLD", "100")
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder(16)) as collection:
        collection.add([f"owl {n}" for n in range(90)], ids=[f"a{n}" for n in range(90)])
    with Collection.open(folder) as writer:
        writer.add([f"river {n}" for n in range(20)], ids=[f"b{n}" for n in range(20)])  # past 100: HNSW

        def fail(step: str) -> None:
            if step == "manifest":
                raise OSError("no space left on device (injected)")

        writer.on_save_step = fail
        with pytest.raises(CollectionError, match="keeps its previous state"):
            writer.commit()  # converts, writes the HNSW file, fails before its manifest
        writer.on_save_step = None
        writer.commit()
    entry = json.loads((folder / "manifest.json").read_text())["spaces"]["text"]["index"]
    assert entry["kind"] == "hnsw"
    assert check_collection(folder) == []
    with Collection.open(folder, readonly=True) as reader:
        assert reader.space("text").index.kind == "hnsw" and reader.count() == 110
        assert reader.search("river 7", k=1, mode="dense")[0].id == "b7"
