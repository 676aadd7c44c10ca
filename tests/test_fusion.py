"""Fusion: hand-worked reciprocal rank fusion and weighted min-max fusion."""

import pytest

from densekit.errors import InvalidInputError
from densekit.fusion import min_max_normalize, reciprocal_rank_fusion, weighted_fusion


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
