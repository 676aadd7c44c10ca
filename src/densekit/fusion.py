"""Merging ranked lists from several retrievers (dense + sparse) into one ranking.

Two standard ways: reciprocal rank fusion, which looks only at ranks and so needs no score
calibration, and a weighted sum of min-max normalised scores, which keeps how far apart hits are.
"""

from __future__ import annotations

from typing import Hashable, Iterable, Mapping, Sequence, Union

from .errors import InvalidInputError

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
