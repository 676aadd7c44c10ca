"""Searching a collection, written once for every store: dense (per space), sparse or hybrid, with
metadata filters, fusion and reranking. A store answers four narrow hooks (``Collection``):
``_compile_filter``, ``_dense_candidates``, ``_sparse_candidates`` and ``_items_by_rowid``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInputError
from ..metadata import check_unicode
from .where import parse_where

if TYPE_CHECKING:
    from .base import Collection

MODES = ("dense", "sparse", "hybrid")
#: ``group``: None returns every matching item (chunks too); "parent" one hit per document.
GROUPS = (None, "parent")
#: What ``Collection._compile_filter`` returns for a filter no item can pass: the search stops there.
MATCHES_NOTHING = object()
#: Candidates each side contributes to a hybrid or reranked search (at least k); docs/retrieval.md.
FUSION_DEPTH = 100
#: Hits (documents, with ``group="parent"``) a reranker reads unless told otherwise (at least k): a
#: cross-encoder costs one model call per hit, so it reorders the head of the fused list, not all of it.
RERANK_DEPTH = 20

Ranked = list[tuple[int, float]]  # (rowid, score), best first


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
    #: What a result list shows: the document's title (metadata "title": a JSONL field, front matter or
    #: the first line), and the text around the query's words with their [start, end) spans in it.
    snippet: str = ""
    highlights: list[list[int]] = field(default_factory=list)
    #: With ``explain=True``: how the score came about (``densekit.fusion.explain_fuse``): the fusion,
    #: the fused score, and each side's raw score, rank and share; None otherwise.
    explain: dict[str, Any] | None = None

    @property
    def title(self) -> str | None:
        title = self.metadata.get("title")
        return title if isinstance(title, str) and title.strip() else None

    def as_dict(self) -> dict[str, Any]:
        """The one hit schema of the library, the CLI's --json and HTTP (keys are only ever added)."""
        data = {"id": self.id, "score": round(float(self.score), 6), "text": self.text, "metadata": self.metadata}
        if self.parent is not None:
            data.update(parent=self.parent, start=self.start, end=self.end)
        if self.kind != "text":
            data["kind"] = self.kind
        data.update(title=self.title, snippet=self.snippet, highlights=self.highlights)
        if self.explain is not None:
            data["explain"] = self.explain
        return data


def check_k(k: Any, name: str = "k") -> int:
    from ..limits import check_count  # 1..DENSEKIT_MAX_K (10,000): a huge k is an error, not a MemoryError

    return check_count(k, name)


def check_search_arguments(query: Any, k: Any, mode: Any, alpha: Any) -> int:
    """Validate a text search's arguments; returns k as an int."""
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
    group: str | None = None,
    fusion: str | None = None,
    explain: bool = False,
    rerank_depth: int | None = None,
) -> list[Hit]:
    """Top-k items for a text query (``Collection.search`` documents the options)."""
    k = check_search_arguments(query, k, mode, alpha)
    from ..fusion import FUSIONS

    if fusion is not None and fusion not in FUSIONS:
        raise InvalidInputError(f"unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")
    if fusion is None and alpha is None:
        fusion = collection.default_fusion
    if group not in GROUPS:
        raise InvalidInputError(f"unknown group {group!r}; valid: None (every item), {', '.join(repr(g) for g in GROUPS if g)}")
    conditions = parse_where(where)
    collection._ensure_current()
    if mode != "sparse":
        target = collection.space(space)
    compiled = collection._compile_filter(conditions)
    if compiled is MATCHES_NOTHING:
        return []
    reranked = max(k, check_k(rerank_depth, "rerank_depth") if rerank_depth is not None else RERANK_DEPTH)
    depth = max(check_k(candidates, "candidates") if candidates else 0, k, FUSION_DEPTH if (mode == "hybrid" or rerank) else k)
    vector = None
    if mode != "sparse":
        vector = collection.encode_queries([query], space)
        target.check_query(vector)
    wanted = reranked if rerank is not None else k
    while True:
        found: dict = {}
        with collection._reading():
            dense = collection._dense_candidates(vector, depth, space, compiled, found)[0] if vector is not None else []
            sparse = collection._sparse_candidates(query, depth, compiled, found) if mode != "dense" else []
            hits = head_hits(collection, _fuse(mode, dense, sparse, fusion, alpha, rrf_k), found, wanted, group,
                             _explain(mode, dense, sparse, fusion, alpha, rrf_k) if explain else None)
        if group is not None:
            # Deeper until k distinct documents are found, or a side came back short (nothing more to find).
            exhausted = len(dense) < depth and len(sparse) < depth
            if len(hits) < k and not exhausted:
                depth *= 4
                continue
        if rerank is not None and hits:
            hits = _rerank(collection, query, hits[:reranked], rerank)
        return with_snippets(hits[:k], query)


def with_snippets(hits: list[Hit], query: str | None) -> list[Hit]:
    from ..snippets import make_snippet

    for hit in hits:
        hit.snippet, hit.highlights = make_snippet(hit.text, query)
    return hits


def best_per_parent(hits: list[Hit]) -> list[Hit]:
    """One hit per document (an item's parent, or the item itself), the best-ranked chunk standing for it."""
    seen: set[str] = set()
    documents = []
    for hit in hits:
        key = hit.parent if hit.parent is not None else hit.id
        if key not in seen:
            seen.add(key)
            documents.append(hit)
    return documents


def _fuse(mode: str, dense: Ranked, sparse: Ranked, fusion: str | None, alpha: float | None, rrf_k: int) -> Ranked:
    if mode == "dense":
        return dense
    if mode == "sparse":
        return sparse
    from ..fusion import fuse

    return fuse(dense, sparse, fusion, alpha=alpha, rrf_k=rrf_k)


def _explain(mode: str, dense: Ranked, sparse: Ranked, fusion: str | None, alpha: float | None, rrf_k: int) -> dict:
    """Each candidate rowid's explanation: ``fusion.explain_fuse`` for hybrid; one side for dense or sparse."""
    if mode == "hybrid":
        from ..fusion import explain_fuse

        return explain_fuse(dense, sparse, fusion, alpha=alpha, rrf_k=rrf_k)
    ranked = dense if mode == "dense" else sparse
    return {rowid: {"fusion": None, "score": score, "dense": None, "sparse": None,
                    mode: {"score": score, "rank": rank, "share": score}}
            for rank, (rowid, score) in enumerate(ranked, start=1)}


def search_vectors(collection: "Collection", vectors: np.ndarray, k: int, *, space: str = "text", where=None) -> list[list[Hit]]:
    """Top-k items for each ready-made query vector (made by the space's model)."""
    k = check_k(k)
    conditions = parse_where(where)
    collection._ensure_current()
    target = collection.space(space)
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    target.check_query(vectors)
    if not np.isfinite(vectors).all():
        raise InvalidInputError("query vectors contain NaN or infinity")
    compiled = collection._compile_filter(conditions)
    if compiled is MATCHES_NOTHING:
        return [[] for _ in range(len(vectors))]
    found: dict = {}
    with collection._reading():
        ranked = collection._dense_candidates(vectors, k, space, compiled, found)
        return [with_snippets(to_hits(collection, row, found), None) for row in ranked]


def head_hits(collection: "Collection", ranked: Ranked, found: dict, wanted: int, group: str | None,
              explanations: dict | None = None) -> list[Hit]:
    """Hits for the head of a ranked list: items are fetched ``wanted`` rows at a time until ``wanted``
    hits (distinct documents when grouped) are in hand, not for every fused candidate (a hybrid search
    ranks up to 2 x FUSION_DEPTH rows and shows k of them)."""
    hits: list[Hit] = []
    for start in range(0, len(ranked), max(1, wanted)):
        hits += to_hits(collection, ranked[start:start + max(1, wanted)], found, explanations)
        if len(best_per_parent(hits) if group is not None else hits) >= wanted:
            break
    return best_per_parent(hits) if group is not None else hits


def to_hits(collection: "Collection", ranked: Ranked, found: dict, explanations: dict | None = None) -> list[Hit]:
    """Hits for ranked rowids; items a hook already fetched (``found``) are not fetched again.
    ``explanations`` (rowid -> dict) are attached to the hits as ``Hit.explain``."""
    missing = [rowid for rowid, _ in ranked if rowid not in found]
    if missing:
        found.update(collection._items_by_rowid(missing))
    hits = []
    for rowid, score in ranked:
        item = found.get(rowid)
        if item is None:  # purged by a writer between our snapshot and this lookup
            continue
        hits.append(Hit(item.id, score, item.text, item.metadata, item.parent, item.start, item.end, item.kind,
                        explain=None if explanations is None else explanations[rowid]))
    return hits


def _rerank(collection: "Collection", query: str, hits: list[Hit], rerank: Any) -> list[Hit]:
    reranker = collection.models.reranker(rerank) if isinstance(rerank, str) else rerank
    textual = [hit for hit in hits if hit.text]
    scores = reranker.rerank(query, [hit.text for hit in textual])
    for hit, score in zip(textual, scores):
        hit.score = float(score)
        if hit.explain is not None:  # the fused score stays in the explanation; the hit's is the reranker's
            hit.explain["rerank"] = hit.score
    return sorted(textual, key=lambda hit: -hit.score)
