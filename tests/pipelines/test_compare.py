"""Sparse vs dense comparison: word-count logic with the hashing encoder, the issue's cases with MiniLM."""

import pytest

from densekit.encoders.hashing import HashingEncoder
from densekit.errors import InvalidInputError
from densekit.pipelines.compare import bag_of_words_cosine, compare_texts, words

GIRAFFE = ("Bill ran from the giraffe towards the dolphin", "Bill ran from the dolphin towards the giraffe")
BEES = ("The bees decided to have a mutiny against their queen",
        "Flying stinging insects rebelled in opposition to the matriarch")
GREETINGS = ["hi", "hello", "hey"]


def test_bag_of_words_cosine_hand_worked():
    # counts a=2,b=1 vs a=1,c=1: dot 2, norms sqrt(5) and sqrt(2) -> 2/sqrt(10)
    assert bag_of_words_cosine(["a", "a", "b"], ["a", "c"]) == pytest.approx(2 / 10 ** 0.5)
    assert bag_of_words_cosine(["x", "y"], ["y", "x"]) == 1.0
    assert bag_of_words_cosine([], ["x"]) == 0.0
    assert words("Don't STOP, 2 go!") == ["don", "t", "stop", "2", "go"]


def test_word_view_of_the_issue_examples():
    encoder = HashingEncoder(16)
    swapped = compare_texts(*GIRAFFE, encoder)
    assert swapped.bag_of_words == 1.0 and swapped.content_words == 1.0
    assert swapped.shared_words == ["bill", "dolphin", "from", "giraffe", "ran", "the", "towards"]
    assert swapped.shared_content_words == ["bill", "dolphin", "from", "giraffe", "ran", "towards"]
    bees = compare_texts(*BEES, encoder)
    assert bees.shared_words == ["the", "to"]
    # "the" and "to" once each; 10 and 9 distinct words: 2 / (sqrt(10) * 3)
    assert bees.bag_of_words == pytest.approx(0.2108, abs=1e-4)
    assert bees.content_words == 0.0 and bees.shared_content_words == []
    result = compare_texts("hi", "hello", encoder)
    assert result.bag_of_words == 0.0 and result.as_dict()["model"] == "hashing:16"


@pytest.mark.parametrize("pair", [("", "x"), ("x", "   ")])
def test_empty_text_is_an_error(pair):
    with pytest.raises(InvalidInputError, match="text_"):
        compare_texts(*pair, HashingEncoder(8))


@pytest.mark.slow
def test_word_order_is_invisible_to_words_but_not_to_the_encoder(minilm_encoder):
    result = compare_texts(*GIRAFFE, minilm_encoder)
    assert result.bag_of_words == 1.0
    assert 0.9 < result.dense < 0.9999  # similar, not identical


@pytest.mark.slow
def test_greetings_share_no_word_but_are_close_in_meaning(minilm_encoder):
    for first in range(3):
        for second in range(first + 1, 3):
            result = compare_texts(GREETINGS[first], GREETINGS[second], minilm_encoder)
            assert result.bag_of_words == 0.0
            assert result.dense > 0.5  # measured 0.70-0.81 with MiniLM


@pytest.mark.slow
def test_paraphrase_without_shared_content_words(minilm_encoder):
    result = compare_texts(*BEES, minilm_encoder)
    assert result.content_words == 0.0
    assert result.dense == pytest.approx(0.44, abs=0.03)  # shared/MODELS.md: 0.439 (mpnet 0.608)
    unrelated = compare_texts(BEES[0], "The stock market closed higher on Friday", minilm_encoder)
    assert result.dense > unrelated.dense + 0.2


def test_compare_many_pairs_equal_compare_texts():
    from densekit.pipelines.compare import compare_many

    encoder = HashingEncoder(16)
    texts = [GIRAFFE[0], GIRAFFE[1], BEES[0]]
    result = compare_many(texts, encoder)
    assert len(result.pairs) == 3
    for pair in result.pairs:
        alone = compare_texts(pair.text_a, pair.text_b, encoder)
        assert pair.bag_of_words == alone.bag_of_words and pair.shared_words == alone.shared_words
        assert pair.dense == pytest.approx(alone.dense, abs=1e-6)
    assert result.matrices["bag_of_words"][0][2] == pytest.approx(result.pairs[1].bag_of_words)
    with pytest.raises(InvalidInputError, match="text 3"):
        compare_many(["a", "b", " "], encoder)
