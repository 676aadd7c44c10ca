"""Hybrid search quality on two kinds of data in one run: Quoref (long passages, named-entity questions)
and STS-B paraphrase retrieval (short sentences, reworded queries). Decides densekit's hybrid default.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/retrieval_quality.py [--model all-MiniLM-L6-v2]

What it measures, per task, per variant: MRR@10, recall@1/5/20 over PARENT passages (a passage is
found at the rank of its best chunk), queries scored, and the passage split used.
- Quoref (../shared/data/quoref): all 3,302 questions; passages chunked as ``densekit index`` does
  (densekit.eval.passages: model max length - 2 tokens, 32 overlap).
- STS-B dev paraphrase task (and STS-B train as a second check), built by
  ``densekit.eval.datasets.load_paraphrase_task`` (the rule of issue 17).

Honest halves: "dense" = candidates from the vector side only, "sparse" = candidates from the BM25
side only (densekit.sparse.SparseIndex, stemmed or not). Every hybrid variant sees the same two
candidate lists (``--depth`` chunks per side unless the variant says otherwise) and may adapt per
query only to the query's own candidate scores, never to collection statistics; one setting serves
both tasks. Chunk and query vectors are cached under ``--cache`` (default /tmp), so re-running to
try a variant costs seconds.
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


def prepare(task: Task, encoder, cache: Path) -> None:
    from densekit.eval.passages import ChunkSettings, describe_split, split_passages

    settings = ChunkSettings()
    pieces = split_passages(encoder, task.documents, settings)
    task.parents = [piece.parent for piece in pieces]
    task.texts = [piece.text for piece in pieces]
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


def sparse_candidates(task: Task, depth: int, stem: bool) -> list[Candidates]:
    """BM25 top-``depth`` chunks per query from densekit's own sparse index."""
    from densekit.sparse import SparseIndex

    index = SparseIndex(stem=stem)
    index.build(np.arange(len(task.texts)), task.texts)
    lists = []
    for query in task.queries:
        scores, ids = index.search(query.question, depth)
        lists.append([(int(i), float(s)) for i, s in zip(ids, scores)])
    return lists


# --- scoring -----------------------------------------------------------------------------------------


def parent_ranking(ranked: Candidates, parents: list[str]) -> list[str]:
    """Distinct parents in the order of their best chunk."""
    seen: dict[str, None] = {}
    for row, _ in ranked:
        seen.setdefault(parents[row], None)
    return list(seen)


def score_variant(task: Task, ranked_lists: list[Candidates]) -> dict[str, float]:
    from densekit.eval.metrics import mrr_at_k, recall_at_k

    rows = []
    for query, ranked in zip(task.queries, ranked_lists):
        parents = parent_ranking(ranked, task.parents)
        row = {"mrr@10": mrr_at_k(parents, query.relevant, 10)} if parents else {"mrr@10": 0.0}
        for k in CUTOFFS:
            row[f"R@{k}"] = recall_at_k(parents, query.relevant, k) if parents else 0.0
        rows.append(row)
    return {name: float(np.mean([row[name] for row in rows])) for name in rows[0]}


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


def variants(depth: int) -> list[tuple[str, str, Fusion | None, int]]:
    """(label, sparse side, fusion or None for a single side, depth per side)."""
    rows: list[tuple[str, str, Fusion | None, int]] = [
        ("dense only", "", None, depth),
        ("sparse only (bm25s, no stemming)", "plain", None, depth),
        ("sparse only (bm25s, Snowball stemming)", "stem", None, depth),
        ("RRF k=60, depth 50 (today's default)", "plain", rrf(60), 50),
        ("RRF k=60", "stem", rrf(60), depth),
    ]
    for alpha in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        rows.append((f"relative score (min-max) alpha={alpha}", "stem", weighted(alpha), depth))
    for alpha in (0.3, 0.5, 0.7):
        rows.append((f"distribution-based (mean+-3sd) alpha={alpha}", "stem", dbsf(alpha), depth))
    rows += [
        ("adaptive: top-1 z weights, min-max", "stem", adaptive(_confidence_top_z, _minmax), depth),
        ("adaptive: top-1 z weights, DBSF", "stem", adaptive(_confidence_top_z, _dbsf), depth),
        ("adaptive: top-1 z^2 weights, min-max", "stem", adaptive(_confidence_top_z, _minmax, 2.0), depth),
        ("adaptive: gap weights, min-max", "stem", adaptive(_confidence_gap, _minmax), depth),
        ("adaptive: gap weights, DBSF", "stem", adaptive(_confidence_gap, _dbsf), depth),
        ("softmax of z-scores, T=1", "stem", softmax_fusion(1.0), depth),
        ("softmax of z-scores, T=0.5", "stem", softmax_fusion(0.5), depth),
    ]
    return rows


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
    parser.add_argument("--depth", type=int, default=100, help="Candidate chunks per side for hybrid variants.")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/densekit-retrieval-quality"))
    parser.add_argument("--prepare-only", action="store_true", help="Encode and cache, print nothing else.")
    arguments = parser.parse_args()

    from densekit.encoders.defaults import default_backend
    from densekit.encoders.factory import load_encoder

    backend = arguments.backend or default_backend(arguments.model)
    encoder = load_encoder(arguments.model, backend=backend)
    tasks = load_tasks(arguments.data, arguments.tasks.split(","))
    for task in tasks:
        prepare(task, encoder, arguments.cache / f"{arguments.model}-{backend}")
    if arguments.prepare_only:
        return
    print(f"model {arguments.model}, backend {backend}; hybrid candidates: {arguments.depth} chunks per side "
          "unless stated; passages scored by their best chunk\n")
    for task in tasks:
        dense_lists = dense_candidates(task, max(arguments.depth, 50))
        sparse_lists = {stem: sparse_candidates(task, max(arguments.depth, 50), stem == "stem") for stem in ("plain", "stem")}
        results = []
        for label, side, fusion, depth in variants(arguments.depth):
            dense = [candidates[:depth] for candidates in dense_lists]
            sparse = [candidates[:depth] for candidates in sparse_lists.get(side or "plain")]
            if fusion is None:
                ranked = dense if not side else sparse
            else:
                ranked = [fusion(d, s) for d, s in zip(dense, sparse)]
            results.append((label, score_variant(task, ranked)))
        print(format_table(task, results) + "\n", flush=True)


if __name__ == "__main__":
    main()
