"""The hashing encoder's word-vector cache grows in fixed blocks: a word's vector never moves once
made (no copy of the whole cache when it fills), and a text's vector is the sum of its words' seeded
vectors whatever the batch or the order words were first seen."""

from __future__ import annotations

import hashlib

import numpy as np

from densekit.encoders import hashing
from densekit.encoders.hashing import HashingEncoder


def seeded(word: str, dimension: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)


def test_blocks_already_made_stay_where_they_are_as_the_cache_grows():
    encoder = HashingEncoder(16)
    encoder.encode_batch([" ".join(f"w{n}" for n in range(hashing._BLOCK_ROWS))])
    first = encoder._blocks[0]
    encoder.encode_batch([" ".join(f"v{n}" for n in range(2 * hashing._BLOCK_ROWS))])
    assert len(encoder._blocks) == 3 and encoder._blocks[0] is first
    assert np.array_equal(encoder._word_vector("w7"), seeded("w7", 16))
    assert np.array_equal(encoder._word_vector(f"v{hashing._BLOCK_ROWS + 3}"), seeded(f"v{hashing._BLOCK_ROWS + 3}", 16))


def test_a_text_is_the_sum_of_its_words_whatever_came_before():
    texts = ["the owl and the river", "river stone", "!!!"] + [f"filler{n} word{n % 7}" for n in range(5000)]
    fresh, used = HashingEncoder(12), HashingEncoder(12)
    used.encode_batch([f"earlier{n}" for n in range(6000)])  # other words first: other numbers, other blocks
    together = fresh.encode_batch(texts)
    one_by_one = np.concatenate([used.encode_batch([text]) for text in texts[:50]])
    assert np.allclose(together[:50], one_by_one, atol=1e-6)
    expected = 2 * seeded("the", 12) + seeded("owl", 12) + seeded("and", 12) + seeded("river", 12)
    assert np.allclose(together[0], expected, atol=1e-6)
    assert np.allclose(together[2], seeded("\x00!!!", 12))
