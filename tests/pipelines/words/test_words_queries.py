"""Neighbours, analogies (any number of terms, inputs excluded), odd one out, unknown-word errors."""

from __future__ import annotations

import pytest

from densekit.errors import InvalidInputError
from densekit.pipelines.words import analogy, odd_one_out, parse_expression, similar_words


def test_analogy_lands_on_the_exact_answer_and_excludes_inputs(toy_vectors):
    answers = analogy(toy_vectors, positive=["king", "woman"], negative=["man"], n=3)
    assert answers[0][0] == "queen"
    assert answers[0][1] > 0.9
    assert not {"king", "woman", "man"} & {word for word, _ in answers}


def test_analogy_with_several_terms_and_case_folding(toy_vectors):
    # king - man + woman - queen + apple: royalty and sex cancel, fruit is left.
    answers = analogy(toy_vectors, positive=["King", "woman", "apple"], negative=["man", "queen"], n=2)
    assert {word for word, _ in answers} == {"pear", "banana"}


def test_parse_expression_accepts_spaced_and_joined_forms():
    assert parse_expression(["king", "-", "man", "+", "woman"]) == (["king", "woman"], ["man"])
    assert parse_expression("paris-france+italy") == (["paris", "italy"], ["france"])
    assert parse_expression("- man + king") == (["king"], ["man"])
    assert parse_expression("new-york - city") == (["new-york"], ["city"])
    for bad in ("king - - man", "king +", "+", "- man"):
        with pytest.raises(InvalidInputError, match="king - man \\+ woman"):
            parse_expression(bad)


def test_similar_words_excludes_the_word_and_sorts_by_score(toy_vectors):
    neighbours = similar_words(toy_vectors, "apple", n=3)
    assert [word for word, _ in neighbours][:2] in (["pear", "banana"], ["banana", "pear"])
    scores = [score for _, score in neighbours]
    assert scores == sorted(scores, reverse=True)
    with pytest.raises(InvalidInputError, match="n must be >= 1"):
        similar_words(toy_vectors, "apple", n=0)


def test_odd_one_out_picks_the_word_furthest_from_the_mean(toy_vectors):
    result = odd_one_out(toy_vectors, ["apple", "pear", "banana", "king"])
    assert result["odd"] == "king"
    assert list(result["similarity_to_mean"])[-1] == "king"
    assert result["odd"] == toy_vectors.doesnt_match(["apple", "pear", "banana", "king"])
    with pytest.raises(InvalidInputError, match="at least 3 words"):
        odd_one_out(toy_vectors, ["apple", "pear"])


def test_unknown_words_are_all_named_with_suggestions(toy_vectors):
    with pytest.raises(InvalidInputError) as error:
        analogy(toy_vectors, positive=["kingg", "woman"], negative=["mann"])
    message = str(error.value)
    assert "'kingg' (did you mean: king" in message and "'mann' (did you mean: man" in message
    with pytest.raises(InvalidInputError, match="not in the vocabulary: 'zzzz'$"):
        similar_words(toy_vectors, "zzzz")


def test_trained_model_suggests_spellings(trained):
    with pytest.raises(InvalidInputError, match="did you mean: .*football"):
        similar_words(trained.vectors, "footbal")


@pytest.mark.slow
def test_packaged_glove_solves_the_classic_analogies(glove):
    assert analogy(glove, ["king", "woman"], ["man"], n=1)[0][0] == "queen"
    assert analogy(glove, ["paris", "italy"], ["france"], n=1)[0][0] == "rome"
    assert odd_one_out(glove, ["breakfast", "cereal", "dinner", "lunch"])["odd"] == "cereal"
    assert "toad" in {word for word, _ in similar_words(glove, "frog", n=5)}
