"""word_spans gives exactly the spans of the regex it replaces, on any text."""

import random
import re

import pytest

from densekit.encoders.hashing import HashingEncoder
from densekit.encoders.word_spans import word_spans

PATTERN = re.compile(r"\w+|[^\w\s]")
POOL = "ab_Z9 \t\n\r\x0b\x0c\u00a0\u2028\u3000.,!?é日本\u0301\ud800\udfff\U0001F600İΣς-'\x00\u200b\u0660"


@pytest.mark.parametrize("text", ["", " ", "a", "..", "a.b", "Hi, you!", "\ud800x", "x\U0001F600y", "  lead and trail  ",
                                  "don't stop-me_now 3.14\u00a0km", "日本語のテキスト。", "e\u0301te\u0301"])
def test_spans_equal_the_regex(text):
    assert word_spans(text) == [match.span() for match in PATTERN.finditer(text)]


def test_spans_equal_the_regex_on_random_unicode():
    rng = random.Random(3)
    for _ in range(3000):
        text = "".join(rng.choice(POOL) for _ in range(rng.randint(0, 60)))
        assert word_spans(text) == [match.span() for match in PATTERN.finditer(text)], repr(text)


def test_the_hashing_encoder_chunks_with_them():
    text = "The river runs. It bends, then it (slowly) widens; boats pass."
    assert HashingEncoder(8).token_spans(text) == [match.span() for match in PATTERN.finditer(text)]
