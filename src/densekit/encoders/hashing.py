"""A deterministic, model-free encoder: each word hashes to a fixed random vector; a text is their sum.

It needs no weights and no torch, so tests of collection logic run in milliseconds, and texts that
share words land close together, which keeps search results meaningful enough to check.
Reference it as ``hashing`` (64 dimensions) or ``hashing:DIM``.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from ..errors import InvalidInputError
from .base import Encoder

_WORD = re.compile(r"\w+")


class HashingEncoder(Encoder):
    backend = "hashing"
    default_batch_size = 256

    def __init__(self, dimension: int = 64):
        if dimension < 2:
            raise InvalidInputError(f"hashing dimension must be >= 2, got {dimension}")
        self.dimension = dimension
        self.model_name = f"hashing:{dimension}"
        self.max_seq_length = 128
        # Each word's vector, computed once: a row of ``_rows`` by the word's number in ``_numbers``.
        self._numbers: dict[str, int] = {}
        self._rows = np.zeros((1024, dimension), dtype=np.float32)

    def _word_vector(self, word: str) -> np.ndarray:
        return self._rows[self._number(word)]

    def _number(self, word: str) -> int:
        number = self._numbers.get(word)
        if number is None:
            seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            number = len(self._numbers)
            if number == len(self._rows):
                self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
            self._rows[number] = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
            self._numbers[word] = number
        return number

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        from scipy.sparse import csr_matrix

        known = self._numbers.get
        numbers: list[int] = []
        starts = [0]
        for text in texts:
            # No word characters (e.g. only punctuation): still a stable, non-zero vector.
            words = _WORD.findall(text.lower()) or ["\x00" + text]
            numbers.extend([number if (number := known(word)) is not None else self._number(word) for word in words])
            starts.append(len(numbers))
        # Word counts per text (duplicates summed) times the word vectors: one sparse product per batch.
        counts = csr_matrix((np.ones(len(numbers), dtype=np.float32), np.asarray(numbers, dtype=np.int64),
                             np.asarray(starts, dtype=np.int64)), shape=(len(texts), len(self._numbers)))
        return np.asarray(counts @ self._rows[: len(self._numbers)], dtype=np.float32)
