"""Merging ranked lists from several retrievers (dense + sparse) into one ranking.

Three ways:
- ``probability_fusion`` (the hybrid default, chosen by measurement: docs/retrieval.md): each side's
  scores become a probability distribution over its candidates (a softmax at the side's natural
  scale), and the two distributions are averaged. A side that is sure of its best candidate (a
  peaked distribution) decides; a side that is unsure (a flat one) defers. It adapts per query to
  the two score distributions and to nothing else.
- reciprocal rank fusion, which looks only at ranks and so needs no score calibration;
- a weighted sum of min-max normalised scores (``alpha``), which keeps how far apart hits are.
"""

from __future__ import annotations

import math
from typing import Hashable, Iterable, Mapping, Sequence, Union

from .errors import InvalidInputError

#: The fusion a hybrid search uses unless told otherwise, and every fusion it can be told.
DEFAULT_FUSION = "probability"
FUSIONS = ("probability", "rrf", "weighted")
#: Softmax scale of cosine similarities: all-MiniLM-L6-v2 and all-mpnet-base-v2 were trained with a
#: cross-entropy over in-batch cosines x 20 (their training script's default, and that of
#: sentence-transformers' MultipleNegativesRankingLoss), so softmax(20 * cosine) is the distribution
#: such a model was taught to produce over candidates.
DENSE_SCALE = 20.0
#: BM25 scores are sums of log-odds term weights, so they enter the softmax unscaled.
SPARSE_SCALE = 1.0

ScoreList = Union[Sequence[tuple[Hashable, float]], Mapping[Hashable, float]]


def _sorted_items(scores: dict) -> list[tuple]:
    # Python's sort is stable: equal scores keep first-seen order, so results are deterministic.
    return sorted(scores.items(), key=lambda item: -item[1])


def reciprocal_rank_fusion(ranked_lists: Iterable[Sequence[Hashable]], k: int = 60) -> list[tuple[Hashable, float]]:
    """Fuse rankings: each id scores the sum over lists of 1 / (k + rank), rank starting at 1.

    Args:
        ranked_lists: one sequence of ids per retriever, best first. An id repeated within one
            list counts at its best rank only.
        k: damping constant (60 in Cormack et al. 2009); larger k flattens the top ranks' advantage.
    Returns:
        [(id, score)], best first; ties keep the order in which ids were first seen.

    Example:
        >>> reciprocal_rank_fusion([[1, 2], [2, 3]], k=1)
        [(2, 0.8333333333333333), (1, 0.5), (3, 0.3333333333333333)]
    """
    if isinstance(k, bool) or not isinstance(k, (int, float)) or k < 0:
        raise InvalidInputError(f"k must be a number >= 0, got {k!r}")
    scores: dict = {}
    for ranking in ranked_lists:
        if isinstance(ranking, (str, bytes)):
            raise InvalidInputError(f"each ranked list must be a sequence of ids, got the string {ranking!r}")
        seen = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return _sorted_items(scores)


def min_max_normalize(scores: ScoreList) -> dict:
    """Rescale scores to [0, 1]: best -> 1, worst -> 0; when all are equal, every one -> 1.

    Example:
        >>> min_max_normalize([("a", 3.0), ("b", 1.0), ("c", 2.0)])
        {'a': 1.0, 'b': 0.0, 'c': 0.5}
    """
    pairs = list(scores.items()) if isinstance(scores, Mapping) else [tuple(pair) for pair in scores]
    for pair in pairs:
        if len(pair) != 2:
            raise InvalidInputError(f"expected (id, score) pairs, got {pair!r}")
    if not pairs:
        return {}
    values = [float(score) for _, score in pairs]
    low, high = min(values), max(values)
    # All-equal scores carry no ranking information; every hit was still found, so count it fully.
    span = high - low
    return {item: (1.0 if span == 0 else (float(score) - low) / span) for item, score in pairs}


def weighted_fusion(score_lists: Sequence[ScoreList], alpha: float) -> list[tuple[Hashable, float]]:
    """Fuse (dense, sparse) scores: alpha * dense + (1 - alpha) * sparse after min-max normalising each.

    An id missing from one list gets 0 from that list.

    Args:
        score_lists: a pair (dense, sparse); each a sequence of (id, score) pairs or a mapping id -> score.
        alpha: weight of the dense side, in [0, 1]; 1 is dense only, 0 is sparse only.
    Returns:
        [(id, fused score)], best first; ties keep first-seen order (dense list first).

    Example:
        >>> weighted_fusion(([(1, 0.9), (2, 0.5)], [(2, 12.0), (3, 4.0)]), alpha=0.5)
        [(1, 0.5), (2, 0.5), (3, 0.0)]
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise InvalidInputError(f"alpha must be a number in [0, 1] (1 = dense only, 0 = sparse only), got {alpha!r}")
    lists = list(score_lists)
    if len(lists) != 2:
        raise InvalidInputError(f"score_lists must be a pair (dense, sparse), got {len(lists)} lists")
    dense, sparse = (min_max_normalize(scores) for scores in lists)
    fused: dict = {}
    for item, score in dense.items():
        fused[item] = alpha * score
    for item, score in sparse.items():
        fused[item] = fused.get(item, 0.0) + (1.0 - alpha) * score
    return _sorted_items(fused)


def _pairs(scores: ScoreList, name: str) -> list[tuple[Hashable, float]]:
    pairs = list(scores.items()) if isinstance(scores, Mapping) else [tuple(pair) for pair in scores]
    checked = []
    for pair in pairs:
        if len(pair) != 2:
            raise InvalidInputError(f"{name}: expected (id, score) pairs, got {pair!r}")
        value = pair[1]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidInputError(f"{name}: scores must be finite numbers, got {value!r} for id {pair[0]!r}")
        checked.append((pair[0], float(value)))
    return checked


def softmax_scores(scores: ScoreList, scale: float) -> dict:
    """Scores as probabilities: exp(scale * score), divided by their sum (an id repeated keeps its best).

    Example:
        >>> softmax_scores([("a", 2.0), ("b", 1.0)], scale=1.0)
        {'a': 0.7310585786300049, 'b': 0.2689414213699951}
    """
    best: dict = {}
    for item, value in _pairs(scores, "scores"):
        if item not in best or value > best[item]:
            best[item] = value
    if not best:
        return {}
    top = max(best.values())
    # Shifted by the top score so exp never overflows; the shift cancels in the division.
    weights = {item: math.exp(scale * (value - top)) for item, value in best.items()}
    total = sum(weights.values())
    return {item: weight / total for item, weight in weights.items()}


def dense_scale(dense: ScoreList, scale: float = DENSE_SCALE) -> float:
    """The softmax scale for one query's cosine scores: ``scale`` x the best cosine (clipped to [0, 1]).

    A sentence model was trained on paraphrase-like pairs; when even its best candidate has a low
    cosine (a short question against long passages scores about 0.5), it is outside that regime and
    its small differences say less, so its distribution is flattened in proportion.

    Example:
        >>> dense_scale([("a", 0.5), ("b", 0.4)])
        10.0
    """
    values = [value for _, value in _pairs(dense, "dense")]
    if not values:
        return 0.0
    return scale * min(1.0, max(0.0, max(values)))


def probability_fusion(
    score_lists: Sequence[ScoreList],
    dense_weight: float = 0.5,
    scale: float = DENSE_SCALE,
    sparse_scale: float = SPARSE_SCALE,
) -> list[tuple[Hashable, float]]:
    """Fuse (dense cosine, sparse BM25) scores by averaging the two sides' candidate probabilities.

    p_dense = softmax(s * cosine) with s = ``scale`` x the query's best cosine (``dense_scale``);
    p_sparse = softmax(``sparse_scale`` x BM25); fused = w * p_dense + (1 - w) * p_sparse with
    w = ``dense_weight``. An id missing from one list gets 0 from that side (its probability
    there is below that of every listed candidate). Fused scores lie in [0, 1] and sum to 1.

    Args:
        score_lists: a pair (dense, sparse); each a sequence of (id, score) pairs or a mapping
            id -> score. Dense scores must be cosine similarities (normalised vectors).
        dense_weight: weight of the dense side in [0, 1]; 1 follows dense only, 0 sparse only.
        scale, sparse_scale: softmax scales (defaults: ``DENSE_SCALE``, ``SPARSE_SCALE``).
    Returns:
        [(id, fused score)], best first; ties keep first-seen order (dense list first).

    Example:
        >>> # BM25 hesitates between c and a (8.0 vs 7.5); the dense side is sure of a (0.9 vs 0.5).
        >>> [item for item, _ in probability_fusion(([("a", 0.9), ("b", 0.5)], [("c", 8.0), ("a", 7.5)]))]
        ['a', 'c', 'b']
    """
    lists = list(score_lists)
    if len(lists) != 2:
        raise InvalidInputError(f"score_lists must be a pair (dense, sparse), got {len(lists)} lists")
    if isinstance(dense_weight, bool) or not isinstance(dense_weight, (int, float)) or not 0.0 <= dense_weight <= 1.0:
        raise InvalidInputError(f"dense_weight must be a number in [0, 1] (1 = dense only, 0 = sparse only), got {dense_weight!r}")
    for name, value in (("scale", scale), ("sparse_scale", sparse_scale)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}")
    dense_list, sparse_list = lists
    dense = softmax_scores(dense_list, dense_scale(dense_list, scale))
    sparse = softmax_scores(sparse_list, sparse_scale)
    fused: dict = {}
    for item, probability in dense.items():
        fused[item] = dense_weight * probability
    for item, probability in sparse.items():
        fused[item] = fused.get(item, 0.0) + (1.0 - dense_weight) * probability
    return _sorted_items(fused)


def fuse(
    dense: ScoreList,
    sparse: ScoreList,
    fusion: str | None = None,
    *,
    alpha: float | None = None,
    rrf_k: int = 60,
    scale: float = DENSE_SCALE,
    sparse_scale: float = SPARSE_SCALE,
) -> list[tuple[Hashable, float]]:
    """One hybrid ranking from a query's dense and sparse candidates: the single entry point for stores.

    Args:
        dense: (id, cosine) pairs, best first (or a mapping).
        sparse: (id, BM25 score) pairs, best first (or a mapping).
        fusion: "probability" (``probability_fusion``), "rrf" (``reciprocal_rank_fusion``) or
            "weighted" (``weighted_fusion``). None: "weighted" when ``alpha`` is given (its meaning
            since the first release), else ``DEFAULT_FUSION``.
        alpha: weight of the dense side in [0, 1]: the min-max weight for "weighted", the mixture
            weight for "probability" (default 0.5); "rrf" refuses it.
        rrf_k: the RRF damping constant (only for "rrf").
        scale, sparse_scale: softmax scales for "probability" (see ``probability_fusion``). The
            defaults suit cosine similarities and BM25 scores; a sparse side with other scores
            (e.g. PostgreSQL's ts_rank, about 0 to 0.1) needs its own scale, or "rrf".
    Returns:
        [(id, fused score)], best first.

    Example:
        >>> [item for item, _ in fuse([(1, 0.9), (2, 0.4)], [(2, 11.0), (3, 10.5)])]
        [1, 2, 3]
        >>> [item for item, _ in fuse([(1, 0.9), (2, 0.4)], [(2, 11.0), (3, 10.5)], "rrf")]
        [2, 1, 3]
    """
    chosen = fusion if fusion is not None else ("weighted" if alpha is not None else DEFAULT_FUSION)
    if chosen not in FUSIONS:
        raise InvalidInputError(f"unknown fusion {chosen!r}; valid: {', '.join(FUSIONS)}")
    if chosen == "rrf":
        if alpha is not None:
            raise InvalidInputError("alpha weights scores; reciprocal rank fusion ('rrf') uses ranks only: drop one")
        return reciprocal_rank_fusion([[item for item, _ in _pairs(dense, "dense")],
                                       [item for item, _ in _pairs(sparse, "sparse")]], k=rrf_k)
    if chosen == "weighted":
        if alpha is None:
            raise InvalidInputError("fusion 'weighted' needs alpha, the dense weight in [0, 1]")
        return weighted_fusion([dense, sparse], alpha)
    return probability_fusion([dense, sparse], dense_weight=0.5 if alpha is None else alpha,
                              scale=scale, sparse_scale=sparse_scale)


def explain_fusion(dense: ScoreList, sparse: ScoreList, dense_weight: float = 0.5) -> dict:
    """Each id's part in ``probability_fusion``: per side its raw score, rank (1-based) and probability.

    Returns:
        {id: {"score", "dense": {"score", "rank", "probability"} or None, "sparse": {...} or None}},
        in fused order; "score" is the fused score, None marks a side that did not find the id.

    Example:
        >>> explain_fusion([("a", 0.9)], [("a", 7.5), ("c", 8.0)])["a"]["sparse"]["rank"]
        2
    """
    dense_pairs, sparse_pairs = _pairs(dense, "dense"), _pairs(sparse, "sparse")
    probabilities = (softmax_scores(dense_pairs, dense_scale(dense_pairs)), softmax_scores(sparse_pairs, SPARSE_SCALE))
    sides = {}
    for name, pairs, probability in (("dense", dense_pairs, probabilities[0]), ("sparse", sparse_pairs, probabilities[1])):
        found: dict = {}
        for item, value in sorted(pairs, key=lambda pair: -pair[1]):
            if item not in found:
                found[item] = {"score": value, "rank": len(found) + 1, "probability": probability[item]}
        sides[name] = found
    return {item: {"score": score, "dense": sides["dense"].get(item), "sparse": sides["sparse"].get(item)}
            for item, score in probability_fusion((dense_pairs, sparse_pairs), dense_weight=dense_weight)}


def explain_fuse(
    dense: ScoreList,
    sparse: ScoreList,
    fusion: str | None = None,
    *,
    alpha: float | None = None,
    rrf_k: int = 60,
) -> dict:
    """What ``fuse`` did for each id, with the same arguments: the fused score and each side's part.

    Returns:
        {id: {"fusion", "score", "dense", "sparse"}} in fused order. "score" is the fused score (what
        ``fuse`` returns); each side is None where it did not find the id, else {"score" (its raw score),
        "rank" (1-based, within that side's candidates, best first), "share" (its part of the fused score: the
        shares of the two sides add up to "score")}, plus "probability" for probability fusion.

    Example:
        >>> explained = explain_fuse([(1, 0.9)], [(2, 8.0), (1, 7.5)], "rrf", rrf_k=1)
        >>> explained[1]["score"], explained[1]["dense"]["share"], explained[1]["sparse"]["rank"]
        (0.8333333333333333, 0.5, 2)
    """
    chosen = fusion if fusion is not None else ("weighted" if alpha is not None else DEFAULT_FUSION)
    fused = fuse(dense, sparse, chosen, alpha=alpha, rrf_k=rrf_k)  # validates the arguments as search does
    if chosen == "probability":
        weight = 0.5 if alpha is None else alpha
        parts = explain_fusion(dense, sparse, dense_weight=weight)
        for part in parts.values():
            for side, side_weight in (("dense", weight), ("sparse", 1.0 - weight)):
                if part[side] is not None:
                    part[side]["share"] = side_weight * part[side]["probability"]
        return {item: {"fusion": chosen, **parts[item]} for item, _ in fused}
    sides = {}
    for name, pairs in (("dense", _pairs(dense, "dense")), ("sparse", _pairs(sparse, "sparse"))):
        normalised = min_max_normalize(pairs) if chosen == "weighted" else {}
        side_weight = (alpha if name == "dense" else 1.0 - alpha) if chosen == "weighted" else 1.0
        found: dict = {}
        for item, value in pairs:  # in list order: rrf ranks by position, as reciprocal_rank_fusion does
            if item in found:
                continue
            rank = len(found) + 1
            share = side_weight * normalised[item] if chosen == "weighted" else 1.0 / (rrf_k + rank)
            found[item] = {"score": value, "rank": rank, "share": share}
        sides[name] = found
    return {item: {"fusion": chosen, "score": score, "dense": sides["dense"].get(item), "sparse": sides["sparse"].get(item)}
            for item, score in fused}
