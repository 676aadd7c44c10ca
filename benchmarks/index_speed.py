"""Index speed, memory and recall: exact (FAISS flat) against HNSW on clustered synthetic vectors.

Prints one table per size: build time, RSS growth, saved index bytes, single-thread queries/s
(one batch, and one query at a time) and recall@10 against exact ground truth, for flat and for
every (M, efConstruction) build x efSearch in the sweep. Goal at 1M x 384: recall@10 >= 0.95 at
>= 1,000 q/s on one thread.

    .venv/bin/python benchmarks/index_speed.py --quick
    .venv/bin/python benchmarks/index_speed.py --sizes 100000 --builds 16:100,32:100,32:200
    nohup .venv/bin/python benchmarks/index_speed.py --sizes 1000000 --builds 32:100 > 1m.log &

The machine is shared: q/s are medians of --repeats interleaved runs, and the load average is
printed so noisy runs can be spotted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from densekit.index.faiss_index import FaissIndex  # noqa: E402


def clustered(count: int, dimension: int, clusters: int, seed: int, centres_seed: int = 0) -> np.ndarray:
    """Normalised points around ``clusters`` Gaussian centres; noise as large as the centre norm."""
    centres = np.random.default_rng(centres_seed).standard_normal((clusters, dimension), dtype=np.float32)
    centres /= np.sqrt(dimension)
    rng = np.random.default_rng(seed)
    out = np.empty((count, dimension), dtype=np.float32)
    for start in range(0, count, 100_000):  # chunks keep the temporary arrays small at 1M
        stop = min(count, start + 100_000)
        chunk = centres[rng.integers(0, clusters, stop - start)]
        chunk += rng.standard_normal((stop - start, dimension), dtype=np.float32) / np.sqrt(dimension)
        out[start:stop] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def release_memory() -> None:
    """Hand freed heap back to the OS so the next RSS delta measures the next index, not reuse."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def saved_bytes(index: FaissIndex) -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "space.index"
        index.save(path)
        return path.stat().st_size


def recall_at_k(got: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(g) & set(t)) / k for g, t in zip(got, truth)]))


def queries_per_second(index: FaissIndex, queries: np.ndarray, single: int) -> tuple[float, float]:
    """(batch q/s, one-at-a-time q/s) on the current thread setting."""
    start = time.perf_counter()
    index.search(queries, 10)
    batch = queries.shape[0] / (time.perf_counter() - start)
    start = time.perf_counter()
    for row in range(single):
        index.search(queries[row : row + 1], 10)
    one = single / (time.perf_counter() - start)
    return batch, one


def build(kind: str, vectors: np.ndarray, ids: np.ndarray, threads: int, **params) -> tuple[FaissIndex, float, int]:
    import faiss

    faiss.omp_set_num_threads(threads)
    release_memory()
    before = rss_bytes()
    start = time.perf_counter()
    index = FaissIndex(vectors.shape[1], kind, **params)
    for offset in range(0, ids.size, 100_000):
        index.add(ids[offset : offset + 100_000], vectors[offset : offset + 100_000])
    return index, time.perf_counter() - start, rss_bytes() - before


def run_size(size: int, args: argparse.Namespace) -> None:
    import faiss

    print(f"\n== N = {size:,} x {args.dimension}, {args.clusters} clusters, {args.queries} queries "
          f"(load average {os.getloadavg()[0]:.2f}) ==", flush=True)
    vectors = clustered(size, args.dimension, args.clusters, seed=1)
    queries = clustered(args.queries, args.dimension, args.clusters, seed=2)
    ids = np.arange(size, dtype=np.int64)

    flat, flat_build, flat_rss = build("flat", vectors, ids, args.build_threads)
    faiss.omp_set_num_threads(args.build_threads)
    truth = flat.search(queries, 10)[1]
    faiss.omp_set_num_threads(1)
    flat_queries = queries[: min(args.queries, 200)]  # brute force at 1M is slow: fewer queries
    flat_qps = [queries_per_second(flat, flat_queries, min(20, args.single)) for _ in range(args.repeats)]
    rows = [(
        "flat", "-", "-", "-", flat_build, flat_rss, saved_bytes(flat),
        statistics.median(q[0] for q in flat_qps), statistics.median(q[1] for q in flat_qps), 1.0,
    )]
    del flat

    for m, ef_construction in args.builds:
        print(f"building hnsw M={m} efConstruction={ef_construction} on {args.build_threads} threads ...", flush=True)
        index, seconds, rss = build("hnsw", vectors, ids, args.build_threads, m=m, ef_construction=ef_construction)
        print(f"  built in {seconds:.1f} s", flush=True)
        size_bytes = saved_bytes(index)
        faiss.omp_set_num_threads(1)
        measured: dict[int, list[tuple[float, float]]] = {ef: [] for ef in args.ef_search}
        recalls: dict[int, float] = {}
        for _ in range(args.repeats):  # interleave efSearch values so drift hits them all alike
            for ef in args.ef_search:
                index.ef_search = ef
                measured[ef].append(queries_per_second(index, queries, args.single))
                recalls[ef] = recall_at_k(index.search(queries, 10)[1], truth)
        for ef in args.ef_search:
            rows.append((
                "hnsw", m, ef_construction, ef, seconds, rss, size_bytes,
                statistics.median(q[0] for q in measured[ef]), statistics.median(q[1] for q in measured[ef]),
                recalls[ef],
            ))
        del index
    print_table(rows)


def print_table(rows: list[tuple]) -> None:
    header = ("index", "M", "efC", "efS", "build s", "RSS +MB", "file MB", "q/s batch", "q/s single", "recall@10")
    print(" | ".join(f"{h:>10}" for h in header))
    print("-" * 13 * len(header))
    for kind, m, efc, efs, seconds, rss, size_bytes, batch, one, recall in rows:
        cells = (kind, m, efc, efs, f"{seconds:.1f}", f"{rss / 2**20:.0f}", f"{size_bytes / 2**20:.0f}",
                 f"{batch:,.0f}", f"{one:,.0f}", f"{recall:.4f}")
        print(" | ".join(f"{str(c):>10}" for c in cells), flush=True)


def parse_builds(text: str) -> list[tuple[int, int]]:
    return [tuple(int(part) for part in item.split(":")) for item in text.split(",") if item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated N values")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--single", type=int, default=300, help="queries timed one at a time")
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--builds", default="32:100", help="M:efConstruction pairs, comma-separated")
    parser.add_argument("--ef-search", default="16,32,64,128,256")
    parser.add_argument("--build-threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20k vectors, 200 queries, small sweep")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.queries, args.single, args.repeats = "20000", 200, 100, 1
        args.builds, args.ef_search = "16:64,32:100", "16,64"
    args.builds = parse_builds(args.builds)
    args.ef_search = [int(value) for value in args.ef_search.split(",")]
    for size in (int(value) for value in args.sizes.split(",")):
        run_size(size, args)


if __name__ == "__main__":
    main()
