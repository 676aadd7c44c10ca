"""Retrieval quality on Quoref: dense (MiniLM, mpnet), sparse (BM25), hybrid (RRF and weighted).

Every question (3,302) is run over every passage (1,471) through ``collection.search``; relevance
is the question's passage_id. The main table comes from ``densekit.eval.retrieval.evaluate_retrieval``;
the tuning tables fuse each query's dense and sparse top-100 lists offline with the same
``densekit.fusion`` functions the hybrid search uses (checked: offline RRF == library hybrid), so an
alpha or RRF sweep costs no extra query encoding.

Usage (a persistent collection per model under --root, reused by later runs; a killed build resumes):
    DENSEKIT_THREADS=1 OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/retrieval_quoref.py --models minilm
    DENSEKIT_THREADS=2 OMP_WAIT_POLICY=PASSIVE nohup .venv/bin/python benchmarks/retrieval_quoref.py \
        --models mpnet > /tmp/quoref-mpnet.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported (see encoders/threads.py)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from densekit.collection import Collection  # noqa: E402
from densekit.eval.datasets import load_corpus, load_queries  # noqa: E402
from densekit.eval.retrieval import build_collection, evaluate_retrieval, format_table, score_ranking  # noqa: E402
from densekit.fusion import reciprocal_rank_fusion, weighted_fusion  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "quoref"
MODELS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2", "mpnet": "sentence-transformers/all-mpnet-base-v2"}
DEPTH = 100


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def open_or_build(folder: Path, model: str, documents) -> tuple[Collection, dict]:
    collection = (Collection.open(folder) if (folder / "manifest.json").exists()
                  else Collection.create(folder, model=model))
    last = [0.0]

    def progress(done: int, total: int | None) -> None:
        if time.monotonic() - last[0] > 30 or done == total:
            last[0] = time.monotonic()
            log(f"  building {folder.name}: {done}/{total} passages")

    built = build_collection(collection, documents, step=128, progress=progress)
    return collection, built.as_dict()


def rankings(collection: Collection, queries, mode: str) -> list[list[tuple[str, float]]]:
    return [[(hit.id, hit.score) for hit in collection.search(query.question, k=DEPTH, mode=mode)] for query in queries]


def mean_scores(ranked_lists: list[list[str]], queries) -> dict[str, float]:
    rows = [score_ranking(ranked, query.relevant, (1, 5, 10, 20, 100)) for ranked, query in zip(ranked_lists, queries)]
    return {name: float(np.mean([row[name] for row in rows])) for name in rows[0]}


def sweep(dense, sparse, queries) -> list[tuple[str, dict[str, float]]]:
    """Offline fusion variants over the same per-query dense and sparse top-100 lists."""
    rows = []
    for depth in (10, 20, 50, 100):
        for rrf_k in (1, 10, 60):
            fused = [[id_ for id_, _ in reciprocal_rank_fusion([[i for i, _ in d[:depth]], [i for i, _ in s[:depth]]], k=rrf_k)]
                     for d, s in zip(dense, sparse)]
            rows.append((f"rrf k={rrf_k} depth={depth}", mean_scores(fused, queries)))
    for alpha in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        fused = [[id_ for id_, _ in weighted_fusion((d, s), alpha)] for d, s in zip(dense, sparse)]
        rows.append((f"weighted alpha={alpha}", mean_scores(fused, queries)))
    return rows


def run_model(name: str, root: Path, documents, queries, results: dict) -> None:
    model = MODELS[name]
    folder = root / name
    log(f"{name}: opening/building {folder} with {model}")
    started = time.perf_counter()
    collection, built = open_or_build(folder, model, documents)
    log(f"{name}: index ready ({built})")
    try:
        evaluation_started = time.perf_counter()
        main = evaluate_retrieval(collection, queries, ["dense", "sparse", "hybrid"])
        weighted = evaluate_retrieval(collection, queries, ["hybrid"], alpha=0.5)
        main["modes"]["hybrid weighted a=0.5"] = weighted["modes"]["hybrid"]
        main["modes"]["hybrid rrf"] = main["modes"].pop("hybrid")
        evaluation_seconds = time.perf_counter() - evaluation_started
        log(f"{name}: main table done in {evaluation_seconds:.0f} s")
        print(f"\n## {model}: {main['queries']} questions x {len(documents)} passages "
              f"(index build {built['seconds']:.0f} s for {built['added']} new passages, {built['reused']} reused; "
              f"{built['truncated']} passages longer than {built['max_length']} tokens, truncated by the model; "
              f"evaluation {evaluation_seconds:.0f} s)")
        print(format_table(main))
        dense = rankings(collection, queries, "dense")
        sparse = rankings(collection, queries, "sparse")
        tuned = sweep(dense, sparse, queries)
        # The offline RRF at the library's settings must reproduce the library's hybrid exactly.
        library = main["modes"]["hybrid rrf"]
        offline = dict(tuned)["rrf k=60 depth=100"]
        agree = all(abs(library[key] - offline[key]) < 1e-9 for key in offline)
        best_single = {metric: max(main["modes"]["dense"][metric], main["modes"]["sparse"][metric])
                       for metric in ("mrr@10", "recall@5")}
        print(f"\nfusion sweep ({name}; offline RRF k=60 depth=100 equals the library hybrid: {agree}); "
              f"best single mode: MRR@10 {best_single['mrr@10']:.4f}, recall@5 {best_single['recall@5']:.4f}")
        print(f"{'variant':<26}{'mrr@10':>9}{'recall@5':>10}{'recall@20':>11}{'ndcg@10':>9}  beats both?")
        for label, scores in tuned:
            beats = scores["mrr@10"] > best_single["mrr@10"] and scores["recall@5"] > best_single["recall@5"]
            print(f"{label:<26}{scores['mrr@10']:>9.4f}{scores['recall@5']:>10.4f}{scores['recall@20']:>11.4f}"
                  f"{scores['ndcg@10']:>9.4f}  {'yes' if beats else 'no'}")
        sys.stdout.flush()
        main.pop("per_query")
        results[name] = {"model": model, "build": built, "evaluation_seconds": evaluation_seconds,
                         "total_seconds": time.perf_counter() - started, "main": main,
                         "sweep": {label: scores for label, scores in tuned}, "offline_rrf_matches_library": agree}
    finally:
        collection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="minilm,mpnet", help="comma list of: " + ", ".join(MODELS))
    parser.add_argument("--root", type=Path, default=Path("/tmp/densekit-quoref"), help="collections live here")
    parser.add_argument("--limit", type=int, default=None, help="first N questions only (a quick check)")
    parser.add_argument("--out", type=Path, default=None, help="write all figures as JSON")
    arguments = parser.parse_args()

    documents = load_corpus(DATA / "passages.jsonl", strict=True).items
    queries = load_queries(DATA / "questions.jsonl", strict=True).items[: arguments.limit]
    print(f"Quoref: {len(documents)} passages, {len(queries)} questions; torch threads "
          f"{os.environ.get('DENSEKIT_THREADS', 'default')}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    results: dict = {}
    for name in [item.strip() for item in arguments.models.split(",") if item.strip()]:
        if name not in MODELS:
            parser.error(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
        run_model(name, arguments.root, documents, queries, results)
    if arguments.out:
        arguments.out.write_text(json.dumps(results, indent=2))
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
