"""STS evaluation: logic with the hashing encoder; agreement with sentence-transformers on real data."""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from densekit.encoders.hashing import HashingEncoder
from densekit.errors import InvalidInputError
from densekit.eval.datasets import StsPair, load_sts
from densekit.eval.sts import cosine_scores, evaluate_sts

PAIRS = [
    StsPair("a cat sat on the mat", "a cat sat on a mat", 4.8),
    StsPair("a cat sat on the mat", "stock markets fell sharply", 0.2),
    StsPair("dogs bark at night", "dogs bark loudly at night", 4.0),
    StsPair("the sun is hot", "rain falls in spring", 0.5),
    StsPair("men play football", "men are playing football", 4.5),
]


class CountingEncoder(HashingEncoder):
    def __init__(self):
        super().__init__(32)
        self.seen: list[str] = []

    def encode_batch(self, texts):
        self.seen.extend(texts)
        return super().encode_batch(texts)


def test_matches_a_direct_computation():
    encoder = HashingEncoder(32)
    first = encoder.encode([pair.sentence1 for pair in PAIRS])
    second = encoder.encode([pair.sentence2 for pair in PAIRS])
    cosine = (first * second).sum(axis=1)
    gold = [pair.score for pair in PAIRS]
    result = evaluate_sts(encoder, PAIRS)
    assert result.pairs == 5 and result.model == "hashing:32"
    assert result.spearman == pytest.approx(100 * spearmanr(cosine, gold).statistic, abs=1e-4)
    assert result.pearson == pytest.approx(100 * pearsonr(cosine, gold).statistic, abs=1e-4)
    np.testing.assert_allclose(cosine_scores(encoder, PAIRS), cosine, atol=1e-6)


def test_each_distinct_sentence_is_encoded_once_and_progress_counts_them():
    encoder = CountingEncoder()
    calls = []
    evaluate_sts(encoder, PAIRS, batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert sorted(encoder.seen) == sorted({text for pair in PAIRS for text in (pair.sentence1, pair.sentence2)})
    assert calls[0] == (0, 9) and calls[-1] == (9, 9)


def test_needs_two_pairs():
    with pytest.raises(InvalidInputError, match="at least 2"):
        evaluate_sts(HashingEncoder(8), PAIRS[:1])


@pytest.mark.slow
def test_agrees_with_sentence_transformers_evaluator(minilm_encoder, shared_data):
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    pairs = load_sts(shared_data / "stsb" / "sts-dev.csv", strict=True).items[::7][:200]  # spread over genres
    encoder = minilm_encoder
    ours = evaluate_sts(encoder, pairs)
    evaluator = EmbeddingSimilarityEvaluator(
        [pair.sentence1 for pair in pairs], [pair.sentence2 for pair in pairs], [pair.score for pair in pairs],
        main_similarity="cosine", write_csv=False,
    )
    theirs = evaluator(encoder.model)
    assert ours.pairs == 200
    assert ours.spearman == pytest.approx(100 * theirs["spearman_cosine"], abs=0.1)
    assert ours.pearson == pytest.approx(100 * theirs["pearson_cosine"], abs=0.1)
    assert ours.spearman > 70  # a real model, not noise: MiniLM scores ~87 on the full dev set
