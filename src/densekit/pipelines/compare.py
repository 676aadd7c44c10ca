"""Sparse vs dense similarity of two or more texts, side by side: what word overlap sees and what an encoder sees.

Word counts miss synonyms ("hi" / "hello" share no word) and ignore word order (swapping the
giraffe and the dolphin changes nothing); a sentence encoder catches the first and notices the
second. Showing both numbers for the same pair makes the difference concrete.
"""

from __future__ import annotations

import collections
import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from ..encoders.base import Encoder
from ..errors import InvalidInputError

_WORD = re.compile(r"\w+")


def stop_words() -> frozenset[str]:
    """English stop words: the same list the BM25 sparse index drops (bm25s' list)."""
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (runs of letters, digits and underscores)."""
    return _WORD.findall(text.lower())


def bag_of_words_cosine(first: list[str], second: list[str]) -> float:
    """Cosine of the two word-count vectors; 0.0 when either has no words.

    Example:
        >>> bag_of_words_cosine(["a", "b"], ["b", "a"])
        1.0
    """
    counts_first, counts_second = collections.Counter(first), collections.Counter(second)
    if not counts_first or not counts_second:
        return 0.0
    dot = sum(count * counts_second[word] for word, count in counts_first.items())
    squares_first = sum(count * count for count in counts_first.values())
    squares_second = sum(count * count for count in counts_second.values())
    # One square root of an exact integer product: equal bags give exactly 1.0, not 0.9999999999999998.
    return dot / math.sqrt(squares_first * squares_second)


@dataclass(frozen=True)
class Comparison:
    """Both views of one text pair.

    Attributes:
        bag_of_words: cosine of word counts, every word kept (word order ignored).
        content_words: the same without stop words, so "the"/"to" overlap does not count.
        dense: cosine of the encoder's sentence vectors.
        shared_words: words in both texts, sorted.
        shared_content_words: shared words that are not stop words, sorted.
        model: the encoder's model name.
    """

    text_a: str
    text_b: str
    bag_of_words: float
    content_words: float
    dense: float
    shared_words: list[str]
    shared_content_words: list[str]
    model: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_texts(text_a: str, text_b: str, encoder: Encoder) -> Comparison:
    """Compare two texts by word overlap and by dense embedding.

    Args:
        text_a, text_b: non-empty texts.
        encoder: the dense encoder (vectors are L2-normalised, so their dot product is the cosine).
    Returns:
        Comparison.

    Example:
        >>> result = compare_texts("Bill ran from the giraffe towards the dolphin",
        ...                        "Bill ran from the dolphin towards the giraffe", encoder)
        >>> result.bag_of_words, round(result.dense, 2)
        (1.0, 0.97)
    """
    for name, text in (("text_a", text_a), ("text_b", text_b)):
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError(f"{name} must be a non-empty string, got {text!r}")
    words_a, words_b = words(text_a), words(text_b)
    ignored = stop_words()
    content_a = [word for word in words_a if word not in ignored]
    content_b = [word for word in words_b if word not in ignored]
    vectors = encoder.encode([text_a, text_b], normalize=True)
    shared = sorted(set(words_a) & set(words_b))
    return Comparison(
        text_a=text_a,
        text_b=text_b,
        bag_of_words=bag_of_words_cosine(words_a, words_b),
        content_words=bag_of_words_cosine(content_a, content_b),
        dense=float(vectors[0] @ vectors[1]),
        shared_words=shared,
        shared_content_words=[word for word in shared if word not in ignored],
        model=encoder.model_name,
    )


@dataclass(frozen=True)
class ComparisonMatrix:
    """Both views of every pair among N texts.

    Attributes:
        texts: the texts, in the order given.
        matrices: {"bag_of_words", "content_words", "dense"}: N x N cosine matrices (lists of lists).
        pairs: one Comparison per pair (i < j), in row order.
        model: the encoder's model name.
    """

    texts: list[str]
    matrices: dict[str, list[list[float]]]
    pairs: list[Comparison]
    model: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form: texts, model, matrices; two texts also keep the scalar fields of Comparison."""
        result: dict[str, Any] = {}
        if len(self.texts) == 2:
            result.update(self.pairs[0].as_dict())
        result.update(
            texts=self.texts,
            model=self.model,
            matrices=self.matrices,
            pairs=[pair.as_dict() for pair in self.pairs],
        )
        return result


def compare_many(texts: Sequence[str], encoder: Encoder) -> ComparisonMatrix:
    """Compare every pair among two or more texts by word overlap and by dense embedding.

    All texts are encoded in one batch; each pair's numbers equal ``compare_texts`` on that pair.

    Args:
        texts: two or more non-empty texts.
        encoder: the dense encoder.
    Returns:
        ComparisonMatrix.

    Example:
        >>> result = compare_many(["hi", "hello", "hey"], encoder)
        >>> result.matrices["bag_of_words"][0][1], round(result.matrices["dense"][0][1], 2)
        (0.0, 0.81)
    """
    if isinstance(texts, str) or len(texts) < 2:
        raise InvalidInputError(f"compare needs at least two texts, got {[texts] if isinstance(texts, str) else list(texts)}")
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            name = ("text_a", "text_b")[index] if index < 2 else f"text {index + 1}"
            raise InvalidInputError(f"{name} must be a non-empty string, got {text!r}")
    texts = list(texts)
    ignored = stop_words()
    tokens = [words(text) for text in texts]
    content = [[word for word in row if word not in ignored] for row in tokens]
    vectors = encoder.encode(texts, normalize=True)
    dense = np.clip(vectors @ vectors.T, -1.0, 1.0)
    count = len(texts)
    bag = np.eye(count)
    content_matrix = np.eye(count)
    pairs = []
    for first in range(count):
        for second in range(first + 1, count):
            shared = sorted(set(tokens[first]) & set(tokens[second]))
            pair = Comparison(
                text_a=texts[first],
                text_b=texts[second],
                bag_of_words=bag_of_words_cosine(tokens[first], tokens[second]),
                content_words=bag_of_words_cosine(content[first], content[second]),
                dense=float(vectors[first] @ vectors[second]),
                shared_words=shared,
                shared_content_words=[word for word in shared if word not in ignored],
                model=encoder.model_name,
            )
            pairs.append(pair)
            bag[first, second] = bag[second, first] = pair.bag_of_words
            content_matrix[first, second] = content_matrix[second, first] = pair.content_words
    for index in range(count):  # a text with no (content) words matches nothing, itself included
        bag[index, index] = 1.0 if tokens[index] else 0.0
        content_matrix[index, index] = 1.0 if content[index] else 0.0
    return ComparisonMatrix(
        texts=texts,
        matrices={
            "bag_of_words": np.round(bag, 6).tolist(),
            "content_words": np.round(content_matrix, 6).tolist(),
            "dense": np.round(dense, 6).tolist(),
        },
        pairs=pairs,
        model=encoder.model_name,
    )
