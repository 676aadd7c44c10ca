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
import hashlib
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

    built = build_collection(collection, documents, step=32, progress=progress)
    return collection, built.as_dict()


def rankings(collection: Collection, queries, mode: str, cache: Path | None) -> list[list[tuple[str, float]]]:
    """Each query's top-100 (id, score) list; cached as JSON so later analyses cost no search."""
    if cache is not None and cache.exists():
        stored = json.loads(cache.read_text())
        if len(stored) == len(queries):
            return [[(id_, score) for id_, score in ranked] for ranked in stored]
    ranked = [[(hit.id, hit.score) for hit in collection.search(query.question, k=DEPTH, mode=mode)] for query in queries]
    if cache is not None:
        cache.write_text(json.dumps(ranked))
    return ranked


def per_query(ranked_lists: list[list[str]], queries) -> dict[str, np.ndarray]:
    rows = [score_ranking(ranked, query.relevant, (1, 5, 10, 20, 100)) for ranked, query in zip(ranked_lists, queries)]
    return {name: np.array([row[name] for row in rows]) for name in rows[0]}


def variants(dense, sparse) -> list[tuple[str, list[list[str]]]]:
    """Single modes and offline fusion variants over the same per-query dense and sparse top-100 lists."""
    rows = [("dense", [[i for i, _ in d] for d in dense]), ("sparse", [[i for i, _ in s] for s in sparse])]
    for depth in (10, 20, 50, 100):
        for rrf_k in (1, 10, 60):
            rows.append((f"rrf k={rrf_k} depth={depth}",
                         [[id_ for id_, _ in reciprocal_rank_fusion([[i for i, _ in d[:depth]], [i for i, _ in s[:depth]]], k=rrf_k)]
                          for d, s in zip(dense, sparse)]))
    for alpha in (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        rows.append((f"weighted alpha={alpha}", [[id_ for id_, _ in weighted_fusion((d, s), alpha)] for d, s in zip(dense, sparse)]))
    return rows


def bootstrap_interval(difference: np.ndarray, draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% paired bootstrap interval of the mean per-query difference (resampling questions)."""
    generator = np.random.default_rng(seed)
    means = difference[generator.integers(0, len(difference), size=(draws, len(difference)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def held_out(scores: dict[str, dict[str, np.ndarray]], queries) -> list[str]:
    """Two-fold tuning: pick the fusion variant on the questions of half the passages, score it on the other half.

    Tuning and reporting on the same questions flatters the best variant; splitting by passage keeps
    every question about one passage on one side.
    """
    fold = np.array([int(hashlib.md5(query.relevant[0].encode()).hexdigest(), 16) % 2 for query in queries])
    lines = []
    fused_names = [name for name in scores if name not in ("dense", "sparse")]
    for tune_side in (0, 1):
        tune, test = fold == tune_side, fold != tune_side
        best = max(fused_names, key=lambda name: scores[name]["mrr@10"][tune].mean())
        single = max(("dense", "sparse"), key=lambda name: scores[name]["mrr@10"][tune].mean())
        parts = []
        for metric in ("mrr@10", "recall@5"):
            difference = scores[best][metric][test] - scores[single][metric][test]
            low, high = bootstrap_interval(difference)
            parts.append(f"{metric} {scores[best][metric][test].mean():.4f} vs {single} {scores[single][metric][test].mean():.4f} "
                         f"(diff {difference.mean():+.4f}, 95% CI {low:+.4f}..{high:+.4f})")
        lines.append(f"tuned on fold {tune_side} ({tune.sum()} q): {best}; on fold {1 - tune_side} ({test.sum()} q): " + "; ".join(parts))
    return lines


def main_table(name: str, model: str, collection: Collection, documents, queries, built: dict) -> dict:
    """The runner's own table: dense, sparse, hybrid RRF and hybrid weighted (alpha 0.5), all via collection.search."""
    started = time.perf_counter()
    main = evaluate_retrieval(collection, queries, ["dense", "sparse", "hybrid"])
    weighted = evaluate_retrieval(collection, queries, ["hybrid"], alpha=0.5)
    main["modes"]["hybrid rrf"] = main["modes"].pop("hybrid")
    main["modes"]["hybrid weighted a=0.5"] = weighted["modes"]["hybrid"]
    main.pop("per_query")
    main["evaluation_seconds"] = time.perf_counter() - started
    log(f"{name}: main table done in {main['evaluation_seconds']:.0f} s")
    print(f"\n## {model}: {main['queries']} questions x {len(documents)} passages "
          f"(index build {built['seconds']:.0f} s for {built['added']} new passages, {built['reused']} reused; "
          f"{built['truncated']} passages longer than {built['max_length']} tokens, truncated by the model; "
          f"evaluation {main['evaluation_seconds']:.0f} s)")
    print(format_table(main))
    return main


def fusion_study(name: str, collection: Collection, queries, root: Path, main: dict | None) -> dict:
    """Offline sweep of fusion settings, then a held-out check of the best one against the best single mode."""
    cache_folder = root / "rankings"
    cache_folder.mkdir(parents=True, exist_ok=True)
    dense = rankings(collection, queries, "dense", cache_folder / f"{name}-dense-{len(queries)}.json")
    sparse = rankings(collection, queries, "sparse", cache_folder / f"{name}-sparse-{len(queries)}.json")
    scores = {label: per_query(ranked, queries) for label, ranked in variants(dense, sparse)}
    means = {label: {metric: float(values.mean()) for metric, values in columns.items()} for label, columns in scores.items()}
    best_single = {metric: max(means["dense"][metric], means["sparse"][metric]) for metric in ("mrr@10", "recall@5")}
    agree = None
    if main is not None:
        # The offline RRF at the library's settings must reproduce the library's hybrid exactly.
        library, offline = main["modes"]["hybrid rrf"], means["rrf k=60 depth=100"]
        agree = all(abs(library[key] - offline[key]) < 1e-9 for key in offline)
    print(f"\nfusion sweep ({name}; offline RRF k=60 depth=100 equals the library hybrid: {agree}); "
          f"best single mode: MRR@10 {best_single['mrr@10']:.4f}, recall@5 {best_single['recall@5']:.4f}")
    print(f"{'variant':<26}{'mrr@10':>9}{'recall@5':>10}{'recall@20':>11}{'ndcg@10':>9}  beats both?")
    for label, values in means.items():
        beats = values["mrr@10"] > best_single["mrr@10"] and values["recall@5"] > best_single["recall@5"]
        print(f"{label:<26}{values['mrr@10']:>9.4f}{values['recall@5']:>10.4f}{values['recall@20']:>11.4f}"
              f"{values['ndcg@10']:>9.4f}  {'yes' if beats else 'no'}")
    print("\nheld-out check (2 folds split by passage; paired bootstrap over questions):")
    checks = held_out(scores, queries)
    for line in checks:
        print("  " + line)
    sys.stdout.flush()
    return {"sweep": means, "offline_rrf_matches_library": agree, "held_out": checks}


def run_model(name: str, root: Path, documents, queries, results: dict, sweep_only: bool) -> None:
    model = MODELS[name]
    folder = root / name
    log(f"{name}: opening/building {folder} with {model}")
    started = time.perf_counter()
    collection, built = open_or_build(folder, model, documents)
    log(f"{name}: index ready ({built})")
    try:
        main = None if sweep_only else main_table(name, model, collection, documents, queries, built)
        study = fusion_study(name, collection, queries, root, main)
        results[name] = {"model": model, "build": built, "main": main, **study,
                         "total_seconds": time.perf_counter() - started}
    finally:
        collection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="minilm,mpnet", help="comma list of: " + ", ".join(MODELS))
    parser.add_argument("--root", type=Path, default=Path("/tmp/densekit-quoref"), help="collections live here")
    parser.add_argument("--limit", type=int, default=None, help="first N questions only (a quick check)")
    parser.add_argument("--sweep-only", action="store_true", help="skip the main table (fusion study only)")
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
        run_model(name, arguments.root, documents, queries, results, arguments.sweep_only)
    if arguments.out:
        arguments.out.write_text(json.dumps(results, indent=2))
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
