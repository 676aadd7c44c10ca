"""Intrinsic evaluation of word vectors: Google analogies, WordSim-353 and SimLex-999.

The numbers follow gensim's rules (``evaluate_word_analogies`` / ``evaluate_word_pairs``), so they can be
compared with published gensim results. Word pairs are gensim's own call; analogies are answered
in batches with numpy (analogy_batch.py), many times faster than gensim's one-question loop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ...errors import InvalidInputError
from ...progress import ProgressCallback, report
from .analogy_batch import answer_analogies, restricted_vocabulary

ANALOGY_FILE = "questions-words.txt"
PAIR_FILES = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
# gensim's default: questions with a word outside the 300,000 most frequent are skipped.
RESTRICT_VOCAB = 300_000


def gensim_data(name: str) -> str:
    """Path of a file shipped in gensim's test data (the standard evaluation sets)."""
    from gensim.test.utils import datapath

    return datapath(name)


def read_analogy_sections(path: str | os.PathLike) -> list[tuple[str, list[str]]]:
    """The sections of an analogy file: [(name, [question lines])], in file order."""
    sections: list[tuple[str, list[str]]] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(": "):
                sections.append((line[2:].strip(), []))
            elif line.strip():
                if not sections:
                    raise InvalidInputError(f"{str(path)!r}: question before the first ': section' line")
                sections[-1][1].append(line)
    if not sections:
        raise InvalidInputError(f"{str(path)!r} holds no ': section' lines; expected the word2vec analogy format")
    return sections


@dataclass(frozen=True)
class AnsweredQuestion:
    """One analogy question ``a : b :: c : expected`` (upper-cased) and the predicted word."""

    section: str
    a: str
    b: str
    c: str
    expected: str
    predicted: str

    @property
    def correct(self) -> bool:
        return self.predicted == self.expected


def answer_file(
    vectors,
    path: str | os.PathLike | None = None,
    restrict_vocab: int = RESTRICT_VOCAB,
    progress: ProgressCallback | None = None,
) -> tuple[list[tuple[str, int]], list[AnsweredQuestion]]:
    """Answer every in-vocabulary question of an analogy file (gensim's rule, batched).

    Returns:
        ([(section, questions in the file)], [AnsweredQuestion for each question gensim would attempt])
    """
    path = str(path or gensim_data(ANALOGY_FILE))
    if not Path(path).is_file():
        raise InvalidInputError(f"analogy file {path!r} not found; expected the word2vec questions-words format")
    sections = read_analogy_sections(path)
    vocabulary = restricted_vocabulary(vectors, restrict_vocab)
    asked: list[tuple[str, str, str, str, str]] = []
    for name, lines in sections:
        for line in lines:
            words = [word.upper() for word in line.split()]
            # gensim skips malformed lines and questions with a word outside the restricted vocabulary.
            if len(words) == 4 and all(word in vocabulary.index_of for word in words):
                asked.append((name, *words))
    # Progress counts the file's questions; the skipped ones are done at once.
    total = sum(len(lines) for _, lines in sections)
    skipped = total - len(asked)
    report(progress, 0, total)
    predictions = answer_analogies(
        vocabulary,
        [question[1:4] for question in asked],
        None if progress is None else lambda done, _: progress(skipped + done, total),
    )
    answered = [AnsweredQuestion(*question, predicted) for question, predicted in zip(asked, predictions)]
    return [(name, len(lines)) for name, lines in sections], answered


def evaluate_analogies(
    vectors,
    path: str | os.PathLike | None = None,
    restrict_vocab: int = RESTRICT_VOCAB,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Analogy accuracy (3CosAdd, case-insensitive) per section and in total, as gensim computes it.

    Questions with a word outside the ``restrict_vocab`` most frequent words are skipped and
    counted in ``skipped``. The questions are answered in batches (analogy_batch.py), not one
    ``most_similar`` call each; the rule is gensim's ``evaluate_word_analogies``.

    Returns:
        {"sections": [{"section", "correct", "total", "accuracy"}...], "total": {...},
         "questions": int, "skipped": int}

    Example:
        >>> evaluate_analogies(load_vectors("glove-6b-50d"))["total"]["accuracy"]
    """
    sections, answered = answer_file(vectors, path, restrict_vocab, progress)
    questions = sum(count for _, count in sections)
    report(progress, questions, questions)
    rows = []
    for name, _ in sections:
        mine = [question for question in answered if question.section == name]
        rows.append(_accuracy_row(name, sum(question.correct for question in mine), len(mine)))
    correct = sum(row["correct"] for row in rows)
    attempted = sum(row["total"] for row in rows)
    return {
        "sections": rows,
        "total": _accuracy_row("total", correct, attempted),
        "questions": questions,
        "skipped": questions - attempted,
    }


def _accuracy_row(name: str, correct: int, total: int) -> dict[str, Any]:
    return {"section": name, "correct": correct, "total": total, "accuracy": correct / total if total else 0.0}


def evaluate_pairs(vectors, path: str | os.PathLike, restrict_vocab: int = RESTRICT_VOCAB) -> dict[str, Any]:
    """Correlation between cosine similarity and human scores on a word-pair file (gensim's method).

    Returns:
        {"spearman", "pearson", "pairs", "oov_percent"}; pairs with an unknown word are skipped, and
        the correlations are None when fewer than two pairs are left.
    """
    with open(path, encoding="utf-8") as handle:
        rows = [line.split("\t") for line in handle if line.strip() and not line.startswith("#")]
    pairs = len(rows)
    try:
        pearson, spearman, oov_percent = vectors.evaluate_word_pairs(str(path), restrict_vocab=restrict_vocab)
    except ValueError:
        # Fewer than two pairs in the vocabulary: no correlation exists (scipy refuses).
        known = {key.upper() for key in vectors.index_to_key[:restrict_vocab]}
        missing = sum(1 for row in rows if len(row) < 2 or not {row[0].upper(), row[1].upper()} <= known)
        return {"spearman": None, "pearson": None, "pairs": pairs, "oov_percent": 100.0 * missing / max(pairs, 1)}
    return {
        "spearman": float(spearman[0]),
        "pearson": float(pearson[0]),
        "pairs": pairs,
        "oov_percent": float(oov_percent),
    }


def evaluate_vectors(
    vectors,
    analogies: str | os.PathLike | None = None,
    pairs: dict[str, str | os.PathLike] | None = None,
    restrict_vocab: int = RESTRICT_VOCAB,
    progress: ProgressCallback | None = None,
    skip: Sequence[str] = (),
) -> dict[str, Any]:
    """Evaluate word vectors on the Google analogy set and on WordSim-353 and SimLex-999.

    Args:
        vectors: gensim KeyedVectors (see load_vectors).
        analogies: analogy file (default: gensim's questions-words.txt).
        pairs: {name: word-pair file} (default: gensim's wordsim353 and simlex999).
        restrict_vocab: only the most frequent words take part (gensim's default 300,000).
        progress: ``progress(questions_done, questions_total)`` during the analogy test.
        skip: parts to leave out: "analogies" and/or pair-set names.

    Returns:
        {"analogies": evaluate_analogies(...), "wordsim353": {...}, "simlex999": {...}}

    Example:
        >>> report = evaluate_vectors(load_vectors("glove-6b-50d"))
        >>> report["wordsim353"]["spearman"]
    """
    pair_files = pairs if pairs is not None else {name: gensim_data(file) for name, file in PAIR_FILES.items()}
    results: dict[str, Any] = {}
    if "analogies" not in skip:
        results["analogies"] = evaluate_analogies(vectors, analogies, restrict_vocab, progress)
    for name, path in pair_files.items():
        if name not in skip:
            if not Path(path).is_file():
                raise InvalidInputError(f"word-pair file {str(path)!r} for {name!r} not found")
            results[name] = evaluate_pairs(vectors, path, restrict_vocab)
    return results
