"""What one write costs as a collection grows: add 1 item (~30 words) + commit, hashing:384.

For each size (1k, 10k, 100k; 1M with --million) a fresh embedded collection is built quickly (big
batches, one commit), then ``--adds`` single adds are timed, each ``add([text]); commit()`` as a new
user would write it, stopping early once ``--budget`` seconds were spent at that size (today's commit
rewrites the whole collection, so at 100k a single add takes seconds). Reports median, p99 and max
per size and the median's growth against the smallest size. The hashing encoder makes the figures
storage cost only (encoding one 30-word text with it takes well under a millisecond).

Texts are 30 words drawn (seeded) from the vocabulary of ../shared/data/quoref passages, so the
sparse index sees real words. The issue's goal (issue 15): median <= 20 ms at 1M and (1M / 1k) <= 3;
over 2,000 adds at 1M, p99 <= 50 ms and max <= 1 s.

    .venv/bin/python benchmarks/storage_speed.py --sizes 1000 10000 --adds 50
    .venv/bin/python benchmarks/storage_speed.py --million --adds 2000 --budget 600 --json /tmp/storage.json
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MODEL = "hashing:384"
WORDS_PER_TEXT = 30
BUILD_BATCH = 20_000


def vocabulary() -> list[str]:
    """Distinct words of the Quoref passages (real words, realistic for BM25)."""
    words: dict[str, None] = {}
    with open(DATA / "quoref" / "passages.jsonl", encoding="utf-8") as handle:
        for line in handle:
            for word in re.findall(r"[A-Za-z][A-Za-z'-]+", json.loads(line)["text"]):
                words.setdefault(word.lower(), None)
    return list(words)


def texts(words: list[str], count: int, seed: int) -> list[str]:
    generator = random.Random(seed)
    return [" ".join(generator.choices(words, k=WORDS_PER_TEXT)) for _ in range(count)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def build(folder: Path, size: int, words: list[str], index: str = "auto") -> float:
    """A collection of ``size`` items added in big batches and committed once; returns seconds."""
    from densekit.collection import Collection

    started = time.perf_counter()
    with Collection.create(folder, model=MODEL, index=index) as collection:
        for offset in range(0, size, BUILD_BATCH):
            batch = texts(words, min(BUILD_BATCH, size - offset), seed=offset)
            collection.add(batch, ids=[f"base-{offset + position}" for position in range(len(batch))])
    return time.perf_counter() - started


def time_single_adds(folder: Path, adds: int, budget: float, words: list[str]) -> tuple[list[float], float]:
    """Seconds for each ``add([text]); commit()`` on one open handle, until ``adds`` or ``budget``,
    and the seconds ``Collection.open`` took (a writer reads the index and the BM25 tables there)."""
    from densekit.collection import Collection

    timings: list[float] = []
    new_texts = texts(words, adds, seed=10**9)
    started = time.perf_counter()
    with Collection.open(folder) as collection:
        open_seconds = time.perf_counter() - started
        collection.encoder().encode(["warm up the encoder"])
        spent = 0.0
        for number, text in enumerate(new_texts):
            started = time.perf_counter()
            collection.add([text], ids=[f"single-{number}"])
            collection.commit()
            timings.append(time.perf_counter() - started)
            spent += timings[-1]
            if spent > budget:
                break
    return timings, open_seconds


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 items (minutes to build)")
    parser.add_argument("--adds", type=int, default=200, help="single adds timed per size")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of single adds per size at most")
    parser.add_argument("--work", type=Path, default=None, help="folder for the collections (default: a temp folder)")
    parser.add_argument("--index", default="auto", help="vector index kind of the built collections (auto, flat, hnsw)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    arguments = parser.parse_args()
    sizes = sorted(set(arguments.sizes + ([1_000_000] if arguments.million else [])))
    words = vocabulary()
    work = Path(tempfile.mkdtemp(prefix="storage-speed-", dir=arguments.work))
    rows = []
    try:
        for size in sizes:
            folder = work / f"c{size}"
            build_seconds = build(folder, size, words, arguments.index)
            timings, open_seconds = time_single_adds(folder, arguments.adds, arguments.budget, words)
            rows.append({
                "size": size, "build_seconds": round(build_seconds, 2), "open_seconds": round(open_seconds, 2),
                "adds": len(timings),
                "median_ms": round(1000 * statistics.median(timings), 2),
                "p99_ms": round(1000 * percentile(timings, 0.99), 2),
                "max_ms": round(1000 * max(timings), 2),
                "folder_mb": round(folder_bytes(folder) / 1e6, 1),
                "timings_ms": [round(1000 * value, 2) for value in timings],  # in order: where the slow ones fall
            })
            print(f"{size:>9,} items: built in {build_seconds:6.1f} s, opened in {open_seconds:5.2f} s; {len(timings):4d} adds: median "
                  f"{rows[-1]['median_ms']:8.1f} ms, p99 {rows[-1]['p99_ms']:8.1f} ms, max {rows[-1]['max_ms']:8.1f} ms; "
                  f"{rows[-1]['folder_mb']} MB", flush=True)
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    smallest = rows[0]["median_ms"]
    for row in rows:
        row["median_vs_smallest"] = round(row["median_ms"] / smallest, 2)
    print("median growth against the smallest size: " + ", ".join(f"{row['size']:,}: {row['median_vs_smallest']}x" for row in rows))
    if arguments.json:
        arguments.json.write_text(json.dumps({"model": MODEL, "words_per_text": WORDS_PER_TEXT, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
