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
        self._cache: dict[str, np.ndarray] = {}

    def _word_vector(self, word: str) -> np.ndarray:
        vector = self._cache.get(word)
        if vector is None:
            seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            vector = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
            self._cache[word] = vector
        return vector

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        output = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                output[row] += self._word_vector(word)
            if not output[row].any():
                # No word characters (e.g. only punctuation): still a stable, non-zero vector.
                output[row] = self._word_vector("\x00" + text)
        return output
