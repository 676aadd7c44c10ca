"""Plain metric functions: retrieval (recall, precision, MRR, nDCG), reading (EM, token F1), STS (Spearman).

Each retrieval metric scores one query; average them over queries yourself (``np.mean``), which
keeps every function trivial to check by hand and reusable in tests, benchmarks and the eval runner.
"""

from __future__ import annotations

import collections
import math
import re
import string
from typing import Collection, Hashable, Iterable, Sequence

import numpy as np

from ..errors import InvalidInputError


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _relevant_set(relevant: Iterable[Hashable]) -> set:
    if isinstance(relevant, (str, bytes)):
        # A lone string id would otherwise become a set of its characters.
        relevant = [relevant]
    found = set(relevant)
    if not found:
        raise InvalidInputError("relevant must hold at least one id; the metric is undefined without one")
    return found


def _top(ranked_ids: Sequence[Hashable], k: int) -> list:
    # Count each id once at its best rank: a retriever returning duplicates must not score twice.
    top, seen = [], set()
    for item in list(ranked_ids)[:k]:
        if item not in seen:
            seen.add(item)
            top.append(item)
        else:
            top.append(None)
    return top


def recall_at_k(ranked_ids: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Fraction of the relevant ids found among the first k results.

    Example:
        >>> recall_at_k([3, 1, 7], relevant={1, 9}, k=2)
        0.5
    """
    wanted = _relevant_set(relevant)
    found = sum(1 for item in _top(ranked_ids, _check_k(k)) if item in wanted)
    return found / len(wanted)


def precision_at_k(ranked_ids: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Fraction of the first k result slots that hold a relevant id (missing slots count as misses).

    Example:
        >>> precision_at_k([3, 1, 7], relevant={1, 9}, k=2)
        0.5
    """
    wanted = _relevant_set(relevant)
    size = _check_k(k)
    return sum(1 for item in _top(ranked_ids, size) if item in wanted) / size


def mrr_at_k(ranked_ids: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Reciprocal rank of the first relevant id within the first k results, else 0.

    Example:
        >>> mrr_at_k([3, 1, 7], relevant={1, 7}, k=3)
        0.5
    """
    wanted = _relevant_set(relevant)
    for rank, item in enumerate(_top(ranked_ids, _check_k(k)), start=1):
        if item in wanted:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked_ids: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Normalised discounted cumulative gain with binary relevance.

    DCG = sum over relevant hits at rank r (1-based, r <= k) of 1 / log2(r + 1); divided by the DCG
    of the ideal ranking, which puts min(k, len(relevant)) relevant ids first.

    Example:
        >>> round(ndcg_at_k([3, 1], relevant={1}, k=2), 4)  # 1/log2(3)
        0.6309
    """
    wanted = _relevant_set(relevant)
    size = _check_k(k)
    gain = sum(1.0 / math.log2(rank + 1) for rank, item in enumerate(_top(ranked_ids, size), start=1) if item in wanted)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(size, len(wanted)) + 1))
    return gain / ideal


# --- reading: SQuAD-style answer comparison ---------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower-case, drop punctuation and the articles a/an/the, collapse spaces.

    Example:
        >>> normalize_answer("The  Eiffel-Tower!")
        'eiffeltower'
    """
    text = text.lower()
    text = "".join(character for character in text if character not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _answers(answers: str | Sequence[str]) -> list[str]:
    items = [answers] if isinstance(answers, str) else list(answers)
    if not items:
        raise InvalidInputError("answers must hold at least one gold answer")
    for position, answer in enumerate(items):
        if not isinstance(answer, str):
            raise InvalidInputError(f"answer {position} is {type(answer).__name__}; expected a string")
    return items


def exact_match(prediction: str, answers: str | Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised gold answer, else 0.0.

    Example:
        >>> exact_match("the Beatles", ["Beatles", "The Fab Four"])
        1.0
    """
    predicted = normalize_answer(prediction)
    return float(any(predicted == normalize_answer(answer) for answer in _answers(answers)))


def _f1(prediction_tokens: list[str], answer_tokens: list[str]) -> float:
    if not prediction_tokens or not answer_tokens:
        # SQuAD's rule: two empty answers agree; one empty answer agrees with nothing.
        return float(prediction_tokens == answer_tokens)
    common = collections.Counter(prediction_tokens) & collections.Counter(answer_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(prediction_tokens)
    recall = overlap / len(answer_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, answers: str | Sequence[str]) -> float:
    """Best token-overlap F1 between the normalised prediction and any gold answer.

    Example:
        >>> round(token_f1("John Lennon", "Lennon"), 4)  # precision 1/2, recall 1/1
        0.6667
    """
    predicted = normalize_answer(prediction).split()
    return max(_f1(predicted, normalize_answer(answer).split()) for answer in _answers(answers))


# --- similarity -------------------------------------------------------------------------------


def spearman(predicted: Sequence[float] | np.ndarray, gold: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation in [-1, 1] (multiply by 100 for the STS convention).

    Example:
        >>> spearman([0.1, 0.5, 0.3], [1, 5, 2])
        1.0
    """
    from scipy.stats import spearmanr

    first = np.asarray(predicted, dtype=np.float64)
    second = np.asarray(gold, dtype=np.float64)
    if first.ndim != 1 or first.shape != second.shape:
        raise InvalidInputError(
            f"predicted and gold must be 1-D and the same length, got shapes {first.shape} and {second.shape}"
        )
    if first.shape[0] < 2:
        raise InvalidInputError(f"spearman needs at least 2 pairs, got {first.shape[0]}")
    if not (np.isfinite(first).all() and np.isfinite(second).all()):
        raise InvalidInputError("predicted and gold must not contain NaN or infinity")
    for name, values in (("predicted", first), ("gold", second)):
        if np.all(values == values[0]):
            raise InvalidInputError(f"{name} values are all equal ({values[0]}); the rank correlation is undefined")
    return float(spearmanr(first, second).statistic)
