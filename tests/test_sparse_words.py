"""sparse_words: the same words bm25s (today's SparseIndex) produces, and the PyStemmer guard."""

import sys

import bm25s
import pytest

from densekit.errors import MissingDependencyError
from densekit.sparse_words import english_stemmer, words

TEXTS = [
    "The Quick brown fox -- jumps over the lazy dog's back!",
    "Żółw and Ölfass: naïve café, 3 apples, x2 and 42 items; e-mail_addresses_like_this",
    "It is not what it was, no: such is THEIR way",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_words_equal_bm25s_tokens(text):
    expected = bm25s.tokenize([text], stopwords="en", return_ids=False, show_progress=False)
    assert words(text) == (expected[0] if expected else [])


def test_missing_pystemmer_is_named_only_when_stemming_is_required(monkeypatch):
    monkeypatch.setitem(sys.modules, "Stemmer", None)  # as if PyStemmer were not installed
    assert english_stemmer(None) == (None, None)
    assert english_stemmer(False) == (None, None)
    with pytest.raises(MissingDependencyError, match="PyStemmer"):
        english_stemmer(True)


@pytest.mark.skipif(english_stemmer(None)[1] is None, reason="PyStemmer is not installed")
@pytest.mark.parametrize("text", TEXTS)
def test_stemmed_words_equal_bm25s_tokens(text):
    _, stemmer = english_stemmer(True)
    expected = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)
    assert words(text, stemmer) == (expected[0] if expected else [])
