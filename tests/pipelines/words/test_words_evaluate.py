"""Evaluation numbers must equal gensim's own evaluate_word_analogies / evaluate_word_pairs."""

from __future__ import annotations

import pytest

from densekit.errors import InvalidInputError
from densekit.pipelines.words import evaluate_analogies, evaluate_vectors
from densekit.pipelines.words.evaluate import gensim_data


@pytest.fixture(scope="module")
def report(trained):
    calls = []
    result = evaluate_vectors(trained.vectors, progress=lambda done, total: calls.append((done, total)))
    return result, calls


def test_analogy_numbers_equal_gensims_whole_file_call(trained, report):
    result, _ = report
    score, sections = trained.vectors.evaluate_word_analogies(gensim_data("questions-words.txt"))
    by_name = {section["section"]: section for section in sections}
    for row in result["analogies"]["sections"]:
        expected = by_name[row["section"]]
        assert row["correct"] == len(expected["correct"])
        assert row["total"] == len(expected["correct"]) + len(expected["incorrect"])
    assert result["analogies"]["total"]["accuracy"] == pytest.approx(score, abs=1e-12)
    assert result["analogies"]["questions"] == 19544
    assert result["analogies"]["total"]["total"] > 100  # the model can attempt a real share


def test_pair_correlations_equal_gensims(trained, report):
    result, _ = report
    for name, file in (("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")):
        pearson, spearman, oov = trained.vectors.evaluate_word_pairs(gensim_data(file))
        assert result[name]["spearman"] == pytest.approx(spearman.statistic, abs=1e-12)
        assert result[name]["pearson"] == pytest.approx(pearson.statistic, abs=1e-12)
        assert result[name]["oov_percent"] == pytest.approx(oov)
    assert result["wordsim353"]["pairs"] == 353 and result["simlex999"]["pairs"] == 999


def test_progress_counts_questions(report):
    _, calls = report
    assert calls[0] == (0, 19544) and calls[-1] == (19544, 19544)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_custom_analogy_file_and_errors(toy_vectors, tmp_path):
    path = tmp_path / "q.txt"
    path.write_text(": royals\nman king woman queen\nman woman king queen\n: fruit\napple pear banana kiwi\n")
    result = evaluate_analogies(toy_vectors, path)
    assert [row["section"] for row in result["sections"]] == ["royals", "fruit"]
    assert result["sections"][0]["correct"] == 2 and result["skipped"] == 1
    with pytest.raises(InvalidInputError, match="not found"):
        evaluate_analogies(toy_vectors, tmp_path / "missing.txt")
    (tmp_path / "bad.txt").write_text("man king woman queen\n")
    with pytest.raises(InvalidInputError, match="before the first"):
        evaluate_analogies(toy_vectors, tmp_path / "bad.txt")


def test_pairs_with_almost_no_known_words_give_no_correlation():
    import numpy as np

    from densekit.pipelines.words import from_arrays

    vectors = from_arrays(["quokka", "axolotl", "tiger"], np.eye(3, dtype=np.float32))
    result = evaluate_vectors(vectors, skip=("analogies",))
    assert result["wordsim353"]["spearman"] is None and result["wordsim353"]["oov_percent"] > 99  # only "tiger tiger" is known
    assert "analogies" not in result


@pytest.mark.slow
def test_batched_answers_equal_gensims_on_glove(glove, tmp_path):
    """Every 40th question of each section, on the packaged GloVe (400,000 words, first 300,000 used):
    the batched answers equal gensim's, except where two candidates tie to float rounding."""
    import numpy as np

    from densekit.pipelines.words.evaluate import answer_file, read_analogy_sections

    sample = tmp_path / "sample.txt"
    sample.write_text("".join(f": {name}\n" + "".join(lines[::40])
                              for name, lines in read_analogy_sections(gensim_data("questions-words.txt"))))
    _, sections = glove.evaluate_word_analogies(str(sample))
    expected = {question: True for section in sections[:-1] for question in section["correct"]}
    expected.update({question: False for section in sections[:-1] for question in section["incorrect"]})
    _, answered = answer_file(glove, sample)
    assert len(answered) == len(expected) > 400
    unit = glove.get_normed_vectors()
    for question in answered:
        key = (question.a, question.b, question.c, question.expected)
        if question.correct != expected[key]:  # allowed only for a near-tie between the two answers
            rows = [glove.key_to_index[word.lower()] for word in (question.a, question.b, question.c)]
            query = unit[rows[1]] + unit[rows[2]] - unit[rows[0]]
            scores = unit[[glove.key_to_index[question.predicted.lower()], glove.key_to_index[question.expected.lower()]]]
            gap = abs(float(np.diff(scores @ (query / np.linalg.norm(query)))[0]))
            assert gap < 1e-5, (key, question.predicted, gap)
