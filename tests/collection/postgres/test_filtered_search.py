"""Filtered dense search on PostgreSQL: selective filters are ranked exactly, the rest by the HNSW index.

A few thousand clustered vectors (the shape on which pgvector's iterative HNSW scans lost recall at a
1% filter); every answer is compared with brute force over the same vectors, ties tolerated.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from densekit.collection import Item
from densekit.collection.postgres import PostgresCollection, search as pg_search
from densekit.encoders.hashing import HashingEncoder

COUNT = 3000
DIMENSION = 64
NAME = "filtered_search"
TOLERANCE = 1e-5


def clustered(count: int, seed: int, clusters: int = 30, spread: float = 0.35) -> np.ndarray:
    """Unit vectors around ``clusters`` fixed random centres (as benchmarks/postgres_speed.py)."""
    centres = np.random.default_rng(1234).standard_normal((clusters, DIMENSION)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((count, DIMENSION)).astype(np.float32) * (spread / np.sqrt(DIMENSION))
    vectors = centres[rng.integers(0, clusters, count)] + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


VECTORS = clustered(COUNT, seed=0)
QUERIES = clustered(20, seed=1)
METADATA = [{"tag": "rare" if n % 100 == 7 else "common", "group": n % 10, "n": n} for n in range(COUNT)]


@pytest.fixture(scope="module")
def collection(pg_url):
    """COUNT clustered vectors with 1% ("rare"), 10% (each group) and 99% ("common") filters."""
    target = PostgresCollection.create(pg_url, name=NAME, encoder=HashingEncoder(DIMENSION))
    items = [Item(f"v{n}", f"vector {n}", METADATA[n]) for n in range(COUNT)]
    for start in range(0, COUNT, 1000):
        target.add_items(items[start : start + 1000], vectors={"text": VECTORS[start : start + 1000]})
    with target._read() as connection:
        connection.execute(f'ANALYZE "{NAME}_items"')
    yield target
    from densekit.collection.postgres import schema

    with target._read() as connection:
        schema.drop(connection, NAME)
    target.close()


@pytest.fixture(autouse=True)
def count_every_search(monkeypatch):
    """Each search counts its filter's rows, whatever searches came before (reuse is tested apart)."""
    monkeypatch.setattr(pg_search, "COUNT_REUSE_SECONDS", 0.0)


def passes(metadata: dict, where: dict) -> bool:
    key, condition = next(iter(where.items()))
    value = metadata[key]
    if not isinstance(condition, dict):
        return value == condition
    operator, operand = next(iter(condition.items()))
    return {"$lt": lambda: value < operand, "$nin": lambda: value not in operand, "$ne": lambda: value != operand}[operator]()


def assert_exact(hits, query: np.ndarray, where: dict | None, k: int) -> None:
    """The hits are brute force's top k over the matching rows: same scores, ids among the tied."""
    mask = np.array([where is None or passes(metadata, where) for metadata in METADATA])
    scores = np.where(mask, VECTORS @ query, -np.inf)
    expected = np.sort(scores)[::-1][: min(k, int(mask.sum()))]
    assert len(hits) == len(expected)
    assert np.allclose([hit.score for hit in hits], expected, atol=TOLERANCE)
    for hit in hits:
        number = int(hit.id[1:])
        assert mask[number] and scores[number] >= expected[-1] - TOLERANCE


def recall(collection, where: dict | None, mask: np.ndarray) -> float:
    """Mean recall@10 over QUERIES against brute force; every hit must pass the filter."""
    found = []
    for query in QUERIES:
        hits = collection.search_vector(query, k=10, where=where)
        assert len(hits) == 10 and all(mask[int(hit.id[1:])] for hit in hits)
        best = np.argsort(-np.where(mask, VECTORS @ query, -np.inf))[:10]
        found.append(len({int(hit.id[1:]) for hit in hits} & set(best.tolist())) / 10)
    return float(np.mean(found))


def steps(collection, query, where, k=10) -> list[str]:
    return [step["step"] for step in pg_search.explain_vector(collection, query, k, where=where)]


ONE_PERCENT = [{"tag": "rare"}, {"tag": {"$nin": ["common"]}}, {"n": {"$lt": COUNT // 100}}]


@pytest.mark.parametrize("where", ONE_PERCENT, ids=["equal", "nin", "range"])
def test_one_percent_filters_give_exactly_the_brute_force_hits(collection, where):
    for query in QUERIES:
        assert_exact(collection.search_vector(query, k=10, where=where), query, where, 10)
    assert steps(collection, QUERIES[0], where) == ["count", "exact"]


def test_unfiltered_and_broad_filters_use_the_hnsw_index(collection):
    index_name = f"{NAME}_text_hnsw"
    unfiltered = pg_search.explain_vector(collection, QUERIES[0], 10)
    assert [step["step"] for step in unfiltered] == ["index"] and index_name in unfiltered[0]["plan"]
    broad = pg_search.explain_vector(collection, QUERIES[0], 10, where={"tag": "common"})  # 99%: over the cap
    assert [step["step"] for step in broad] == ["count", "index"]
    assert broad[0]["rows"] == pg_search.EXACT_SCAN_ROWS + 1 and index_name in broad[1]["plan"]
    assert recall(collection, None, np.ones(COUNT, dtype=bool)) >= 0.9
    assert recall(collection, {"tag": "common"}, np.arange(COUNT) % 100 != 7) >= 0.9


def test_the_threshold_decides_between_exact_and_index(collection, monkeypatch):
    monkeypatch.setattr(pg_search, "EXACT_SCAN_ROWS", 100)
    index_name = f"{NAME}_text_hnsw"
    group = pg_search.explain_vector(collection, QUERIES[0], 10, where={"group": 4})  # 300 rows
    assert [step["step"] for step in group] == ["count", "index"] and index_name in group[1]["plan"]
    rare = pg_search.explain_vector(collection, QUERIES[0], 10, where={"tag": "rare"})  # 30 rows
    assert [step["step"] for step in rare] == ["count", "exact"] and rare[0]["rows"] == 30
    assert index_name not in rare[1]["plan"]
    assert recall(collection, {"group": 4}, np.arange(COUNT) % 10 == 4) >= 0.9


def test_k_hits_whenever_k_rows_match(collection, monkeypatch):
    assert len(collection.search_vector(QUERIES[0], k=40, where={"tag": "rare"})) == 30
    assert collection.search_vector(QUERIES[0], k=5, where={"n": {"$lt": 0}}) == []
    # Through the index too: 30 matches cannot fill k=40, so the index scan comes back short and
    # the search is re-run exactly.
    monkeypatch.setattr(pg_search, "EXACT_SCAN_ROWS", 0)
    assert steps(collection, QUERIES[0], {"tag": "rare"}, k=40) == ["count", "index", "exact"]
    hits = collection.search_vector(QUERIES[0], k=40, where={"tag": "rare"})
    assert_exact(hits, QUERIES[0], {"tag": "rare"}, 40)


def test_text_search_modes_take_the_same_route(collection):
    for mode in ("dense", "hybrid"):
        hits = collection.search("vector", k=10, mode=mode, where={"tag": "rare"})
        assert len(hits) == 10 and all(hit.metadata["tag"] == "rare" for hit in hits)


def test_index_settings_do_not_linger_in_a_callers_transaction(collection, monkeypatch):
    monkeypatch.setattr(pg_search, "EXACT_SCAN_ROWS", 100)
    names = ("hnsw.iterative_scan", "enable_seqscan", "enable_bitmapscan", "hnsw.ef_search")

    def current(connection) -> list[str]:
        return [connection.execute(f"SHOW {name}").fetchone()[0] for name in names]

    with collection._read() as connection:
        before = current(connection)
    with collection.transaction():
        hits = collection.search_vector(QUERIES[0], k=200, where={"group": 4})  # index path, ef_search raised
        assert len(hits) == 200
        with collection._read() as connection:
            assert current(connection) == before
    with collection._read() as connection:
        assert current(connection) == before == ["strict_order", "on", "on", "96"]


def test_a_handle_reuses_a_filters_count_for_a_while(collection, monkeypatch):
    monkeypatch.setattr(pg_search, "COUNT_REUSE_SECONDS", 60.0)
    assert steps(collection, QUERIES[0], {"group": 7}) == ["count", "exact"]
    assert steps(collection, QUERIES[1], {"group": 7}) == ["exact"]  # the same filter: counted already
    assert steps(collection, QUERIES[1], {"group": 8}) == ["count", "exact"]  # other values, other count
    for query in QUERIES[:5]:
        assert_exact(collection.search_vector(query, k=10, where={"group": 7}), query, {"group": 7}, 10)
    monkeypatch.setattr(pg_search, "COUNT_REUSE_SECONDS", 0.05)
    time.sleep(0.1)
    assert steps(collection, QUERIES[2], {"group": 7}) == ["count", "exact"]  # too old: counted again
