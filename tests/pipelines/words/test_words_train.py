"""word2vec training on a real corpus (BBC News sport + business): neighbours, progress, files, errors."""

from __future__ import annotations

import pytest

from densekit.errors import InvalidInputError
from densekit.pipelines.words import similar_words, train_word2vec
from densekit.pipelines.words.train import output_paths

WEEKDAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
MONTHS = {"january", "february", "march", "april", "june", "july", "august", "september", "october", "november", "december"}


def test_weekdays_and_months_are_neighbours(trained):
    days = {word for word, _ in similar_words(trained.vectors, "tuesday", n=10)}
    assert len(days & WEEKDAYS) >= 3, days
    months = {word for word, _ in similar_words(trained.vectors, "january", n=10)}
    assert len(months & MONTHS) >= 2, months


def test_progress_is_monotonic_and_ends_at_the_total(trained):
    calls = trained.progress_calls
    done = [done for done, _ in calls]
    assert done == sorted(done)
    assert calls[0] == (0, None)
    final_done, final_total = calls[-1]
    # One vocabulary scan plus five epochs over the same tokens.
    assert final_done == final_total == trained.corpus_words * 6


def test_epoch_losses_are_reported(trained):
    assert [epoch for epoch, _ in trained.epoch_calls] == [1, 2, 3, 4, 5]
    assert all(loss > 0 for loss in trained.epoch_losses)
    summary = trained.summary()
    assert summary["architecture"] == "cbow" and summary["dimension"] == 50 and summary["epochs"] == 5


def test_all_three_files_are_written(trained):
    assert set(trained.files) == {"native", "text", "binary"}
    assert trained.files["text"].endswith("bbc.vec") and trained.files["binary"].endswith("bbc.bin")


def test_output_paths_keep_a_name_without_model_suffix(tmp_path):
    paths = output_paths(tmp_path / "news")
    assert paths["native"].name == "news" and paths["text"].name == "news.vec" and paths["binary"].name == "news.bin"


def test_skip_gram_with_phrases_joins_frequent_bigrams(tmp_path):
    # Many one-off words make "new york" stand out against a large vocabulary, as in real text.
    lines = [f"we flew to new york with a{i} b{i} c{i} d{i} e{i} f{i}" for i in range(200)]
    (tmp_path / "corpus.txt").write_text("\n".join(lines))
    result = train_word2vec([tmp_path], architecture="sg", dimension=10, epochs=1, min_count=2, phrases=True, workers=1)
    assert "new_york" in result.vectors.key_to_index
    assert result.architecture == "sg" and result.model.sg == 1


def test_bad_settings_are_named(tmp_path):
    (tmp_path / "tiny.txt").write_text("one two three\n")
    with pytest.raises(InvalidInputError, match="valid: sg, cbow"):
        train_word2vec([tmp_path], architecture="glove")
    with pytest.raises(InvalidInputError, match="epochs must be >= 1"):
        train_word2vec([tmp_path], epochs=0)
    with pytest.raises(InvalidInputError, match="min_count=5"):
        train_word2vec([tmp_path], min_count=5)
