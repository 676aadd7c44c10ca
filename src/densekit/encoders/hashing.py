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
#: Word vectors per block of the encoder's cache.
_BLOCK_ROWS = 4096


class HashingEncoder(Encoder):
    backend = "hashing"
    default_batch_size = 256

    def __init__(self, dimension: int = 64):
        if dimension < 2:
            raise InvalidInputError(f"hashing dimension must be >= 2, got {dimension}")
        self.dimension = dimension
        self.model_name = f"hashing:{dimension}"
        self.max_seq_length = 128
        # Each word's vector, computed once: row ``number % _BLOCK_ROWS`` of block ``number //
        # _BLOCK_ROWS``, by the word's number in ``_numbers``. Fixed blocks, never one array grown by
        # copying: a copy of tens of MB of freshly allocated memory held single adds for 0.3-1 s.
        self._numbers: dict[str, int] = {}
        self._blocks: list[np.ndarray] = []

    def _word_vector(self, word: str) -> np.ndarray:
        number = self._number(word)
        return self._blocks[number // _BLOCK_ROWS][number % _BLOCK_ROWS]

    def _number(self, word: str) -> int:
        number = self._numbers.get(word)
        if number is None:
            seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            number = len(self._numbers)
            if number == len(self._blocks) * _BLOCK_ROWS:
                self._blocks.append(np.zeros((_BLOCK_ROWS, self.dimension), dtype=np.float32))
            self._blocks[-1][number % _BLOCK_ROWS] = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
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
        # Word counts per text (duplicates summed) times the batch's word vectors: one sparse product.
        used, columns = np.unique(np.asarray(numbers, dtype=np.int64), return_inverse=True)
        blocks = used // _BLOCK_ROWS  # sorted, as ``used`` is: each block's rows in order
        rows = np.zeros((0, self.dimension), np.float32) if not used.size else np.concatenate(
            [self._blocks[block][used[blocks == block] % _BLOCK_ROWS] for block in np.unique(blocks)])
        counts = csr_matrix((np.ones(len(numbers), dtype=np.float32), columns.reshape(-1),
                             np.asarray(starts, dtype=np.int64)), shape=(len(texts), used.size))
        return np.asarray(counts @ rows, dtype=np.float32)
