"""Sentence vectors from word vectors: the mean of a text's word vectors, optionally SIF-weighted.

The classic pre-transformer baseline (and the one STS evaluation compares with). SIF (Arora et
al. 2017, "smooth inverse frequency") weights each word by a / (a + p(word)), so frequent words
like "the" count for little. Word probabilities come from the vectors' training counts, or a Zipf
estimate from frequency rank when the file has none (see densekit/word_vectors.py).
Reference it as ``words:<vectors>`` (mean) or ``words:<vectors>:sif``, where <vectors> is
a vectors file or ``glove-6b-50d``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError
from .base import Encoder

WEIGHTINGS = ("mean", "sif")
PREFIX = "words:"
_TOKEN = re.compile(r"[^\W_]+")


class WordAverageEncoder(Encoder):
    """Encode a text as the (SIF-)weighted mean of its word vectors; words not in the vocabulary are
    ignored, and a text with no known word gets the zero vector.

    Args:
        vectors: a vectors file, a packaged name ("glove-6b-50d"), or a loaded gensim KeyedVectors.
        weighting: "mean" (plain average) or "sif" (smooth inverse frequency weights).
        sif_a: the SIF smoothing constant a (1e-3 in the paper).
        name: how ``model_name`` refers to in-memory vectors (files use their absolute path).

    Example:
        >>> encoder = WordAverageEncoder("glove-6b-50d", weighting="sif")
        >>> encoder.encode(["a cat sat", "a dog sat"]).shape
        (2, 50)
    """

    backend = "words"
    default_batch_size = 512

    def __init__(self, vectors="glove-6b-50d", weighting: str = "mean", sif_a: float = 1e-3, name: str | None = None):
        from ..word_vectors import PACKAGED_NAMES, load_vectors, word_counts

        if weighting not in WEIGHTINGS:
            raise InvalidInputError(f"unknown weighting {weighting!r}; valid: {', '.join(WEIGHTINGS)}")
        if sif_a <= 0:
            raise InvalidInputError(f"sif_a must be > 0, got {sif_a}")
        if isinstance(vectors, (str, os.PathLike)):
            reference = str(vectors)
            if reference.lower() not in PACKAGED_NAMES:
                reference = str(Path(reference).expanduser().resolve())
            self.vectors = load_vectors(vectors)
        else:
            reference = name or "in-memory"
            self.vectors = vectors
        self.weighting = weighting
        self.sif_a = sif_a
        self.dimension = int(self.vectors.vector_size)
        self.model_name = PREFIX + reference + (":sif" if weighting == "sif" else "")
        self.max_seq_length = None
        if weighting == "sif":
            counts = word_counts(self.vectors).astype(np.float64)
            probabilities = counts / counts.sum()
            self._weights = (sif_a / (sif_a + probabilities)).astype(np.float32)
        else:
            self._weights = np.ones(len(self.vectors.index_to_key), dtype=np.float32)

    @classmethod
    def from_reference(cls, reference: str) -> "WordAverageEncoder":
        """Build the encoder a ``model_name`` refers to: ``words:<vectors>`` or ``words:<vectors>:sif``."""
        if not reference.startswith(PREFIX) or len(reference) == len(PREFIX):
            raise InvalidInputError(
                f"word-vector encoder reference {reference!r} must look like 'words:<vectors file or "
                "glove-6b-50d>' or 'words:<vectors>:sif'"
            )
        body = reference[len(PREFIX) :]
        weighting = "mean"
        if body.endswith(":sif"):
            body, weighting = body[: -len(":sif")], "sif"
        return cls(body, weighting=weighting)

    def _indices(self, text: str) -> list[int]:
        lookup = self.vectors.key_to_index
        indices = []
        for token in _TOKEN.findall(text):
            # Lower case first (most vocabularies are), then the token as written (cased vocabularies).
            index = lookup.get(token.lower(), lookup.get(token))
            if index is not None:
                indices.append(index)
        return indices

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        output = np.zeros((len(texts), self.dimension), dtype=np.float32)
        matrix = self.vectors.vectors
        for row, text in enumerate(texts):
            indices = self._indices(text)
            if indices:
                weights = self._weights[indices]
                output[row] = weights @ matrix[indices] / len(indices)
        return output

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [match.span() for match in _TOKEN.finditer(text)]

    def info(self):
        extra = {"weighting": self.weighting, **({"sif_a": self.sif_a} if self.weighting == "sif" else {})}
        return dataclasses.replace(super().info(), extra=extra)
