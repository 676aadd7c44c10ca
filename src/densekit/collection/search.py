"""Searching a collection: dense (per space), sparse (BM25) or hybrid, with metadata filters and reranking."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInputError
from ..metadata import check_unicode
from .persistence import load_sparse

if TYPE_CHECKING:
    from .collection import Collection

MODES = ("dense", "sparse", "hybrid")
FUSIONS = ("rrf", "weighted")


@dataclass
class Hit:
    """One search result."""

    id: str
    score: float
    text: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    start: int | None = None
    end: int | None = None
    kind: str = "text"

    def as_dict(self) -> dict[str, Any]:
        data = {"id": self.id, "score": round(float(self.score), 6), "text": self.text, "metadata": self.metadata}
        if self.parent is not None:
            data.update(parent=self.parent, start=self.start, end=self.end)
        if self.kind != "text":
            data["kind"] = self.kind
        return data


def check_k(k: Any, name: str = "k") -> int:
    from ..limits import check_count  # 1..DENSEKIT_MAX_K (10,000): a huge k is an error, not a MemoryError

    return check_count(k, name)


def check_search_arguments(query: Any, k: Any, mode: Any, alpha: Any) -> int:
    """Validate a text search's arguments (both stores); returns k as an int."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError(f"query must be a non-empty string, got {query!r}")
    check_unicode(query, "query")
    k = check_k(k)
    if mode not in MODES:
        raise InvalidInputError(f"unknown search mode {mode!r}; valid: {', '.join(MODES)}")
    if alpha is not None and not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
        raise InvalidInputError(f"alpha must be a number between 0 and 1, got {alpha!r}")
    return k


def search(
    collection: "Collection",
    query: str,
    k: int = 5,
    *,
    mode: str = "dense",
    where: dict[str, Any] | None = None,
    space: str = "text",
    alpha: float | None = None,
    rrf_k: int = 60,
    rerank: Any = None,
    candidates: int | None = None,
) -> list[Hit]:
    """Top-k items for a text query.

    Args:
        query: the query text.
        k: hits to return (fewer when fewer items match).
        mode: "dense" (meaning), "sparse" (BM25, exact words) or "hybrid" (both, fused).
        where: metadata filter, e.g. {"category": "tech"} or {"year": {"$gte": 2005}}.
        space: the vector space for the dense side.
        alpha: hybrid only: weighted fusion of normalised scores, alpha * dense + (1 - alpha) * sparse;
            None uses reciprocal rank fusion with constant ``rrf_k``.
        rerank: a cross-encoder model reference or reranker object to reorder the top candidates.
        candidates: how many candidates each side contributes before fusion or reranking.
    Example:
        >>> collection.search("who won the match", k=3, mode="hybrid", where={"category": "sport"})
    """
    k = check_search_arguments(query, k, mode, alpha)
    collection.refresh()
    allowed = collection.store.filter_rowids(where, collection.view) if where else None
    if allowed is not None and allowed.size == 0:
        return []
    depth = max(check_k(candidates, "candidates") if candidates else 0, k, 50 if (mode == "hybrid" or rerank) else k)

    ranked: list[tuple[int, float]]
    if mode == "dense":
        ranked = _dense(collection, query, depth, space, allowed)
    elif mode == "sparse":
        ranked = _sparse(collection, query, depth, allowed)
    else:
        from ..fusion import reciprocal_rank_fusion, weighted_fusion

        dense = _dense(collection, query, depth, space, allowed)
        sparse = _sparse(collection, query, depth, allowed)
        if alpha is None:
            ranked = reciprocal_rank_fusion([[rowid for rowid, _ in dense], [rowid for rowid, _ in sparse]], k=rrf_k)
        else:
            ranked = weighted_fusion([dense, sparse], alpha)
    hits = _hits(collection, ranked)
    if rerank is not None and hits:
        hits = _rerank(query, hits, rerank)
    return hits[:k]


def search_vectors(collection: "Collection", vectors: np.ndarray, k: int, *, space: str = "text", where=None) -> list[list[Hit]]:
    """Top-k items for each ready-made query vector (same model as the space)."""
    k = check_k(k)
    collection.refresh()
    target = _space(collection, space)
    vectors = np.asarray(vectors, dtype=np.float32)
    target.check_query(vectors)
    allowed = collection.store.filter_rowids(where, collection.view) if where else None
    if allowed is not None and allowed.size == 0:
        return [[] for _ in range(len(vectors))]
    scores, rowids = target.index.search(vectors, k, allowed)
    return [
        _hits(collection, [(int(r), float(s)) for r, s in zip(row_ids, row_scores) if r >= 0])
        for row_scores, row_ids in zip(scores, rowids)
    ]


def _space(collection: "Collection", name: str):
    if name not in collection.spaces:
        raise InvalidInputError(f"no space {name!r} in this collection; spaces: {', '.join(collection.spaces)}")
    return collection.spaces[name]


def _dense(collection, query, depth, space, allowed) -> list[tuple[int, float]]:
    target = _space(collection, space)
    if len(target.index) == 0:
        return []
    encoder = collection.encoder(space)
    # Asymmetric encoders (DPR question/context, CLIP text/image) encode queries their own way.
    encode_query = getattr(encoder, "encode_queries", None) or encoder.encode
    vector = encode_query([query])
    target.check_query(vector)
    scores, rowids = target.index.search(vector, depth, allowed)
    return [(int(r), float(s)) for r, s in zip(rowids[0], scores[0]) if r >= 0]


def _sparse(collection, query, depth, allowed) -> list[tuple[int, float]]:
    sparse = load_sparse(collection)
    if sparse is None:
        return []
    scores, rowids = sparse.search(query, depth, allowed)
    return [(int(r), float(s)) for r, s in zip(np.ravel(rowids), np.ravel(scores)) if r >= 0]


def _hits(collection, ranked: list[tuple[int, float]]) -> list[Hit]:
    items = collection.store.by_rowids([rowid for rowid, _ in ranked])
    hits = []
    for rowid, score in ranked:
        item = items.get(rowid)
        if item is None:  # purged by a writer between our manifest read and this lookup
            continue
        hits.append(Hit(item.id, score, item.text, item.metadata, item.parent, item.start, item.end, item.kind))
    return hits


@functools.lru_cache(maxsize=4)
def _reranker(reference: str):
    from ..rerank import CrossEncoderReranker

    return CrossEncoderReranker(reference)


def _rerank(query: str, hits: list[Hit], rerank: Any) -> list[Hit]:
    reranker = _reranker(rerank) if isinstance(rerank, str) else rerank
    textual = [hit for hit in hits if hit.text]
    scores = reranker.rerank(query, [hit.text for hit in textual])
    for hit, score in zip(textual, scores):
        hit.score = float(score)
    return sorted(textual, key=lambda hit: -hit.score)
