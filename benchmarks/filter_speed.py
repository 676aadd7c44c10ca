"""Filtered search on the embedded store, with and without an index on the filtered key.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/filter_speed.py --count 100000 --queries 200

Builds a collection of ``count`` items (hashing:384 vectors of short texts; metadata ``pct`` = n % 100),
then times one search_vector per call for a 1% filter ({"pct": 7}) and a 10% filter
({"pct": {"$lt": 10}}), first with no index on ``pct`` and then after ``index_keys(["pct"])``,
the two interleaved in rounds; prints p50/p99 ms and the share of searches that returned k hits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from densekit.collection import Collection  # noqa: E402
from densekit.encoders.hashing import HashingEncoder  # noqa: E402

FILTERS = {"1%": {"pct": 7}, "10%": {"pct": {"$lt": 10}}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    encoder = HashingEncoder(384)
    rng = np.random.default_rng(0)
    words = [f"w{n}" for n in range(5000)]
    folder = Path(tempfile.mkdtemp(prefix="densekit-filter-")) / "c"
    started = time.perf_counter()
    with Collection.create(folder, encoder=encoder, index="flat") as collection:
        for start in range(0, arguments.count, 10_000):
            stop = min(arguments.count, start + 10_000)
            texts = [" ".join(rng.choice(words, 8)) for _ in range(start, stop)]
            collection.add(texts, ids=[str(n) for n in range(start, stop)], metadata=[{"pct": n % 100} for n in range(start, stop)])
    print(f"built {arguments.count:,} items in {time.perf_counter() - started:.1f} s", flush=True)
    queries = encoder.encode([" ".join(rng.choice(words, 8)) for _ in range(arguments.queries)])
    timings: dict[tuple[str, str], list[float]] = {}
    recalls: dict[tuple[str, str], list[float]] = {}
    for round_ in range(arguments.rounds):
        for variant in ("no index", "indexed"):
            with Collection.open(folder) as writer:
                if variant == "indexed":
                    writer.index_keys(["pct"])
                else:
                    writer.store.connection.execute("DROP INDEX IF EXISTS " + _index_name(writer))
            with Collection.open(folder, readonly=True) as reader:
                for label, where in FILTERS.items():
                    for query in queries:
                        began = time.perf_counter()
                        hits = reader.search_vector(query, k=10, where=where)
                        timings.setdefault((variant, label), []).append((time.perf_counter() - began) * 1000)
                        if round_ == 0:
                            recalls.setdefault((variant, label), []).append(float(len(hits) == 10))
    print(f"{'variant':10} {'filter':6} {'p50 ms':>8} {'p99 ms':>8} {'k hits':>7}")
    for (variant, label), values in sorted(timings.items()):
        values.sort()
        print(f"{variant:10} {label:6} {statistics.median(values):8.2f} {values[int(0.99 * (len(values) - 1))]:8.2f} "
              f"{statistics.mean(recalls[(variant, label)]):7.2f}")


def _index_name(writer) -> str:
    import hashlib

    return '"items_by_key_' + hashlib.sha256(b"pct").hexdigest()[:16] + '"'


if __name__ == "__main__":
    main()
