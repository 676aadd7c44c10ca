"""The words BM25 sees: today's SparseIndex tokenization (bm25s') without bm25s' batch machinery."""

from __future__ import annotations

import re

from .errors import MissingDependencyError

_WORD = re.compile(r"(?u)\b\w\w+\b")  # bm25s' token pattern


def _stop_words() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN  # the 33-word Lucene list SparseIndex uses

    return frozenset(STOPWORDS_EN)


_STOP_WORDS = _stop_words()
#: The stop words ``words`` drops (public for sparse_counting, which must drop the same).
STOP_WORDS = _STOP_WORDS


def english_stemmer(stem: bool | None):
    """(language or None, stemmer or None): None stems when PyStemmer is installed, as SparseIndex does.

    Example:
        >>> language, stemmer = english_stemmer(False)  # (None, None)
    """
    try:
        import Stemmer
    except ImportError:
        if stem:
            raise MissingDependencyError("PyStemmer", "stemming in the sparse index") from None
        return None, None
    if stem is False:
        return None, None
    return "english", Stemmer.Stemmer("english")


def words(text: str, stemmer=None) -> list[str]:
    """Lowercased words of two or more word characters, stop words dropped, stemmed when asked.

    Example:
        >>> words("The Dogs are barking")
        ['dogs', 'barking']
    """
    found = [word for word in _WORD.findall(text.lower()) if word not in _STOP_WORDS]
    return stemmer.stemWords(found) if stemmer is not None and found else found
