"""Single-query dense search through a collection: ``Collection.search_vector`` against its index alone.

Issue 15's goal: at 1M x 384 (the 1,000-Gaussian-cluster data of benchmarks/index_speed.py), queries
held out of the index, one query per call through the public ``search_vector``, exact ground truth:
recall@10 >= 0.95 at >= 1,000 queries/s on one thread.

    .venv/bin/python benchmarks/search_vector_speed.py --size 100000
    nohup .venv/bin/python benchmarks/search_vector_speed.py --size 1000000 > 1m.log 2>&1 &
    .venv/bin/python benchmarks/search_vector_speed.py --size 100000 --profile

Builds once (into ``--cache``, default /tmp/densekit-bench) an embedded collection
(``Collection.create(folder, model="hashing:384")``) of N clustered vectors added with
``add_items(items, vectors=...)`` and committed (past 50k the space converts to HNSW with the index
defaults), then opens it read-only. Held-out queries come from the same distribution with another seed;
the exact top 10 is a numpy matmul. Timed on one thread (faiss.omp_set_num_threads(1)), one query per
call, in interleaved repeats (median q/s): the collection's ``search_vector(q, k=10)`` and its index's
own ``search`` of the same query, so the ratio is the collection's per-call overhead.
``--profile`` prints a cProfile of the collection calls instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

from index_speed import clustered  # noqa: E402

GOAL_RECALL, GOAL_QPS = 0.95, 1000.0
DATA_SEED, QUERY_SEED = 1, 2  # index_speed.py's seeds
ADD_BATCH = 50_000


def build(folder: Path, vectors: np.ndarray) -> float:
    """The collection of ``vectors`` (ids and texts "v0", "v1", ...), committed once; returns seconds."""
    from densekit.collection import Collection
    from densekit.collection.items import Item

    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    started = time.perf_counter()
    with Collection.create(partial, model="hashing:384") as collection:
        for start in range(0, len(vectors), ADD_BATCH):
            stop = min(len(vectors), start + ADD_BATCH)
            items = [Item(f"v{number}", f"v{number}") for number in range(start, stop)]
            collection.add_items(items, vectors={"text": vectors[start:stop]})
            log(f"  added {stop:,} items ({time.perf_counter() - started:.0f} s)")
        added = time.perf_counter() - started
        collection.commit()
        log(f"  committed ({time.perf_counter() - started - added:.0f} s: the HNSW build)")
    partial.rename(folder)
    return time.perf_counter() - started


def exact_top10(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Row numbers of each query's 10 highest inner products, best first (blocks bound the memory)."""
    best_scores = np.full((len(queries), 0), -np.inf, np.float32)
    best_rows = np.empty((len(queries), 0), np.int64)
    for start in range(0, len(vectors), 100_000):
        scores = queries @ vectors[start : start + 100_000].T
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        best_rows = np.concatenate([best_rows, top + start], axis=1)
        keep = np.argsort(-best_scores, axis=1)[:, :10]
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
        best_rows = np.take_along_axis(best_rows, keep, axis=1)
    return best_rows


def recall(got: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(row) & set(expected)) / 10 for row, expected in zip(got, truth.tolist())]))


def time_calls(call, queries: np.ndarray) -> float:
    """Queries per second, one call per query."""
    started = time.perf_counter()
    for row in range(len(queries)):
        call(queries[row])
    return len(queries) / (time.perf_counter() - started)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000, help="held-out queries (recall and timing)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds (median q/s)")
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/densekit-bench"))
    parser.add_argument("--profile", action="store_true", help="cProfile the collection calls instead")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = parser.parse_args()
    if args.dimension != 384:
        parser.error("the collection's model is hashing:384, so --dimension must be 384")

    import faiss

    from densekit.collection import Collection

    load = os.getloadavg()
    vectors = clustered(args.size, args.dimension, args.clusters, seed=DATA_SEED)
    queries = clustered(args.queries, args.dimension, args.clusters, seed=QUERY_SEED)
    folder = args.cache / f"search-vector-{args.size}x{args.dimension}-c{args.clusters}"
    build_seconds = None
    if not folder.is_dir():
        log(f"building {folder} ...")
        build_seconds = build(folder, vectors)
        log(f"built in {build_seconds:.0f} s")
    truth = exact_top10(vectors, queries)
    del vectors

    started = time.perf_counter()
    collection = Collection.open(folder, readonly=True)
    open_seconds = time.perf_counter() - started
    index = collection.spaces["text"].index
    # Row numbers (the clustered() order) of the index's rowids, to score the index alone.
    rowids, names = zip(*collection.store.connection.execute("SELECT rowid, id FROM items"))
    row_of = np.full(max(rowids) + 1, -1, np.int64)
    row_of[np.asarray(rowids)] = [int(name[1:]) for name in names]

    faiss.omp_set_num_threads(1)
    hits = [collection.search_vector(query, k=10) for query in queries]
    found = index.search(queries, 10)[1]
    collection_recall = recall([[int(hit.id[1:]) for hit in row] for row in hits], truth)
    index_recall = recall([row_of[row].tolist() for row in found], truth)
    same = all([int(hit.id[1:]) for hit in row] == row_of[ids].tolist() for row, ids in zip(hits, found))

    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        time_calls(lambda query: collection.search_vector(query, k=10), queries)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        return

    through_collection, index_alone = [], []
    for _ in range(args.repeats):  # interleaved, so drift in the machine's load hits both alike
        through_collection.append(time_calls(lambda query: collection.search_vector(query, k=10), queries))
        index_alone.append(time_calls(lambda query: index.search(query[None, :], 10), queries))
    result = {
        "size": args.size, "dimension": args.dimension, "clusters": args.clusters, "queries": args.queries,
        "index": index.kind, **{key: value for key, value in index.params().items() if key != "kind"},
        "load_average": [round(value, 2) for value in load], "build_s": build_seconds, "open_s": round(open_seconds, 2),
        "collection_qps": round(statistics.median(through_collection), 1),
        "index_qps": round(statistics.median(index_alone), 1),
        "collection_recall_at_10": round(collection_recall, 4), "index_recall_at_10": round(index_recall, 4),
        "same_hits": same,
    }
    result["overhead_ratio"] = round(result["index_qps"] / result["collection_qps"], 3)
    result["goal_met"] = collection_recall >= GOAL_RECALL and result["collection_qps"] >= GOAL_QPS
    collection.close()
    if args.json:
        print(json.dumps(result))
        return
    print(f"N = {args.size:,} x {args.dimension}, {args.clusters} clusters, {args.queries} held-out queries, "
          f"{result['index']} {index.params()}, load average {load[0]:.2f}; 1 thread, median of {args.repeats}")
    if build_seconds is not None:
        print(f"build (add + commit): {build_seconds:.0f} s")
    print(f"open: {open_seconds:.1f} s")
    print(f"{'path':>22} | {'q/s':>8} | {'recall@10':>9}")
    print(f"{'search_vector':>22} | {result['collection_qps']:>8,.0f} | {collection_recall:>9.4f}")
    print(f"{'index.search alone':>22} | {result['index_qps']:>8,.0f} | {index_recall:>9.4f}")
    print(f"overhead: index alone / collection = {result['overhead_ratio']:.2f}x; same hits: {same}; "
          f"goal (recall >= {GOAL_RECALL}, >= {GOAL_QPS:,.0f} q/s): {'met' if result['goal_met'] else 'NOT met'}")


if __name__ == "__main__":
    main()
