"""Questions to a word-vector space: nearest words, analogies, the odd one out.

Words are looked up as given, then lower-cased (most vocabularies are lower case). A word that is
not in the vocabulary is an InvalidInputError that names it and suggests close spellings.
"""

from __future__ import annotations

import difflib
import re
from typing import Sequence

import numpy as np

from ...errors import InvalidInputError

# Spelling suggestions come from the most frequent words only: difflib over 400,000 GloVe words
# takes seconds, and a rare word is seldom the one the user meant.
_SUGGESTION_POOL = 50_000


def suggest(vectors, word: str, count: int = 3) -> list[str]:
    """Close spellings of ``word`` among the vocabulary's most frequent words (difflib)."""
    pool = vectors.index_to_key[:_SUGGESTION_POOL]
    return difflib.get_close_matches(word.lower(), pool, n=count, cutoff=0.7)


def resolve(vectors, words: Sequence[str]) -> list[str]:
    """Map each word to its vocabulary key (as given, else lower-cased).

    Raises InvalidInputError naming every unknown word with close spellings.
    """
    if isinstance(words, str):
        words = [words]
    resolved, missing = [], []
    for word in words:
        if word in vectors.key_to_index:
            resolved.append(word)
        elif word.lower() in vectors.key_to_index:
            resolved.append(word.lower())
        else:
            missing.append(word)
    if missing:
        parts = []
        for word in missing:
            close = suggest(vectors, word)
            hint = f" (did you mean: {', '.join(close)}?)" if close else ""
            parts.append(f"{word!r}{hint}")
        noun = "word" if len(missing) == 1 else "words"
        raise InvalidInputError(f"{noun} not in the vocabulary: {'; '.join(parts)}")
    return resolved


def _check_count(n: int) -> None:
    if n < 1:
        raise InvalidInputError(f"n must be >= 1, got {n}")


def similar_words(vectors, word: str, n: int = 10) -> list[tuple[str, float]]:
    """The n words nearest to ``word`` by cosine similarity, best first, the word itself excluded.

    Example:
        >>> similar_words(load_vectors("glove-6b-50d"), "frog", n=3)
        [('toad', 0.79), ('snake', 0.77), ...]
    """
    _check_count(n)
    (key,) = resolve(vectors, [word])
    return [(other, float(score)) for other, score in vectors.most_similar(key, topn=n)]


def analogy(
    vectors, positive: Sequence[str], negative: Sequence[str] = (), n: int = 5
) -> list[tuple[str, float]]:
    """Solve ``positive[0] - negative[0] + positive[1] ...`` by vector offset (3CosAdd), as gensim does.

    Any number of plus and minus terms; the input words never appear in the answer.

    Args:
        vectors: gensim KeyedVectors.
        positive: words added. negative: words subtracted.
        n: answers to return.

    Returns:
        (word, cosine similarity to the combined vector), best first.

    Example:
        >>> analogy(vectors, positive=["king", "woman"], negative=["man"], n=1)
        [('queen', 0.852)]
    """
    _check_count(n)
    if not positive:
        raise InvalidInputError("an analogy needs at least one positive word, e.g. king - man + woman")
    # One lookup for all terms, so an error names every unknown word at once.
    keys = resolve(vectors, list(positive) + list(negative))
    plus, minus = keys[: len(positive)], keys[len(positive) :]
    return [(word, float(score)) for word, score in vectors.most_similar(positive=plus, negative=minus, topn=n)]


def parse_expression(terms: Sequence[str] | str) -> tuple[list[str], list[str]]:
    """Split an expression like ``king - man + woman`` into (positive, negative) word lists.

    Terms may be separate arguments ("king", "-", "man", "+", "woman") or one string; the first
    word is positive unless preceded by "-".

    Example:
        >>> parse_expression("king - man + woman")
        (['king', 'woman'], ['man'])
    """
    text = (terms if isinstance(terms, str) else " ".join(terms)).strip()
    tokens = text.split()
    # With spaced operators ("new-york - city") a hyphen inside a word is part of the word;
    # otherwise ("king-man+woman") every + and - is an operator.
    if not any(token in ("+", "-") for token in tokens):
        tokens = re.findall(r"[+-]|[^+\-\s]+", text)
    positive: list[str] = []
    negative: list[str] = []
    sign = None
    for token in tokens:
        if token in ("+", "-"):
            if sign is not None:
                break
            sign = token
            continue
        (negative if sign == "-" else positive).append(token)
        sign = None
    else:
        if sign is None and positive:
            return positive, negative
    raise InvalidInputError(
        f"cannot read the analogy {text!r}; expected words joined by + and -, e.g. 'king - man + woman'"
    )


def odd_one_out(vectors, words: Sequence[str]) -> dict:
    """Find the word that fits least with the others: the one least similar to their mean.

    Same rule as gensim's ``doesnt_match``; also returns each word's similarity to the mean.

    Returns:
        {"odd": word, "similarity_to_mean": {word: cosine, ...}} (most central first).

    Example:
        >>> odd_one_out(vectors, ["breakfast", "cereal", "dinner", "lunch"])["odd"]
        'cereal'
    """
    if isinstance(words, str) or len(words) < 3:
        raise InvalidInputError(f"odd-one-out needs at least 3 words, got {list(words) if not isinstance(words, str) else [words]}")
    keys = resolve(vectors, list(words))
    unit = np.stack([vectors.get_vector(key, norm=True) for key in keys])
    mean = unit.mean(axis=0)
    mean /= np.linalg.norm(mean) or 1.0
    scores = unit @ mean
    ranked = sorted(zip(keys, scores.tolist()), key=lambda item: -item[1])
    return {"odd": ranked[-1][0], "similarity_to_mean": {word: float(score) for word, score in ranked}}
