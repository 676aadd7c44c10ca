"""Batched analogy answering: gensim's ``evaluate_word_analogies`` rule, one matrix product per batch.

gensim answers each question with its own ``most_similar`` call (a Python loop over 19,544
questions, each a pass over 300,000 vectors). The rule is reproduced here exactly, but many
questions share one (batch x vocabulary) product:

- the vocabulary is the first ``restrict_vocab`` words; lookups are case-insensitive, and an
  upper-cased word maps to its most frequent spelling (gensim's ``ok_vocab``);
- the query is the unit vector of ``unit(b) + unit(c) - unit(a)``; candidates are ranked by
  ``vectors[i] . query / norm[i]``;
- the three question words' rows are excluded, the best 5 remain, and the answer is the first of
  them whose upper-cased form is none of the question words.

Float rounding differs from gensim's per-question ``dot``, so a near-tie can break the other way;
``compare_with_gensim`` in benchmarks/words_evaluate.py lists such questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...progress import ProgressCallback, report

# Questions per matrix product: a (128 x 300,000) float32 block is 150 MB.
BATCH = 128
_CANDIDATES = 5  # gensim's topn in evaluate_word_analogies


@dataclass(frozen=True)
class Vocabulary:
    """The restricted, case-insensitive vocabulary gensim evaluates analogies over."""

    unit: np.ndarray  # (size, dim) float32, rows divided by their norms
    upper: list[str]  # upper-cased word of each row
    index_of: dict[str, int]  # upper-cased word -> row of its most frequent spelling


def restricted_vocabulary(vectors, restrict_vocab: int) -> Vocabulary:
    """The first ``restrict_vocab`` words of a gensim KeyedVectors, normalised, with upper-case lookups."""
    keys = vectors.index_to_key[:restrict_vocab]
    matrix = np.asarray(vectors.vectors[: len(keys)], dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1)
    norms[norms == 0] = 1.0
    upper = [key.upper() for key in keys]
    index_of: dict[str, int] = {}
    for row, word in enumerate(upper):
        index_of.setdefault(word, row)  # the first (most frequent) spelling wins, as in gensim
    return Vocabulary(unit=matrix / norms[:, None], upper=upper, index_of=index_of)


def answer_analogies(
    vocabulary: Vocabulary,
    questions: Sequence[tuple[str, str, str]],
    progress: ProgressCallback | None = None,
    batch: int = BATCH,
) -> list[str]:
    """Answer ``a : b :: c : ?`` for each question (upper-cased words, all in the vocabulary).

    Returns:
        The predicted word of each question, upper-cased, in order.

    Example:
        >>> vocabulary = restricted_vocabulary(load_vectors("glove-6b-50d"), 300_000)
        >>> answer_analogies(vocabulary, [("MAN", "KING", "WOMAN")])
        ['QUEEN']
    """
    import torch  # its top-k is several times faster than numpy's argpartition over 300,000 columns

    predictions: list[str] = []
    unit = torch.from_numpy(vocabulary.unit)
    # The question words may take up to three of the top places: keep 5 + 3 candidates.
    keep = min(_CANDIDATES + 3, unit.shape[0])
    # One scores buffer for every batch: a fresh 150 MB block per batch cost more in page faults
    # (system time) than the product itself.
    scores = torch.empty(min(batch, max(len(questions), 1)), unit.shape[0])
    with torch.inference_mode():
        for start in range(0, len(questions), batch):
            chunk = questions[start : start + batch]
            rows = torch.tensor([[vocabulary.index_of[word] for word in question] for question in chunk])
            queries = unit[rows[:, 1]] + unit[rows[:, 2]] - unit[rows[:, 0]]
            queries /= queries.norm(dim=1, keepdim=True).clamp_min(1e-12)
            # The one big product: (chunk x dimension) @ (dimension x vocabulary), then the best few per row.
            block = scores[: len(chunk)]
            torch.matmul(queries, unit.T, out=block)
            top = torch.topk(block, keep, dim=1, sorted=True).indices.tolist()
            for question, candidates, asked in zip(chunk, top, rows.tolist()):
                allowed = [row for row in candidates if row not in asked][:_CANDIDATES]
                predictions.append(_first_new_word(vocabulary, allowed, set(question)))
            report(progress, min(start + batch, len(questions)), len(questions))
    return predictions


def _first_new_word(vocabulary: Vocabulary, candidates: list[int], question_words: set[str]) -> str:
    """gensim's pick: the first candidate whose upper-cased form is not a question word (else the last)."""
    predicted = ""
    for row in candidates:
        predicted = vocabulary.upper[row]
        if predicted not in question_words:
            break
    return predicted
