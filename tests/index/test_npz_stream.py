"""Index files written and read member by member (index/npz_stream.py): the same index back, files
that np.load still reads, files written the older ways (np.savez of serialize_index; FAISS's whole
serialization streamed) still load, and a load with room lets adds fill it without a copy."""

from __future__ import annotations

import json
import zipfile

import faiss
import numpy as np
import pytest

from densekit.index.exact import ExactIndex
from densekit.index.faiss_index import FaissIndex
from densekit.index.npz_stream import write_faiss_member, write_member

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
    # Still an ordinary .npz: numpy reads it; the vectors are a plain array, and an HNSW file's
    # FAISS member is the graph's serialization without its vectors.
    with np.load(tmp_path / "space.index", allow_pickle=False) as data:
        assert json.loads(str(data["meta"]))["kind"] == kind
        assert np.array_equal(data["vectors"], index._index.reconstruct_n(0, index._index.ntotal))
        if kind == "hnsw":
            whole = faiss.serialize_index(index._index).size
            assert data["index"].size <= whole - index._index.ntotal * vectors.shape[1] * 4
        else:
            assert "index" not in data


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_files_streamed_whole_by_faiss_still_load(tmp_path, kind):
    """The layout of 2 December (FAISS's whole serialization as one member), which collections made
    then hold until their next checkpoint."""
    index, vectors = filled(kind)
    meta = json.dumps({"dimension": index.dimension, **index.params()})
    with open(tmp_path / "streamed.index", "wb") as handle, zipfile.ZipFile(handle, "w") as archive:
        write_member(archive, "meta", np.array(meta))
        write_faiss_member(archive, "index", index._index, faiss)
        write_member(archive, "labels", index._labels)
        write_member(archive, "live", index._live)
    loaded = FaissIndex.load(tmp_path / "streamed.index", vectors.shape[1], capacity=5000)
    queries = vectors[::50] + 0.01
    assert np.array_equal(loaded.search(queries, 5)[1], index.search(queries, 5)[1])
    loaded.add(np.arange(5000, 5010), vectors[:10])
    assert np.array_equal(loaded.vectors(np.arange(5000, 5010)), vectors[:10])


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_a_load_with_room_adds_in_place(tmp_path, kind):
    """Adds up to the capacity given at load keep the vectors where they were read (no copy of the
    index), and answer as an index that never went through a file."""
    index, vectors = filled(kind)
    index.save(tmp_path / "space.index")
    loaded = FaissIndex.load(tmp_path / "space.index", vectors.shape[1], capacity=2500)
    where = loaded._storage().codes.data()
    rng = np.random.default_rng(9)
    more = rng.standard_normal((400, vectors.shape[1])).astype(np.float32)
    more /= np.linalg.norm(more, axis=1, keepdims=True)
    for start in range(0, 400, 50):  # small adds, as single writes make them
        loaded.add(np.arange(5000 + start, 5050 + start), more[start : start + 50])
        index.add(np.arange(5000 + start, 5050 + start), more[start : start + 50])
    assert loaded._storage().codes.data() == where
    queries = np.concatenate([vectors[::97], more[::40]]) + 0.01
    assert np.array_equal(loaded.search(queries, 10)[1], index.search(queries, 10)[1])
    assert np.array_equal(loaded.vectors(np.array([5000, 5399])), more[[0, 399]])
    loaded.add(np.arange(6000, 6600), np.tile(more, (2, 1))[:600])  # past the room: it grows as before
    assert len(loaded) == len(index) + 600


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
