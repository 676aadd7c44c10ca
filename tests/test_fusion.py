"""Fusion: hand-worked reciprocal rank fusion, weighted min-max fusion and probability fusion (the default)."""

import math

import pytest

from densekit.errors import InvalidInputError
from densekit.fusion import (
    DEFAULT_FUSION,
    dense_scale,
    fuse,
    min_max_normalize,
    probability_fusion,
    reciprocal_rank_fusion,
    softmax_scores,
    weighted_fusion,
)


def test_rrf_hand_worked_with_k_60():
    # a: 1/61 + 1/62; b: 1/62 + 1/61; c: 1/63; d: 1/63 -> a and b tie, first seen (a) first.
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "a", "d"]])
    assert [item for item, _ in fused] == ["a", "b", "c", "d"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[1][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2][1] == pytest.approx(1 / 63)
    assert fused[3][1] == pytest.approx(1 / 63)


def test_rrf_rewards_agreement_over_one_top_rank():
    # 2 is second in both lists; 1 is first in one list only: 1/3 + 1/3 > 1/2 + 0 with k=1.
    fused = reciprocal_rank_fusion([[1, 2], [3, 2]], k=1)
    assert fused == [(2, pytest.approx(2 / 3)), (1, pytest.approx(0.5)), (3, pytest.approx(0.5))]


def test_rrf_counts_a_repeated_id_once_per_list():
    assert reciprocal_rank_fusion([[5, 5, 6]], k=0) == [(5, 1.0), (6, pytest.approx(1 / 3))]


def test_rrf_empty_input_and_bad_k():
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []
    with pytest.raises(InvalidInputError, match="k must be"):
        reciprocal_rank_fusion([[1]], k=-1)
    with pytest.raises(InvalidInputError, match="string"):
        reciprocal_rank_fusion(["abc"])


def test_min_max_normalize():
    assert min_max_normalize({"a": 10.0, "b": 5.0, "c": 7.5}) == {"a": 1.0, "b": 0.0, "c": 0.5}
    assert min_max_normalize([("x", 3.0), ("y", 3.0)]) == {"x": 1.0, "y": 1.0}
    assert min_max_normalize([]) == {}


def test_weighted_fusion_hand_worked():
    dense = [(1, 0.9), (2, 0.7), (3, 0.5)]  # -> 1.0, 0.5, 0.0
    sparse = {3: 20.0, 4: 10.0, 2: 15.0}  # -> 3: 1.0, 2: 0.5, 4: 0.0
    fused = dict(weighted_fusion((dense, sparse), alpha=0.25))
    assert fused[1] == pytest.approx(0.25 * 1.0)
    assert fused[2] == pytest.approx(0.25 * 0.5 + 0.75 * 0.5)
    assert fused[3] == pytest.approx(0.75 * 1.0)
    assert fused[4] == pytest.approx(0.0)
    assert [item for item, _ in weighted_fusion((dense, sparse), alpha=0.25)] == [3, 2, 1, 4]


def test_weighted_fusion_extremes_follow_one_side():
    dense = [(1, 0.9), (2, 0.1)]
    sparse = [(2, 9.0), (1, 1.0)]
    assert [item for item, _ in weighted_fusion((dense, sparse), alpha=1.0)] == [1, 2]
    assert [item for item, _ in weighted_fusion((dense, sparse), alpha=0)] == [2, 1]


@pytest.mark.parametrize("alpha", [-0.1, 1.5, "0.5", True, float("nan")])
def test_weighted_fusion_rejects_bad_alpha(alpha):
    with pytest.raises(InvalidInputError, match="alpha"):
        weighted_fusion(([], []), alpha=alpha)


def test_weighted_fusion_needs_a_pair():
    with pytest.raises(InvalidInputError, match="pair"):
        weighted_fusion(([(1, 1.0)],), alpha=0.5)
    with pytest.raises(InvalidInputError, match="pairs"):
        weighted_fusion(([(1, 1.0, 2.0)], []), alpha=0.5)


def test_softmax_scores_hand_worked():
    probabilities = softmax_scores([("a", 2.0), ("b", 1.0), ("a", 0.0)], scale=1.0)
    assert probabilities["a"] == pytest.approx(math.e / (math.e + 1))  # a repeated id keeps its best score
    assert sum(probabilities.values()) == pytest.approx(1.0)
    assert softmax_scores({"x": 5.0, "y": 5.0}, scale=3.0) == {"x": 0.5, "y": 0.5}
    assert softmax_scores({"x": 9.0, "y": 1.0}, scale=0.0) == {"x": 0.5, "y": 0.5}
    assert softmax_scores([], scale=1.0) == {}
    # Huge BM25 scores do not overflow: the softmax is shifted by the top score.
    assert softmax_scores([("a", 1e6), ("b", 1e6 - 1)], scale=1.0)["a"] == pytest.approx(1 / (1 + math.exp(-1)))


def test_dense_scale_follows_the_best_cosine():
    assert dense_scale([("a", 0.5), ("b", 0.4)]) == pytest.approx(10.0)
    assert dense_scale({"a": 0.9}) == pytest.approx(18.0)
    assert dense_scale([("a", 1.3)]) == 20.0 and dense_scale([("a", -0.2)]) == 0.0 and dense_scale([]) == 0.0


def test_probability_fusion_hand_worked():
    dense = [("a", 0.9), ("b", 0.5)]
    sparse = [("c", 8.0), ("a", 7.5)]
    fused = dict(probability_fusion((dense, sparse)))
    scale = 20 * 0.9
    dense_a = 1 / (1 + math.exp(-scale * 0.4))
    sparse_c = 1 / (1 + math.exp(-0.5))
    assert fused["a"] == pytest.approx(0.5 * dense_a + 0.5 * (1 - sparse_c))
    assert fused["b"] == pytest.approx(0.5 * (1 - dense_a))
    assert fused["c"] == pytest.approx(0.5 * sparse_c)
    assert [item for item, _ in probability_fusion((dense, sparse))] == ["a", "c", "b"]
    assert sum(fused.values()) == pytest.approx(1.0)


def test_probability_fusion_lets_the_sure_side_decide():
    # Quoref-like: a question against passages; the dense side is flat (best cosine 0.45, gaps of
    # 0.02) and BM25 is sure (26 vs 14): BM25's pick wins even though dense ranks it third.
    dense = [("p1", 0.45), ("p2", 0.44), ("gold", 0.43)]
    sparse = [("gold", 26.0), ("p2", 14.0), ("p1", 12.0)]
    assert probability_fusion((dense, sparse))[0][0] == "gold"
    # Paraphrase-like: dense is sure (0.92 vs 0.60); BM25 hesitates (word overlap 9.1 vs 9.0).
    dense = [("gold", 0.92), ("other", 0.60)]
    sparse = [("other", 9.1), ("gold", 9.0)]
    assert probability_fusion((dense, sparse))[0][0] == "gold"
    # RRF ranks these two cases by ranks alone: a tie broken by list order, whatever the scores.
    assert reciprocal_rank_fusion([["gold", "other"], ["other", "gold"]])[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_probability_fusion_extremes_and_one_sided_lists():
    dense = [("a", 0.8), ("b", 0.6), ("c", 0.1)]
    sparse = [("c", 30.0), ("b", 20.0), ("d", 1.0)]
    assert [item for item, _ in probability_fusion((dense, sparse), dense_weight=1.0)][:3] == ["a", "b", "c"]
    assert [item for item, _ in probability_fusion((dense, sparse), dense_weight=0.0)][:3] == ["c", "b", "d"]
    only_sparse = probability_fusion(([], sparse))
    assert [item for item, _ in only_sparse] == ["c", "b", "d"]
    assert sum(score for _, score in only_sparse) == pytest.approx(0.5)
    assert probability_fusion(([], [])) == []


@pytest.mark.parametrize("arguments, message", [
    ({"score_lists": ([],)}, "must be a pair"),
    ({"score_lists": ([], []), "dense_weight": 1.5}, "dense_weight must be a number in"),
    ({"score_lists": ([], []), "scale": -1}, "scale must be a finite number"),
    ({"score_lists": ([("a", float("nan"))], [])}, "scores must be finite numbers, got nan for id 'a'"),
    ({"score_lists": ([], [("a", 1.0, 2.0)])}, "expected \\(id, score\\) pairs"),
])
def test_probability_fusion_rejects_bad_input(arguments, message):
    with pytest.raises(InvalidInputError, match=message):
        probability_fusion(**arguments)


def test_fuse_dispatches_and_keeps_alpha_and_rrf_semantics():
    dense = [(1, 0.9), (2, 0.7), (3, 0.5)]
    sparse = [(3, 20.0), (4, 10.0), (2, 15.0)]
    assert DEFAULT_FUSION == "probability"
    assert fuse(dense, sparse) == probability_fusion((dense, sparse))
    # alpha alone keeps its old meaning: weighted min-max fusion.
    assert fuse(dense, sparse, alpha=0.25) == weighted_fusion((dense, sparse), 0.25)
    assert fuse(dense, sparse, "rrf", rrf_k=10) == reciprocal_rank_fusion([[1, 2, 3], [3, 4, 2]], k=10)
    assert fuse(dense, sparse, "probability", alpha=1.0) == probability_fusion((dense, sparse), dense_weight=1.0)
    with pytest.raises(InvalidInputError, match="unknown fusion 'mean'; valid: probability, rrf, weighted"):
        fuse(dense, sparse, "mean")
    with pytest.raises(InvalidInputError, match="uses ranks only"):
        fuse(dense, sparse, "rrf", alpha=0.5)
    with pytest.raises(InvalidInputError, match="needs alpha"):
        fuse(dense, sparse, "weighted")


def test_explain_fusion_shows_each_side():
    from densekit.fusion import explain_fusion

    dense = [("a", 0.9), ("b", 0.5)]
    sparse = [("c", 8.0), ("a", 7.5)]
    explained = explain_fusion(dense, sparse)
    assert list(explained) == ["a", "c", "b"]
    assert explained["a"]["score"] == pytest.approx(dict(probability_fusion((dense, sparse)))["a"])
    assert explained["a"]["dense"]["rank"] == 1 and explained["a"]["sparse"]["rank"] == 2
    assert explained["a"]["sparse"]["score"] == 7.5
    assert explained["c"]["dense"] is None and explained["b"]["sparse"] is None
    parts = explained["a"]
    assert parts["score"] == pytest.approx(0.5 * parts["dense"]["probability"] + 0.5 * parts["sparse"]["probability"])


def test_fuse_passes_the_softmax_scales():
    dense = [(1, 0.9), (2, 0.7)]
    sparse = [(2, 0.08), (3, 0.02)]  # ts_rank-like scores: flat at BM25's scale
    assert fuse(dense, sparse) == probability_fusion((dense, sparse))
    assert fuse(dense, sparse, sparse_scale=100.0) == probability_fusion((dense, sparse), sparse_scale=100.0)
    assert fuse(dense, sparse, scale=5.0) == probability_fusion((dense, sparse), scale=5.0)
    assert fuse(dense, sparse, sparse_scale=100.0) != fuse(dense, sparse)


@pytest.mark.parametrize("fusion, alpha", [(None, None), ("probability", 0.7), ("rrf", None), ("weighted", 0.4), (None, 0.4)])
def test_explain_fuse_adds_up_to_what_fuse_returns(fusion, alpha):
    from densekit.fusion import explain_fuse

    dense = [(1, 0.9), (2, 0.7), (3, 0.5)]
    sparse = [(3, 20.0), (4, 10.0), (2, 8.0)]
    fused = fuse(dense, sparse, fusion, alpha=alpha, rrf_k=10)
    explained = explain_fuse(dense, sparse, fusion, alpha=alpha, rrf_k=10)
    assert [(item, parts["score"]) for item, parts in explained.items()] == fused
    for parts in explained.values():
        shares = [parts[side]["share"] for side in ("dense", "sparse") if parts[side] is not None]
        assert sum(shares) == pytest.approx(parts["score"])
    assert explained[2]["dense"]["rank"] == 2 and explained[2]["sparse"]["rank"] == 3
    assert explained[4]["dense"] is None and explained[1]["sparse"] is None
    assert explained[3]["sparse"]["score"] == 20.0
    if fusion == "rrf":
        assert explained[2]["sparse"]["share"] == pytest.approx(1 / 13)
    with pytest.raises(InvalidInputError, match="uses ranks only"):
        explain_fuse(dense, sparse, "rrf", alpha=0.5)
