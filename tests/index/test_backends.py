"""One shared suite for every vector index backend, each checked against ExactIndex on the same data.

Ties are tolerated: "exact" and "flat" must return the oracle's hits up to tied scores, "hnsw" must
reach recall >= 0.95 against the oracle and report true scores for what it returns.
"""

from __future__ import annotations

import numpy as np
import pytest

from densekit.errors import InvalidInputError
from densekit.index import faiss_index
from densekit.index.exact import ExactIndex
from densekit.index.factory import create_index, load_index

DIMENSION = 32
SIZE = 3_000
K = 10
# Small graph settings so the HNSW cases build in milliseconds.
SMALL_HNSW = {"m": 16, "ef_construction": 64, "ef_search": 64}
BACKENDS = {"exact": {}, "flat": {}, "hnsw": SMALL_HNSW}


def clustered(count: int, dimension: int, clusters: int, seed: int) -> np.ndarray:
    """Normalised Gaussian clusters: closer to real embeddings than uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dimension)).astype(np.float32)
    points = centres[rng.integers(0, clusters, count)] + 0.35 * rng.standard_normal((count, dimension))
    points = points.astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    points = clustered(SIZE + 60, DIMENSION, clusters=30, seed=0)
    vectors, queries = points[:SIZE], points[SIZE:]  # queries: new points around the same centres
    # Sparse, non-contiguous ids so a backend confusing ids with positions fails.
    ids = np.arange(SIZE, dtype=np.int64) * 3 + 5
    return ids, vectors, queries


@pytest.fixture(params=list(BACKENDS))
def kind(request):
    return request.param


def build(kind: str, ids: np.ndarray, vectors: np.ndarray, batches: int = 3):
    """The backend under test and the oracle, filled with the same batches in a shuffled order."""
    index = create_index(kind, DIMENSION, **BACKENDS[kind])
    oracle = ExactIndex(DIMENSION)
    order = np.random.default_rng(1).permutation(batches)
    parts = np.array_split(np.arange(ids.size), batches)
    for part in order:  # out-of-order batches exercise unsorted id lookups
        index.add(ids[parts[part]], vectors[parts[part]])
        oracle.add(ids[parts[part]], vectors[parts[part]])
    return index, oracle


def recall(got: np.ndarray, expected: np.ndarray) -> float:
    hits = sum(len(set(g[g >= 0]) & set(e[e >= 0])) for g, e in zip(got, expected))
    return hits / max(1, int((expected >= 0).sum()))


def assert_matches(kind, index, oracle, queries, k=K, allowed=None):
    scores, ids = index.search(queries, k, allowed=allowed)
    expected_scores, expected_ids = oracle.search(queries, k, allowed=allowed)
    assert scores.shape == ids.shape == (queries.shape[0], k)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    # Padding agrees exactly: k hits come back whenever k candidates exist.
    np.testing.assert_array_equal(ids < 0, expected_ids < 0)
    assert np.all(np.isneginf(scores[ids < 0]))
    # Whatever comes back carries its true score, in descending order.
    found = ids >= 0
    if found.any():
        truth = np.einsum("qd,qkd->qk", queries, oracle_vectors(oracle, ids))
        np.testing.assert_allclose(scores[found], truth[found], atol=1e-4)
        assert np.all(np.diff(np.where(found, scores, -1e9), axis=1) <= 1e-6)
    if kind == "hnsw":
        assert recall(ids, expected_ids) >= 0.95
    else:
        # Exact up to ties: equal score lists, and any differing id ties with the oracle's score.
        np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
        differ = ids != expected_ids
        np.testing.assert_allclose(scores[differ], expected_scores[differ], atol=1e-5)
    return scores, ids


def oracle_vectors(oracle: ExactIndex, ids: np.ndarray) -> np.ndarray:
    """Vectors for a (q, k) id grid, zeros for padding."""
    flat = ids.reshape(-1)
    out = np.zeros((flat.size, DIMENSION), np.float32)
    out[flat >= 0] = oracle.vectors(flat[flat >= 0])
    return out.reshape(*ids.shape, DIMENSION)


def test_add_in_batches_matches_exact(kind, data):
    ids, vectors, queries = data
    index, oracle = build(kind, ids, vectors)
    assert index.kind == kind and index.params()["kind"] == kind
    assert len(index) == SIZE
    assert set(index.ids().tolist()) == set(ids.tolist())
    np.testing.assert_allclose(index.vectors(ids[[7, 0, 2999]]), vectors[[7, 0, 2999]], atol=1e-6)
    assert_matches(kind, index, oracle, queries)


def test_removed_ids_never_come_back(kind, data):
    ids, vectors, queries = data
    index, oracle = build(kind, ids, vectors)
    removed = np.random.default_rng(2).choice(ids, SIZE // 5, replace=False)
    # The nearest hits are removed on purpose, plus an id that was never there (ignored).
    nearest = oracle.search(queries, 3)[1].reshape(-1)
    removed = np.unique(np.concatenate([removed, nearest, [10**9]]))
    index.remove(removed)
    oracle.remove(removed)
    index.remove(removed[:5])  # removing twice is a no-op
    assert len(index) == len(oracle)
    _, got = assert_matches(kind, index, oracle, queries)
    assert not np.isin(got, removed).any()
    with pytest.raises(InvalidInputError, match=str(int(removed[0]))):
        index.vectors(removed[:1])


@pytest.mark.parametrize("exact_limit", [None, 0], ids=["default", "graph-path"])
def test_filtered_search_returns_k_allowed_hits(kind, data, exact_limit, monkeypatch):
    ids, vectors, queries = data
    if exact_limit is not None:
        # Force FAISS to filter with a selector instead of scoring the few allowed ids exactly.
        monkeypatch.setattr(faiss_index, "FILTER_EXACT_LIMIT", exact_limit)
    index, oracle = build(kind, ids, vectors)
    rng = np.random.default_rng(3)
    removed = rng.choice(ids, 300, replace=False)
    index.remove(removed)
    oracle.remove(removed)
    for share in (0.01, 0.3):
        allowed = rng.choice(ids, int(SIZE * share), replace=False)
        allowed = np.concatenate([allowed, [10**9]])  # unknown ids in the filter are ignored
        live_allowed = np.setdiff1d(allowed, np.append(removed, 10**9))
        assert live_allowed.size >= K
        _, got = assert_matches(kind, index, oracle, queries, allowed=allowed)
        assert np.all(got >= 0)
        assert np.isin(got, live_allowed).all()


def test_filter_with_fewer_than_k_ids_pads(kind, data):
    ids, vectors, queries = data
    index, oracle = build(kind, ids, vectors)
    allowed = ids[[4, 40, 400]]
    _, got = assert_matches(kind, index, oracle, queries, allowed=allowed)
    assert np.all(np.sort(got, axis=1)[:, K - 3 :] == np.sort(allowed)) and np.all(got[:, 3:] == -1)
    scores, got = index.search(queries, K, allowed=np.array([], dtype=np.int64))
    assert np.all(got == -1) and np.all(np.isneginf(scores))


def test_k_larger_than_size_pads(kind, data):
    ids, vectors, queries = data
    index, oracle = build(kind, ids[:5], vectors[:5], batches=2)
    scores, got = assert_matches(kind, index, oracle, queries[:4], k=8)
    assert np.all(got[:, 5:] == -1) and np.all(np.isneginf(scores[:, 5:]))
    assert sorted(got[0, :5].tolist()) == sorted(ids[:5].tolist())


def test_empty_index_returns_padding(kind):
    index = create_index(kind, DIMENSION, **BACKENDS[kind])
    scores, got = index.search(np.ones((2, DIMENSION), np.float32) / DIMENSION**0.5, 3)
    assert len(index) == 0 and got.shape == (2, 3)
    assert np.all(got == -1) and np.all(np.isneginf(scores))


def test_save_load_round_trip(kind, data, tmp_path):
    ids, vectors, queries = data
    index, oracle = build(kind, ids, vectors)
    index.remove(ids[::10])
    oracle.remove(ids[::10])
    before = index.search(queries, K)
    path = tmp_path / "text.index"  # no .npz suffix: the exact path must be kept
    index.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.index"]
    loaded = load_index(kind, path, DIMENSION)
    assert loaded.kind == kind and len(loaded) == len(index)
    after = loaded.search(queries, K)
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_allclose(after[0], before[0], atol=1e-6)
    assert_matches(kind, loaded, oracle, queries)
    if kind == "hnsw":
        assert loaded.params() == index.params()
    # The loaded index stays usable, and still refuses ids it holds.
    loaded.add(np.array([10**6]), vectors[:1])
    with pytest.raises(InvalidInputError, match=str(int(ids[1]))):
        loaded.add(ids[1:2], vectors[:1])
    with pytest.raises(InvalidInputError, match="dimension 16"):
        load_index(kind, path, 16)


def test_compaction_keeps_results(kind, data, tmp_path):
    ids, vectors, queries = data
    index, oracle = build(kind, ids, vectors)
    removed = ids[: SIZE // 2]  # 50% tombstones: above the 25% that triggers compaction on save
    index.remove(removed)
    oracle.remove(removed)
    before = assert_matches(kind, index, oracle, queries)
    if kind == "hnsw":
        assert index.tombstones == removed.size
    if hasattr(index, "compact"):
        index.compact()
        assert getattr(index, "tombstones", 0) == 0
    after = assert_matches(kind, index, oracle, queries)
    if kind == "hnsw":
        assert recall(after[1], before[1]) >= 0.95
    else:
        np.testing.assert_array_equal(after[1], before[1])
    assert len(index) == SIZE - removed.size


def test_save_compacts_many_tombstones(data, tmp_path):
    ids, vectors, queries = data
    index, oracle = build("hnsw", ids, vectors)
    index.remove(ids[:100])  # 3%: kept as tombstones
    index.save(tmp_path / "few.index")
    assert load_index("hnsw", tmp_path / "few.index", DIMENSION).tombstones == 100
    index.remove(ids[100:1000])  # 33%: compacted at save
    index.save(tmp_path / "many.index")
    loaded = load_index("hnsw", tmp_path / "many.index", DIMENSION)
    assert loaded.tombstones == 0 and len(loaded) == SIZE - 1000
    oracle.remove(ids[:1000])
    assert_matches("hnsw", loaded, oracle, queries)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda i, v: i.add(np.array([1, 2]), v[:2, :5]), r"\(n, 32\).*\(2, 5\)"),
        (lambda i, v: i.add(np.array([1, 2]), np.full((2, 32), np.nan, np.float32)), "NaN"),
        (lambda i, v: i.add(np.array([1]), v[:2]), "1 ids for 2 vectors"),
        (lambda i, v: i.add(np.array([9, 9]), v[:2]), "9 repeats"),
        (lambda i, v: i.add(np.array([1.5, 2.5]), v[:2]), "float64"),
        (lambda i, v: i.add(np.array([-3, 2]), v[:2]), "-3"),
        (lambda i, v: i.add(np.array([5, 6]), v[:2]), "id 5 is already"),
        (lambda i, v: i.search(v[:1, :8], 3), r"\(1, 8\)"),
        (lambda i, v: i.search(np.full((1, 32), np.inf, np.float32), 3), "NaN or infinity"),
        (lambda i, v: i.search(v[:1], 0), "got 0"),
        (lambda i, v: i.search(v[:1], -1), "got -1"),
        (lambda i, v: i.search(v[:1], "3"), "got '3'"),
        (lambda i, v: i.search(v[:1], 2.0), "got 2.0"),
        (lambda i, v: i.search(v[:1], 3, allowed=np.array([0.5])), "allowed must be integers"),
    ],
    ids=["add-dim", "add-nan", "add-count", "add-dup", "add-float-ids", "add-negative", "add-clash",
         "search-dim", "search-inf", "k0", "k-1", "k-str", "k-float", "allowed-float"],
)
def test_bad_input_is_named(kind, data, call, message):
    ids, vectors, _ = data
    index, _ = build(kind, ids[:50], vectors[:50], batches=1)
    with pytest.raises(InvalidInputError, match=message):
        call(index, vectors)
    assert len(index) == 50  # a rejected call changes nothing
