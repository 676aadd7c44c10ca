"""Index files written and read member by member (index/npz_stream.py): the same index back, files
that np.load still reads, and files written the old way (np.savez of serialize_index) still load."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from densekit.index.exact import ExactIndex
from densekit.index.faiss_index import FaissIndex

SMALL_HNSW = {"m": 16, "ef_construction": 64, "ef_search": 64}


def filled(kind: str, count: int = 2000, dimension: int = 24) -> tuple[FaissIndex, np.ndarray]:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((count, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = FaissIndex(dimension, kind, **(SMALL_HNSW if kind == "hnsw" else {}))
    index.add(np.arange(100, 100 + count), vectors)
    index.remove(np.arange(100, 140))  # tombstones (hnsw) or real removals (flat) travel too
    return index, vectors


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_save_and_load_give_the_same_index(tmp_path, kind):
    index, vectors = filled(kind)
    index.save(tmp_path / "space.index")
    loaded = FaissIndex.load(tmp_path / "space.index", vectors.shape[1])
    queries = vectors[::97] + 0.01
    assert np.array_equal(loaded.search(queries, 10)[1], index.search(queries, 10)[1])
    assert np.array_equal(np.sort(loaded.ids()), np.sort(index.ids()))
    assert loaded.params() == index.params()
    # Still an ordinary .npz: numpy reads it, and the FAISS member is the index's serialization.
    with np.load(tmp_path / "space.index", allow_pickle=False) as data:
        assert json.loads(str(data["meta"]))["kind"] == kind
        assert np.array_equal(data["index"], faiss.serialize_index(index._index))


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_files_written_by_np_savez_still_load(tmp_path, kind):
    index, vectors = filled(kind)
    meta = json.dumps({"dimension": index.dimension, **index.params()})
    with open(tmp_path / "old.index", "wb") as handle:
        np.savez(handle, meta=np.array(meta), index=faiss.serialize_index(index._index),
                 labels=index._labels, live=index._live)
    loaded = FaissIndex.load(tmp_path / "old.index", vectors.shape[1])
    assert np.array_equal(loaded.search(vectors[:20], 5)[1], index.search(vectors[:20], 5)[1])


@pytest.mark.parametrize("make", [lambda: FaissIndex(8, "flat"), lambda: FaissIndex(8, "hnsw", **SMALL_HNSW),
                                  lambda: ExactIndex(8)])
def test_reserve_changes_nothing_but_capacity(make):
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((900, 8)).astype(np.float32)
    plain, reserved = make(), make()
    reserved.reserve(900)
    for start in range(0, 900, 128):
        plain.add(np.arange(start, min(start + 128, 900)), vectors[start : start + 128])
        reserved.add(np.arange(start, min(start + 128, 900)), vectors[start : start + 128])
    reserved.reserve(10)  # smaller than held: nothing happens
    assert len(reserved) == 900
    assert np.array_equal(plain.search(vectors[:30], 7)[1], reserved.search(vectors[:30], 7)[1])
    assert np.array_equal(reserved.vectors(np.array([5, 899])), vectors[[5, 899]])
