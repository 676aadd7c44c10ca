"""Hybrid search quality on two kinds of data in one run: Quoref (long passages, named-entity questions)
and STS-B paraphrase retrieval (short sentences, reworded queries). Decides densekit's hybrid default.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/retrieval_quality.py [--model all-MiniLM-L6-v2]

What it measures, per task, per variant: MRR@10, recall@1/5/20 over PARENT passages (a passage is
found at the rank of its best chunk), queries scored, and the passage split used.
- Quoref (../shared/data/quoref): all 3,302 questions; passages chunked as ``densekit index`` does
  (densekit.eval.passages: chunking.default_chunk_tokens, 126 tokens for MiniLM, 32 overlap).
- STS-B dev paraphrase task (and STS-B train as a second check), built by
  ``densekit.eval.datasets.load_paraphrase_task`` (the rule of issue 17).

Honest halves: "dense" = candidates from the vector side only, "sparse" = candidates from the BM25
side only (densekit.sparse.SparseIndex, stemmed or not). Every hybrid variant sees the same two
candidate lists (``--depth`` chunks per side unless the variant says otherwise) and may adapt per
query only to the query's own candidate scores, never to collection statistics; one setting serves
both tasks. Chunk and query vectors are cached under ``--cache`` (default /tmp), so re-running to
try a variant costs seconds. The stemming rows need PyStemmer (``pip install pystemmer==3.1.0``);
without it they are left out. Results and the decision: docs/retrieval.md.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CUTOFFS = (1, 5, 20)

# A candidate list: (chunk row, score) pairs, best first.
Candidates = list[tuple[int, float]]
Fusion = Callable[[Candidates, Candidates], Candidates]


@dataclass
class Task:
    name: str
    documents: list  # densekit.eval.datasets.Document
    queries: list  # densekit.eval.datasets.Query
    split: str = ""
    parents: list[str] | None = None  # per chunk row
    texts: list[str] | None = None  # per chunk row
    spans: list[tuple[int, int]] | None = None  # per chunk row: characters in its passage
    chunk_vectors: np.ndarray | None = None
    query_vectors: np.ndarray | None = None


def load_tasks(data: Path, which: Sequence[str]) -> list[Task]:
    from densekit.eval.datasets import load_corpus, load_paraphrase_task, load_queries

    tasks = []
    for name in which:
        if name == "quoref":
            documents = load_corpus(data / "quoref" / "passages.jsonl", strict=True).items
            queries = load_queries(data / "quoref" / "questions.jsonl", strict=True).items
            tasks.append(Task("quoref", documents, queries))
        else:
            split = name.removeprefix("stsb-")
            paraphrase = load_paraphrase_task(data / "stsb" / f"sts-{split}.csv", strict=True)
            tasks.append(Task(f"STS-B {split} paraphrase", paraphrase.documents, paraphrase.queries))
    return tasks


def cached_encode(encoder, texts: list[str], cache: Path, label: str) -> np.ndarray:
    """Encode once per (model, backend, texts); later runs load the .npy."""
    digest = hashlib.sha1("\n\u241e".join([encoder.model_name, str(getattr(encoder, "backend", "")), *texts]).encode()).hexdigest()[:16]
    path = cache / f"{label}-{digest}.npy"
    if path.is_file():
        return np.load(path)
    started = time.perf_counter()
    vectors = np.asarray(encoder.encode(texts), dtype=np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    print(f"  encoded {len(texts)} {label} texts in {time.perf_counter() - started:.0f} s -> {path}", file=sys.stderr)
    return vectors


def prepare(task: Task, encoder, cache: Path, chunk_tokens: int | None = None) -> None:
    from densekit.eval.passages import ChunkSettings, describe_split, split_passages

    settings = ChunkSettings(tokens=chunk_tokens)
    pieces = split_passages(encoder, task.documents, settings)
    task.parents = [piece.parent for piece in pieces]
    task.texts = [piece.text for piece in pieces]
    task.spans = [(piece.start, piece.end) for piece in pieces]
    task.split = describe_split(encoder, settings, len(task.documents), len(pieces))
    task.chunk_vectors = cached_encode(encoder, task.texts, cache, "chunks")
    task.query_vectors = cached_encode(encoder, [query.question for query in task.queries], cache, "queries")


# --- candidate lists -------------------------------------------------------------------------------


def dense_candidates(task: Task, depth: int) -> list[Candidates]:
    """Exact cosine top-``depth`` chunks per query (what the exact vector index returns)."""
    lists = []
    for start in range(0, len(task.queries), 512):
        scores = task.query_vectors[start:start + 512] @ task.chunk_vectors.T
        top = np.argpartition(-scores, min(depth, scores.shape[1] - 1), axis=1)[:, :depth]
        for row, candidates in zip(scores, top):
            order = candidates[np.argsort(-row[candidates], kind="stable")]
            lists.append([(int(c), float(row[c])) for c in order])
    return lists


def sparse_candidates(task: Task, depth: int, stem: bool, documents: bool) -> list[Candidates]:
    """BM25 top-``depth`` per query from densekit's own sparse index, over chunks or whole documents."""
    from densekit.sparse import SparseIndex

    index = SparseIndex(stem=stem)
    grouping = {"documents": task.parents, "spans": task.spans} if documents else {}
    index.build(np.arange(len(task.texts)), task.texts, **grouping)
    lists = []
    for query in task.queries:
        scores, ids = index.search(query.question, depth)
        lists.append([(int(i), float(s)) for i, s in zip(ids, scores)])
    return lists


def by_parent(candidates: Candidates, first_chunk: list[int]) -> Candidates:
    """Each parent once, at its best chunk's score, keyed by the parent's first chunk row."""
    best: dict[int, float] = {}
    for row, score in candidates:
        best.setdefault(first_chunk[row], score)
    return list(best.items())


# --- scoring -----------------------------------------------------------------------------------------


def parent_ranking(ranked: Candidates, parents: list[str]) -> list[str]:
    """Distinct parents in the order of their best chunk."""
    seen: dict[str, None] = {}
    for row, _ in ranked:
        seen.setdefault(parents[row], None)
    return list(seen)


def score_variant(task: Task, ranked_lists: list[Candidates]) -> dict[str, float]:
    """Mean metrics over queries; "reciprocal_ranks" keeps each query's RR@10 for paired comparisons."""
    from densekit.eval.metrics import mrr_at_k, recall_at_k

    rows = []
    for query, ranked in zip(task.queries, ranked_lists):
        parents = parent_ranking(ranked, task.parents)
        row = {"mrr@10": mrr_at_k(parents, query.relevant, 10)} if parents else {"mrr@10": 0.0}
        for k in CUTOFFS:
            row[f"R@{k}"] = recall_at_k(parents, query.relevant, k) if parents else 0.0
        rows.append(row)
    averaged: dict = {name: float(np.mean([row[name] for row in rows])) for name in rows[0]}
    averaged["reciprocal_ranks"] = np.array([row["mrr@10"] for row in rows])
    return averaged


def paired_difference(better: np.ndarray, worse: np.ndarray, rounds: int = 2000) -> str:
    """Mean difference of per-query RR@10 with a 95% bootstrap interval (queries resampled, seed 0)."""
    difference = better - worse
    generator = np.random.default_rng(0)
    means = [difference[generator.integers(0, len(difference), len(difference))].mean() for _ in range(rounds)]
    return (f"{difference.mean():+.4f} (95% CI {np.percentile(means, 2.5):+.4f} .. {np.percentile(means, 97.5):+.4f}; "
            f"better on {int((difference > 0).sum())} queries, worse on {int((difference < 0).sum())})")


# --- fusion variants (prototypes; the chosen one lives in densekit.fusion) -----------------------------


def _minmax(candidates: Candidates) -> dict[int, float]:
    from densekit.fusion import min_max_normalize

    return min_max_normalize(candidates)


def _dbsf(candidates: Candidates) -> dict[int, float]:
    """Qdrant/Weaviate distribution-based normalisation: mean +- 3 sigma -> [0, 1], clipped."""
    if not candidates:
        return {}
    values = np.array([s for _, s in candidates])
    mean, sigma = values.mean(), values.std()
    if sigma == 0:
        return {row: 1.0 for row, _ in candidates}
    low, high = mean - 3 * sigma, mean + 3 * sigma
    return {row: float(np.clip((s - low) / (high - low), 0, 1)) for row, s in candidates}


def _zscores(candidates: Candidates) -> dict[int, float]:
    if not candidates:
        return {}
    values = np.array([s for _, s in candidates])
    sigma = values.std() or 1.0
    return {row: float((s - values.mean()) / sigma) for row, s in candidates}


def _combine(dense: dict, sparse: dict, weight: float, missing: float = 0.0) -> Candidates:
    fused = {}
    for row in list(dense) + [r for r in sparse if r not in dense]:
        fused[row] = weight * dense.get(row, missing) + (1 - weight) * sparse.get(row, missing)
    return sorted(fused.items(), key=lambda item: -item[1])


def rrf(k: int = 60) -> Fusion:
    from densekit.fusion import reciprocal_rank_fusion

    return lambda dense, sparse: reciprocal_rank_fusion([[r for r, _ in dense], [r for r, _ in sparse]], k=k)


def weighted(alpha: float) -> Fusion:
    from densekit.fusion import weighted_fusion

    return lambda dense, sparse: weighted_fusion([dense, sparse], alpha)


def dbsf(alpha: float = 0.5) -> Fusion:
    return lambda dense, sparse: _combine(_dbsf(dense), _dbsf(sparse), alpha)


def _confidence_gap(candidates: Candidates) -> float:
    """How far the best candidate stands above the next, in units of the list's spread."""
    if len(candidates) < 2:
        return 0.0
    values = np.array([s for _, s in candidates])
    sigma = values.std()
    return float((values[0] - values[1]) / sigma) if sigma > 0 else 0.0


def _confidence_top_z(candidates: Candidates) -> float:
    """How far the best candidate stands above the list's mean, in standard deviations."""
    if len(candidates) < 2:
        return 0.0
    values = np.array([s for _, s in candidates])
    sigma = values.std()
    return float((values[0] - values.mean()) / sigma) if sigma > 0 else 0.0


def adaptive(confidence: Callable[[Candidates], float], normalise: Callable[[Candidates], dict], power: float = 1.0) -> Fusion:
    """Weight each side by its own confidence on this query (its score distribution), then fuse."""

    def fuse(dense: Candidates, sparse: Candidates) -> Candidates:
        trust_dense, trust_sparse = confidence(dense) ** power, confidence(sparse) ** power
        total = trust_dense + trust_sparse
        alpha = 0.5 if total == 0 else trust_dense / total
        return _combine(normalise(dense), normalise(sparse), alpha)

    return fuse


def softmax_fusion(temperature: float = 1.0) -> Fusion:
    """Each side's candidates as a probability distribution (softmax of z-scores); add the two."""

    def probabilities(candidates: Candidates) -> dict[int, float]:
        z = _zscores(candidates)
        if not z:
            return {}
        peak = max(z.values())
        weights = {row: math.exp((value - peak) / temperature) for row, value in z.items()}
        total = sum(weights.values())
        return {row: value / total for row, value in weights.items()}

    return lambda dense, sparse: _combine(probabilities(dense), probabilities(sparse), 0.5)


# --- the run -------------------------------------------------------------------------------------------


@dataclass
class Variant:
    label: str
    fusion: Fusion | None  # None: one side alone
    sparse: str = "documents"  # "documents" or "chunks": what BM25 scores
    stem: bool = False
    depth: int | None = None  # candidates per side (None: --depth)
    group_first: bool = True  # reduce each side to its best chunk per parent before fusing
    dense_only: bool = False


def probability() -> Fusion:
    from densekit.fusion import probability_fusion

    return lambda dense, sparse: probability_fusion([dense, sparse])


def product_of_scores(scale: float) -> Fusion:
    """scale * cosine + BM25 (a product of the two softmax distributions; missing = the list's last)."""

    def fuse(dense: Candidates, sparse: Candidates) -> Candidates:
        floor_dense = dense[-1][1] if dense else 0.0
        floor_sparse = sparse[-1][1] if sparse else 0.0
        dense_scores, sparse_scores = dict(dense), dict(sparse)
        rows = list(dense_scores) + [row for row in sparse_scores if row not in dense_scores]
        fused = {row: scale * dense_scores.get(row, floor_dense) + sparse_scores.get(row, floor_sparse) for row in rows}
        return sorted(fused.items(), key=lambda item: -item[1])

    return fuse


def cosine_plus_relative_bm25(alpha: float) -> Fusion:
    """alpha * cosine + (1 - alpha) * BM25 / the query's best BM25 (each side on its natural scale)."""

    def fuse(dense: Candidates, sparse: Candidates) -> Candidates:
        top = sparse[0][1] if sparse else 1.0
        return _combine(dict(dense), {row: score / top for row, score in sparse}, alpha)

    return fuse


def fixed_scale_probability(scale: float) -> Fusion:
    from densekit.fusion import probability_fusion

    def fuse(dense: Candidates, sparse: Candidates) -> Candidates:
        # Undo the per-query scaling by the best cosine: softmax(scale * cosine) for every query.
        top = max(min(dense[0][1], 1.0), 1e-6) if dense else 1.0
        return probability_fusion([dense, sparse], scale=scale / top)

    return fuse


DEFAULT_LABEL = "PROBABILITY FUSION (the new default)"
DENSE_LABEL = "dense only (best chunk per passage)"
SPARSE_LABEL = "sparse only: BM25 over whole documents (new)"


def variants() -> list[Variant]:
    rows = [
        Variant(DENSE_LABEL, None, dense_only=True),
        Variant("sparse only: BM25 over chunks (today's index)", None, sparse="chunks"),
        Variant("sparse only: BM25 over chunks, Snowball stemming", None, sparse="chunks", stem=True),
        Variant(SPARSE_LABEL, None),
        Variant("sparse only: BM25 over whole documents, stemming", None, stem=True),
        Variant("RRF k=60, chunks, 50 per side (today's default)", rrf(60), sparse="chunks", depth=50, group_first=False),
        Variant("RRF k=60", rrf(60)),
    ]
    rows += [Variant(f"relative score (min-max) alpha={alpha}", weighted(alpha)) for alpha in (0.1, 0.2, 0.3, 0.5, 0.7)]
    rows += [Variant(f"distribution-based (mean+-3sd) alpha={alpha}", dbsf(alpha)) for alpha in (0.3, 0.5, 0.7)]
    rows += [
        Variant("adaptive: weights by top-1 z-score, min-max", adaptive(_confidence_top_z, _minmax)),
        Variant("adaptive: weights by top-1 z-score^2, min-max", adaptive(_confidence_top_z, _minmax, 2.0)),
        Variant("adaptive: weights by top-1 gap / sd, min-max", adaptive(_confidence_gap, _minmax)),
        Variant("adaptive: weights by top-1 gap / sd, DBSF", adaptive(_confidence_gap, _dbsf)),
        Variant("softmax of z-scores, T=1", softmax_fusion(1.0)),
        Variant("cosine + BM25/best, alpha=0.5", cosine_plus_relative_bm25(0.5)),
        Variant("cosine + BM25/best, alpha=0.7", cosine_plus_relative_bm25(0.7)),
        Variant("20 x cosine + BM25 (product of experts)", product_of_scores(20.0)),
        Variant("10 x cosine + BM25 (product of experts)", product_of_scores(10.0)),
        Variant("softmax(20 x cos) + softmax(BM25), fixed scale", fixed_scale_probability(20.0)),
        Variant("softmax(10 x cos) + softmax(BM25), fixed scale", fixed_scale_probability(10.0)),
        Variant("probability fusion (default), chunks not grouped", probability(), group_first=False),
        Variant("probability fusion, BM25 over chunks", probability(), sparse="chunks"),
        Variant("probability fusion, stemming", probability(), stem=True),
        Variant("probability fusion, 50 per side", probability(), depth=50),
        Variant("probability fusion, 200 per side", probability(), depth=200),
        Variant(DEFAULT_LABEL, probability()),
    ]
    return rows


def run_task(task: Task, depth: int) -> list[tuple[str, dict[str, float]]]:
    """Every variant on one task; candidate lists are computed once per kind and cut per variant."""
    from densekit.sparse import stemmer_available

    # The stemming rows need PyStemmer (pip install pystemmer==3.1.0); without it they are left out.
    chosen = [variant for variant in variants() if stemmer_available() or not variant.stem]
    deepest = max(depth, max(variant.depth or 0 for variant in chosen))
    first: dict[str, int] = {}
    first_chunk = [first.setdefault(parent, row) for row, parent in enumerate(task.parents)]
    dense_lists = dense_candidates(task, deepest)
    sparse_lists: dict[tuple[str, bool], list[Candidates]] = {}
    results = []
    for variant in chosen:
        key = (variant.sparse, variant.stem)
        if key not in sparse_lists:
            sparse_lists[key] = sparse_candidates(task, deepest, variant.stem, variant.sparse == "documents")
        ranked = []
        for dense, sparse in zip(dense_lists, sparse_lists[key]):
            cut = variant.depth or depth
            dense, sparse = dense[:cut], sparse[:cut]
            if variant.group_first:
                dense, sparse = by_parent(dense, first_chunk), by_parent(sparse, first_chunk)
            if variant.fusion is None:
                ranked.append(dense if variant.dense_only else sparse)
            else:
                ranked.append(variant.fusion(dense, sparse))
        results.append((variant.label, score_variant(task, ranked)))
    return results


def format_table(task: Task, results: list[tuple[str, dict[str, float]]]) -> str:
    width = max(len(label) for label, _ in results)
    columns = ["mrr@10"] + [f"R@{k}" for k in CUTOFFS]
    lines = [f"{task.name}: {len(task.queries)} queries; {task.split}",
             "variant".ljust(width) + "".join(f"{column:>9}" for column in columns)]
    for label, values in results:
        lines.append(label.ljust(width) + "".join(f"{values[column]:>9.4f}" for column in columns))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--backend", default=None, help="Encoder backend (default: what a new collection gets).")
    parser.add_argument("--tasks", default="quoref,stsb-dev,stsb-train")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--depth", type=int, default=100, help="Candidates per side for hybrid variants.")
    parser.add_argument("--chunk-tokens", type=int, default=None,
                        help="Tokens per chunk (default: as densekit index, chunking.default_chunk_tokens).")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/densekit-retrieval-quality"))
    parser.add_argument("--prepare-only", action="store_true", help="Encode and cache, print nothing else.")
    arguments = parser.parse_args()

    from densekit.encoders.defaults import default_backend
    from densekit.encoders.factory import load_encoder

    backend = arguments.backend or default_backend(arguments.model)
    encoder = load_encoder(arguments.model, backend=backend)
    tasks = load_tasks(arguments.data, arguments.tasks.split(","))
    for task in tasks:
        prepare(task, encoder, arguments.cache / f"{arguments.model}-{backend}", arguments.chunk_tokens)
    if arguments.prepare_only:
        return
    print(f"model {arguments.model}, backend {backend}; hybrid: {arguments.depth} candidates per side unless "
          "stated, each side reduced to its best chunk per passage before fusing; passages scored by their best chunk\n")
    for task in tasks:
        results = run_task(task, arguments.depth)
        print(format_table(task, results), flush=True)
        by_label = dict(results)
        default = by_label[DEFAULT_LABEL]["reciprocal_ranks"]
        for half in (DENSE_LABEL, SPARSE_LABEL):
            print(f"  default - {half}: MRR@10 {paired_difference(default, by_label[half]['reciprocal_ranks'])}")
        print(flush=True)


if __name__ == "__main__":
    main()
