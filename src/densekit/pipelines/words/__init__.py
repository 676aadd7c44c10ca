"""Word vectors: train word2vec, load word2vec/GloVe files or packaged GloVe, ask for neighbours,
analogies and the odd one out, evaluate on standard sets, and plot the space.

Submodules import gensim, sklearn and matplotlib only when a function needs them.

Example:
    >>> from densekit.pipelines.words import load_vectors, analogy
    >>> analogy(load_vectors("glove-6b-50d"), positive=["king", "woman"], negative=["man"], n=1)
    [('queen', 0.852...)]
"""

from __future__ import annotations

from .corpus import SentenceStream, tokenize
from .evaluate import evaluate_analogies, evaluate_pairs, evaluate_vectors
from .plot import plot_words
from .queries import analogy, odd_one_out, parse_expression, similar_words
from .train import TrainingResult, train_word2vec
from .vectors import GLOVE_6B_50D, PACKAGED_NAMES, detect_format, from_arrays, load_vectors, save_vectors

__all__ = [
    "GLOVE_6B_50D",
    "PACKAGED_NAMES",
    "SentenceStream",
    "TrainingResult",
    "analogy",
    "detect_format",
    "evaluate_analogies",
    "evaluate_pairs",
    "evaluate_vectors",
    "from_arrays",
    "load_vectors",
    "odd_one_out",
    "parse_expression",
    "plot_words",
    "save_vectors",
    "similar_words",
    "tokenize",
    "train_word2vec",
]
