"""A space growing past the HNSW threshold is converted at commit from the vectors in the content store,
after the old index is let go (persistence._convert_if_needed): same rows, staged deletions honoured,
and a failure part-way leaves the writer holding its old index, whole."""

from __future__ import annotations

import json

import numpy as np
import pytest

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.collection.embedded.store import ContentStore
from densekit.encoders.hashing import HashingEncoder

WORDS = "owl river stone cloud tiger violin garden rocket pepper castle mirror island lantern marble fox".split()


def texts(count: int) -> list[str]:
    rng = np.random.default_rng(7)
    return [" ".join(rng.choice(WORDS, 6)) + f" item{n}" for n in range(count)]


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch):
    monkeypatch.setenv("DENSEKIT_HNSW_THRESHOLD", "100")


def index_entry(folder) -> dict:
    return json.loads((folder / "manifest.json").read_text())["spaces"]["text"]["index"]


def test_conversion_builds_the_writers_rows_from_the_store(tmp_path):
    corpus = texts(180)
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(32)) as writer:
        writer.add(corpus[:60], ids=[f"d{n}" for n in range(60)])
        writer.commit()
        assert writer.spaces["text"].index.kind == "flat"
        writer.add(corpus[60:], ids=[f"d{n}" for n in range(60, 180)])
        writer.delete(["d3", "d150"])  # staged in the same generation as the rows that cross the threshold
        writer.commit()
        index = writer.spaces["text"].index
        assert index.kind == "hnsw" and len(index) == 178
        assert writer.search(corpus[42], k=1)[0].id == "d42"
        assert {hit.id for hit in writer.search(corpus[150], k=178)}.isdisjoint({"d3", "d150"})
    assert index_entry(tmp_path / "c")["kind"] == "hnsw"
    assert check_collection(tmp_path / "c") == []
    with Collection.open(tmp_path / "c", readonly=True) as reader:
        assert reader.search(corpus[170], k=1)[0].id == "d170"
        assert reader.count() == 178


def test_a_failed_conversion_leaves_the_old_index_whole(tmp_path, monkeypatch):
    corpus = texts(150)
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(32)) as writer:
        writer.add(corpus[:50], ids=[f"d{n}" for n in range(50)])
        writer.commit()
        writer.add(corpus[50:], ids=[f"d{n}" for n in range(50, 150)])
        real = ContentStore.vectors_added_between
        calls = []

        def failing(self, key, after, through, dimension, batch=5000):
            calls.append(after)
            if len(calls) == 1:  # the conversion's read fails part-way; rebuilding the old kind works
                yield from real(self, key, after, through, dimension, batch=40)
                raise MemoryError("no room for the new index")
            yield from real(self, key, after, through, dimension, batch)

        monkeypatch.setattr(ContentStore, "vectors_added_between", failing)
        with pytest.raises(MemoryError):
            writer.commit()
        index = writer.spaces["text"].index
        assert index.kind == "flat" and len(index) == 150
        assert writer.search(corpus[120], k=1)[0].id == "d120"
        assert index_entry(tmp_path / "c")["kind"] == "flat"  # the committed state is the previous one
        monkeypatch.setattr(ContentStore, "vectors_added_between", real)
        writer.commit()
        assert writer.spaces["text"].index.kind == "hnsw"
    assert check_collection(tmp_path / "c") == []
    with Collection.open(tmp_path / "c", readonly=True) as reader:
        assert reader.count() == 150 and reader.search(corpus[149], k=1)[0].id == "d149"
