"""A trained reranker against the default hybrid search, on Quoref questions the reranker never saw.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/rerank_quality.py --reranker /tmp/reranker [--queries 300]

Searches the WHOLE ../shared/data/quoref collection (built once as ``densekit index`` builds it, with
all-MiniLM-L6-v2 on the default backend: benchmarks/search_latency.py's cache) with only the
questions on the test side of ``densekit train split`` (the passages ``train reranker --split train``
never trains on), one question per call, k=10, ``group="parent"``:
- the default hybrid search;
- the same search with ``rerank=FOLDER`` (the reranker reads the first ``--depth`` documents' best
  chunks), timed per call, query encoding and reranking included; ``--int8`` quantises the
  reranker's linear layers (torch dynamic int8) first.
Prints MRR@10 and R@1/R@10 of both, the paired difference with a 95% bootstrap interval, and the
reranked search's p50/p90 milliseconds per query.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np  # noqa: E402

from search_latency import DATA, build, collection_folder  # noqa: E402


def reciprocal_rank(ranked: list[str], relevant: str, k: int = 10) -> float:
    return next((1.0 / rank for rank, parent in enumerate(ranked[:k], start=1) if parent == relevant), 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reranker", required=True, help="a folder `densekit train reranker` wrote (or a model name)")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--queries", type=int, default=None, help="only the first N test-split questions")
    parser.add_argument("--depth", type=int, default=10, help="documents the reranker reads per query")
    parser.add_argument("--int8", action="store_true", help="torch dynamic int8 for the reranker's linear layers")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the reranker")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/densekit-bench"))
    parser.add_argument("--json", type=Path, default=None, help="also write per-query figures here")
    arguments = parser.parse_args()

    import torch

    from densekit.collection import Collection
    from densekit.rerank import CrossEncoderReranker
    from densekit.train.quoref_split import load_quoref, split_quoref

    torch.set_num_threads(arguments.threads)
    folder = collection_folder(arguments.cache, arguments.model, None)
    if not folder.exists():
        arguments.cache.mkdir(parents=True, exist_ok=True)
        build(folder, arguments.model, None)
    questions = split_quoref(load_quoref(DATA), "test").questions[:arguments.queries]
    reranker = CrossEncoderReranker(arguments.reranker)
    if arguments.int8:
        torch.ao.quantization.quantize_dynamic(reranker._model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    rows = []
    with Collection.open(folder, readonly=True) as collection:
        collection.search("warm up", k=10, mode="hybrid", group="parent", rerank=reranker, rerank_depth=arguments.depth)
        for question in questions:
            text, relevant = question["question"], question["passage_id"]
            plain = collection.search(text, k=10, mode="hybrid", group="parent")
            began = time.perf_counter()
            reranked = collection.search(text, k=10, mode="hybrid", group="parent", rerank=reranker,
                                         rerank_depth=arguments.depth)
            elapsed = time.perf_counter() - began
            rows.append({"hybrid": reciprocal_rank([hit.parent or hit.id for hit in plain], relevant),
                         "reranked": reciprocal_rank([hit.parent or hit.id for hit in reranked], relevant),
                         "ms": elapsed * 1000})
    hybrid = np.array([row["hybrid"] for row in rows])
    reranked = np.array([row["reranked"] for row in rows])
    difference = reranked - hybrid
    generator = np.random.default_rng(0)
    means = [difference[generator.integers(0, len(difference), len(difference))].mean() for _ in range(2000)]
    milliseconds = np.array([row["ms"] for row in rows])
    print(f"{len(rows)} test-split questions over the whole collection ({folder}); "
          f"reranker {arguments.reranker}{' int8' if arguments.int8 else ''}, {arguments.depth} documents reranked")
    print("| search | MRR@10 | R@1 | R@10 |")
    print("| --- | --- | --- | --- |")
    for name, values in (("default hybrid", hybrid), ("hybrid + reranker", reranked)):
        print(f"| {name} | {values.mean():.4f} | {(values == 1).mean():.4f} | {(values > 0).mean():.4f} |")
    print(f"reranked - hybrid: {difference.mean():+.4f} (95% CI {np.percentile(means, 2.5):+.4f} .. "
          f"{np.percentile(means, 97.5):+.4f}; better on {(difference > 0).sum()}, worse on {(difference < 0).sum()})")
    print(f"reranked search ms per query: p50 {np.percentile(milliseconds, 50):.0f}, p90 {np.percentile(milliseconds, 90):.0f}")
    if arguments.json:
        arguments.json.write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
