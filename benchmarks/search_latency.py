"""Single-query search latency on the Quoref collection, query encoding included (issue 17's goals).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/search_latency.py [--queries 300] [--rounds 3]

Builds once (into ``--cache``, default /tmp/densekit-bench) an embedded collection of
../shared/data/quoref/passages.jsonl exactly as ``densekit index`` does (``densekit.ingest`` with its
default chunking) with all-MiniLM-L6-v2 on the default backend, then opens it read-only and times
``Collection.search(question, k=10, mode=...)``, one question per call, for hybrid, dense and sparse.
The modes are interleaved in rounds (each round runs every mode over the same questions, in a rotated
order) so machine load hits them alike; the first round of each mode is a warm-up and is not counted.
Prints p50/p90/p99 in milliseconds per mode, against the goals (hybrid p50 <= 10 ms, dense <= 8,
sparse <= 2). ``--profile MODE`` prints a cProfile of that mode instead of the table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "quoref"
MODES = ("hybrid", "dense", "sparse")
GOALS_MS = {"hybrid": 10.0, "dense": 8.0, "sparse": 2.0}


def build(folder: Path, model: str, chunk_tokens: int | None) -> None:
    """The collection ``densekit index passages.jsonl`` would build (default backend and chunking)."""
    from densekit.collection import Collection
    from densekit.ingest import CommitEvery, ingest

    started = time.perf_counter()
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        import shutil

        shutil.rmtree(partial)
    with Collection.create(partial, model) as collection:
        # Committed as it goes, as `densekit index` does: the segments a search reads are the ones it leaves.
        report = ingest(collection, [DATA / "passages.jsonl"], max_tokens=chunk_tokens, commit_every=CommitEvery())
    partial.rename(folder)
    print(f"built {folder} in {time.perf_counter() - started:.0f} s: {report.chunks} chunks", file=sys.stderr)


def collection_folder(cache: Path, model: str, chunk_tokens: int | None) -> Path:
    """One folder per (model, chunk size as ingest resolves it, data): a change of default builds anew."""
    from densekit.chunking import default_chunk_tokens
    from densekit.models import model_info

    tokens = chunk_tokens or default_chunk_tokens(model_info(model).max_seq_length)
    digest = hashlib.sha1(f"{model}|{tokens}|{(DATA / 'passages.jsonl').stat().st_size}".encode()).hexdigest()[:10]
    return cache / f"search-latency-{digest}"


def percentiles(timings: list[float]) -> dict[str, float]:
    values = np.array(timings) * 1000.0
    return {name: float(np.percentile(values, q)) for name, q in (("p50", 50), ("p90", 90), ("p99", 99))}


def time_modes(collection, questions: list[str], rounds: int, modes=MODES) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {mode: [] for mode in modes}
    for round_ in range(rounds + 1):
        order = modes[round_ % len(modes):] + modes[:round_ % len(modes)]
        for mode in order:
            for question in questions:
                began = time.perf_counter()
                collection.search(question, k=10, mode=mode)
                elapsed = time.perf_counter() - began
                if round_ > 0:  # round 0 warms caches, the sparse index and the ONNX session
                    timings[mode].append(elapsed)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--queries", type=int, default=300, help="Quoref questions timed per round (the first N)")
    parser.add_argument("--rounds", type=int, default=3, help="counted rounds after one warm-up round")
    parser.add_argument("--chunk-tokens", type=int, default=None, help="ingest's max_tokens (default: ingest's own)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/densekit-bench"))
    parser.add_argument("--profile", choices=MODES, default=None, help="print a cProfile of one mode instead")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    arguments = parser.parse_args()

    folder = collection_folder(arguments.cache, arguments.model, arguments.chunk_tokens)
    if not folder.exists():
        arguments.cache.mkdir(parents=True, exist_ok=True)
        build(folder, arguments.model, arguments.chunk_tokens)
    questions = [json.loads(line)["question"] for line in (DATA / "questions.jsonl").read_text().splitlines()[:arguments.queries]]

    from densekit.collection import Collection

    with Collection.open(folder, readonly=True) as collection:
        info = collection.space("text").encoder_info
        if arguments.profile:
            import cProfile
            import pstats

            time_modes(collection, questions[:20], 0, (arguments.profile,))
            profiler = cProfile.Profile()
            profiler.enable()
            time_modes(collection, questions, 0, (arguments.profile,))
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
            return
        timings = time_modes(collection, questions, arguments.rounds)
        items = collection.count() if hasattr(collection, "count") else None
    figures = {mode: percentiles(values) for mode, values in timings.items()}
    if arguments.json:
        print(json.dumps({"model": info["model"], "backend": info.get("backend"), "items": items, "figures": figures}))
        return
    print(f"{info['model']} on {info.get('backend')}, {items} chunks, {len(questions)} questions x {arguments.rounds} "
          f"rounds per mode, k=10, one query per Collection.search call (encoding included)")
    print("| mode | p50 ms | p90 ms | p99 ms | goal p50 |")
    print("| --- | --- | --- | --- | --- |")
    for mode, figure in figures.items():
        met = "met" if figure["p50"] <= GOALS_MS[mode] else "MISSED"
        print(f"| {mode} | {figure['p50']:.2f} | {figure['p90']:.2f} | {figure['p99']:.2f} | <= {GOALS_MS[mode]:g} ({met}) |")


if __name__ == "__main__":
    main()
