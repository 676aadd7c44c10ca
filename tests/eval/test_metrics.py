"""Metric functions against hand-worked values."""

import math

import numpy as np
import pytest

from densekit.errors import InvalidInputError
from densekit.eval.metrics import (
    exact_match,
    mrr_at_k,
    ndcg_at_k,
    normalize_answer,
    precision_at_k,
    recall_at_k,
    spearman,
    token_f1,
)

RANKED = ["d3", "d1", "d7", "d2", "d9"]


def test_recall_at_k():
    relevant = {"d1", "d2", "d8"}
    assert recall_at_k(RANKED, relevant, k=1) == 0.0
    assert recall_at_k(RANKED, relevant, k=2) == pytest.approx(1 / 3)
    assert recall_at_k(RANKED, relevant, k=5) == pytest.approx(2 / 3)
    assert recall_at_k(RANKED, relevant, k=50) == pytest.approx(2 / 3)  # fewer results than k


def test_precision_at_k_counts_missing_slots_as_misses():
    relevant = {"d1", "d2"}
    assert precision_at_k(RANKED, relevant, k=2) == 0.5
    assert precision_at_k(RANKED, relevant, k=4) == 0.5
    assert precision_at_k(RANKED, relevant, k=10) == 0.2


def test_mrr_at_k():
    assert mrr_at_k(RANKED, {"d7"}, k=5) == pytest.approx(1 / 3)
    assert mrr_at_k(RANKED, {"d7", "d1"}, k=5) == 0.5  # first relevant counts
    assert mrr_at_k(RANKED, {"d7"}, k=2) == 0.0  # beyond k
    assert mrr_at_k(RANKED, {"d3"}, k=1) == 1.0


def test_ndcg_at_k_binary():
    # Relevant at ranks 2 and 4: DCG = 1/log2(3) + 1/log2(5); ideal puts both first: 1 + 1/log2(3).
    relevant = {"d1", "d2"}
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(RANKED, relevant, k=5) == pytest.approx(expected)
    # k=2: only rank 2 counts; ideal for 2 relevant within k=2 is 1 + 1/log2(3).
    assert ndcg_at_k(RANKED, relevant, k=2) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["d1", "d2"], relevant, k=2) == pytest.approx(1.0)
    assert ndcg_at_k(RANKED, {"zz"}, k=5) == 0.0


def test_duplicates_in_a_ranking_count_once():
    assert recall_at_k(["a", "a"], {"a", "b"}, k=2) == 0.5
    assert precision_at_k(["a", "a"], {"a"}, k=2) == 0.5
    assert ndcg_at_k(["a", "a"], {"a"}, k=2) == pytest.approx(1.0)


def test_integer_ids_and_a_single_string_id():
    assert recall_at_k(np.array([4, 5, 6]), [5], k=2) == 1.0
    assert mrr_at_k(["abc", "x"], "x", k=2) == 0.5  # "x" is one id, not a set of characters


@pytest.mark.parametrize("function", [recall_at_k, precision_at_k, mrr_at_k, ndcg_at_k])
def test_retrieval_metrics_validate(function):
    with pytest.raises(InvalidInputError, match="k must be"):
        function(RANKED, {"d1"}, k=0)
    with pytest.raises(InvalidInputError, match="relevant"):
        function(RANKED, set(), k=3)


def test_normalize_answer_squad_rules():
    assert normalize_answer("The Beatles!") == "beatles"
    assert normalize_answer("  an   apple, a  day ") == "apple day"
    assert normalize_answer("Theatre") == "theatre"  # articles only as whole words
    assert normalize_answer("A.B.C.") == "abc"


def test_exact_match():
    assert exact_match("the Beatles", ["Beatles", "Fab Four"]) == 1.0
    assert exact_match("Beatles.", "the beatles") == 1.0
    assert exact_match("The Beatles band", ["Beatles"]) == 0.0
    with pytest.raises(InvalidInputError, match="at least one"):
        exact_match("x", [])


def test_token_f1():
    # prediction "john lennon" vs "lennon": precision 1/2, recall 1 -> F1 2/3.
    assert token_f1("John Lennon", "Lennon") == pytest.approx(2 / 3)
    # prediction "paul" shares nothing with "lennon" but matches the second answer exactly.
    assert token_f1("Paul", ["Lennon", "Paul"]) == 1.0
    # repeated tokens count by multiplicity: "a b b" -> "b b" (article dropped) vs "b c": overlap 1,
    # precision 1/2, recall 1/2 -> 0.5.
    assert token_f1("a b b", "b c") == pytest.approx(0.5)
    assert token_f1("the", "an") == 1.0  # both normalise to empty: SQuAD counts agreement
    assert token_f1("the", "Lennon") == 0.0


def test_spearman():
    assert spearman([0.1, 0.5, 0.3], [1, 5, 2]) == pytest.approx(1.0)
    assert spearman([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)
    # ranks (1,2,3,4) vs (2,1,4,3): d^2 sum = 4 -> 1 - 6*4/(4*15) = 0.6
    assert spearman([1, 2, 3, 4], [20, 10, 40, 30]) == pytest.approx(0.6)


def test_spearman_validates():
    with pytest.raises(InvalidInputError, match="same length"):
        spearman([1, 2], [1, 2, 3])
    with pytest.raises(InvalidInputError, match="at least 2"):
        spearman([1], [1])
    with pytest.raises(InvalidInputError, match="all equal"):
        spearman([1, 1, 1], [1, 2, 3])
    with pytest.raises(InvalidInputError, match="NaN"):
        spearman([1, float("nan")], [1, 2])
